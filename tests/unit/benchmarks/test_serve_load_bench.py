"""benchmarks/serve_load.py --quick with a tiny checkpoint: two real servers, every field."""

import json
import sys
from pathlib import Path

import pytest
import torch
from samples import TYPES, build_model

from spertmt.model.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[3]

FIELDS = [
    "benchmark",
    "command",
    "git_commit",
    "hardware.cpu",
    "hardware.cpu_flags",
    "hardware.torch_threads",
    "server_threads",
    "versions.torch",
    "config.clients",
    "config.requests_per_client",
    "config.mix_per_20",
    "config.modes",
    "targets.no_5xx",
    "targets.rss_growth_ok",
    "targets.p99_gain_small_valid",
    "targets.p99_gain_ok",
]
MODE_FIELDS = [
    "requests",
    "wall_s",
    "requests_per_s",
    "statuses",
    "server_errors_5xx",
    "latency_small_valid.p50_ms",
    "latency_small_valid.p99_ms",
    "latency_large_valid.p99_ms",
    "memory.rss_growth",
    "memory.peak_mb",
]
ROUND_FIELDS = [
    "server_command",
    "server_info.limits.max_body_bytes",
    "server_info.batching.max_requests",
    "requests",
    "statuses",
    "latency_small_valid.p99_ms",
    "memory.rss_before_mb",
    "memory.rss_after_mb",
    "memory.rss_growth",
    "slow_heads.closed_by_server",
    "healthy_after",
    "load_average_1min.before",
]


def _get(record, dotted):
    value = record
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"missing field {dotted}"
        value = value[part]
    return value


@pytest.fixture(scope="module")
def serve_load():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import serve_load

        yield serve_load
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_quick_run_records_every_number(serve_load, tiny_bert_dir, tmp_path):
    # A random model biased towards "no entity": small answers, as a trained model gives.
    model, tokenizer = build_model(tiny_bert_dir)
    with torch.no_grad():
        model.entity_classifier.bias[0] += 1.0
    checkpoint = save_checkpoint(
        tmp_path / "model", model, tokenizer, types=TYPES, model_config=model.config
    )
    output = tmp_path / "serve_load.json"
    args = ["--quick", "--model", str(checkpoint), "--threads", "1", "--output", str(output)]
    args += ["--clients", "3", "--body-timeout", "0.5", "--header-timeout", "0.5"]
    assert serve_load.main(args) == output
    record = json.loads(output.read_text(encoding="utf-8"))
    for dotted in FIELDS:
        _get(record, dotted)
    assert set(record["modes"]) == {"batching", "no_batching"}
    assert record["config"]["clients"] == 3 and record["config"]["rounds"] == 1
    for mode in record["modes"].values():
        for dotted in MODE_FIELDS:
            _get(mode, dotted)
        for summary in mode["rounds"]:
            for dotted in ROUND_FIELDS:
                _get(summary, dotted)
            # every kind of request got the answer it should, and nothing crashed
            assert summary["unexpected_statuses"] == {}, summary["statuses"]
            assert summary["slow_heads"]["closed_by_server"] == summary["slow_heads"]["sockets"]
            assert summary["healthy_after"] is True
        assert mode["server_errors_5xx"] == 0 and mode["tracebacks_in_log"] == 0
        assert mode["statuses"]["slow_body"] == {"408": 3}
        assert mode["statuses"]["oversized"] == {"413": 3}
    assert record["modes"]["no_batching"]["max_batch_requests"] == 1
