"""benchmarks/train_speed.py: its options and the summary of a record."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import train_speed  # noqa: E402


def test_prediction_only_needs_a_model(capsys):
    with pytest.raises(SystemExit):
        train_speed.parse_args(["--prediction-only"])
    assert "give the model with --model" in capsys.readouterr().err
    args = train_speed.parse_args(["--prediction-only", "--model", "runs/x/model"])
    assert args.prediction_only and args.model == Path("runs/x/model")


def test_the_summary_shows_every_prediction_arithmetic():
    speed = {"sentences_per_s": 100.0, "entity_f1": 80.0, "relation_strict_f1": 60.0}
    record = {
        "hardware": {"cpu": "A CPU", "cpu_flags": ["avx512_bf16"]},
        "threads": 2,
        "commit": "0123456789abcdef",
        "settings": {},
        "prediction": {
            "model": "m",
            "data": "conll04:test",
            "fp32": speed,
            "bf16": {"skipped": "no native bf16 (a CPU)"},
            "int8": {**speed, "sentences_per_s": 150.0},
            "int8+bf16": {**speed, "sentences_per_s": 200.0},
        },
    }
    text = train_speed.summary(record)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert "skipped: no native bf16" in rows["bf16"]
    assert "200.0" in rows["int8+bf16"] and "150.0" in rows["int8"]


def test_cuda_on_a_machine_without_it_is_a_clear_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match=r"--device.*CUDA is not available"):
        train_speed.run(train_speed.parse_args(["--device", "cuda", "--threads", "1"]))


def test_a_gpu_run_passes_the_device_skips_int8_and_is_named_after_the_gpu(monkeypatch, tmp_path):
    import spertmt.runtime.devices as devices

    monkeypatch.setattr(devices, "resolve_device", lambda device, key: device)
    monkeypatch.setattr(train_speed, "bf16_native", lambda device: (True, "bf16 on A GPU"))
    monkeypatch.setattr(
        train_speed, "hardware", lambda: {"cpu": "A CPU", "cpu_flags": [], "gpu": "Acme X100 80GB"}
    )
    monkeypatch.setattr(train_speed, "git_commit", lambda: "0" * 40)
    monkeypatch.setattr(train_speed, "RESULTS", tmp_path)
    specs = []

    def fake_child(kind, spec, threads):
        specs.append((kind, spec))
        if kind == "predict":
            return {"sentences_per_s": 500.0, "entity_f1": 80.0, "relation_strict_f1": 60.0}
        return {
            "precision": "bf16",
            "batch_size": 8,
            "sentences_per_s": 100.0,
            "epoch_seconds": 9.2,
            "peak_rss_mb": 900.0,
            "peak_gpu_mb": 1500.0,
            "phase_share": dict.fromkeys(train_speed.PHASES, 0.1),
        }

    monkeypatch.setattr(train_speed, "_in_child", fake_child)
    args = ["--device", "cuda", "--threads", "1", "--settings", "spert", "fast", "--model", "m"]
    out = train_speed.run(train_speed.parse_args(args))
    assert out == tmp_path / "train_speed_acme-x100-80gb.json"
    assert all(spec["device"] == "cuda" for _, spec in specs)
    assert [(k, s.get("quantize")) for k, s in specs if k == "predict"] == [
        ("predict", False),
        ("predict", False),
    ]
    record = json.loads(out.read_text())
    assert record["device"] == "cuda"
    assert record["prediction"]["int8"] == {"skipped": "int8 is a CPU runtime"}
    text = train_speed.summary(record)
    assert "on Acme X100 80GB" in text and "900 (GPU 1500)" in text


def test_the_phase_timer_waits_for_the_device_before_reading_the_clock():
    calls = []
    timer = train_speed.PhaseTimer(sync=lambda: calls.append("sync"))

    class Owner:
        def step(self):
            calls.append("step")

    owner = Owner()
    timer.wrap(owner, "step", "optimizer")
    owner.step()  # timer off: neither timed nor synchronised
    timer.on = True
    owner.step()
    assert calls == ["step", "step", "sync"]
    assert timer.seconds["optimizer"] > 0.0


def test_a_gpu_profile_ranks_operators_by_their_gpu_time():
    events = [
        SimpleNamespace(key="launch", count=9, self_cpu_time_total=9000, self_device_time_total=0),
        SimpleNamespace(key="gemm", count=3, self_cpu_time_total=100, self_device_time_total=3000),
    ]
    prof = SimpleNamespace(key_averages=lambda: events)
    gpu = train_speed._top_ops(prof, 2, on_gpu=True)
    assert [(r["op"], r["self_gpu_ms"], r["share"]) for r in gpu] == [
        ("gemm", 3.0, 1.0),
        ("launch", 0.0, 0.0),
    ]
    assert [r["op"] for r in train_speed._top_ops(prof, 2)] == ["launch", "gemm"]
