"""benchmarks/speed.py --quick with a tiny random encoder: every field of the result file."""

import json
import sys
from pathlib import Path

import pytest
import torch
from samples import TYPES, build_model

from spertmt.model.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[3]

SENTENCES = [
    "John Smith lives in Paris .",
    "Anna Jones moved to Rome last year , where she works for the city .",
    "Bob met Carol near Lyon .",
    "The mayor of Berlin spoke to reporters in Munich on Friday .",
    "Tokyo is big .",
]

# Every field the result file must hold (dotted paths); the test fails when one is missing.
FIELDS = [
    "benchmark",
    "command",
    "quick",
    "config.batch_sizes",
    "config.repeats",
    "config.train_config",
    "config.target_ratio_batch32",
    "model.encoder",
    "model.untrained",
    "model.model_config",
    "encoder",
    "device",
    "threads",
    "cpu_model",
    "versions.torch",
    "versions.transformers",
    "versions.onnxruntime",
    "versions.spertmt",
    "git_commit",
    "data.sentences",
    "data.words",
    "encoder_only.1.sentences_per_s",
    "encoder_only.8.sentences_per_s",
    "encoder_only.32.sentences_per_s",
    "encoder_only.32.batches",
    "end_to_end.tokens.1.sentences_per_s",
    "end_to_end.tokens.8.sentences_per_s",
    "end_to_end.tokens.32.sentences_per_s",
    "end_to_end.text.1.sentences_per_s",
    "end_to_end.text.8.sentences_per_s",
    "end_to_end.text.32.sentences_per_s",
    "ratio.tokens.1",
    "ratio.tokens.8",
    "ratio.tokens.32",
    "ratio.text.32",
    "meets_target_ratio",
    "scaling.length",
    "scaling.entities",
    "variants.float.end_to_end_tokens.sentences_per_s",
    "variants.quantize.end_to_end_tokens.sentences_per_s",
    "variants.quantize.encoder_only.sentences_per_s",
    "variants.quantize.speedup_vs_float",
    "variants.quantize.runtime",
    "variants.onnx.end_to_end_tokens.sentences_per_s",
    "variants.onnx.encoder_only.sentences_per_s",
    "variants.onnx.speedup_vs_float",
    "variants.onnx.export_max_abs_diff",
    "accuracy.float.entity_micro_f1",
    "accuracy.float.relation_strict_micro_f1",
    "accuracy.quantize.entity_micro_f1",
    "accuracy.quantize.relation_strict_micro_f1",
    "accuracy.quantize_minus_float.relation_strict_micro_f1",
    "accuracy.onnx.relation_strict_micro_f1",
    "training.sentences_per_s",
    "training.sentences",
    "training.peak_rss_mb",
    "training.epochs_fraction",
    "memory.prediction.peak_rss_mb",
    "memory.training.peak_rss_mb",
    "profile.top_self_cpu",
    "profile.stage_cpu_total_ms",
    "wall_seconds",
    "finished",
]


def _get(record, dotted):
    value = record
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"missing field {dotted}"
        value = value[part]
    return value


@pytest.fixture(scope="module")
def speed_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import speed

        yield speed
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def quick_run(speed_module, tiny_bert_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("speed")
    # A random model biased towards "no entity": few predictions, as a trained model makes.
    model, tokenizer = build_model(tiny_bert_dir)
    with torch.no_grad():
        model.entity_classifier.bias[0] += 1.0
    checkpoint = save_checkpoint(
        folder / "model", model, tokenizer, types=TYPES, model_config=model.config
    )
    data = folder / "test.json"
    docs = [
        {"tokens": s.split(), "entities": [{"type": "Peop", "start": 0, "end": 1}], "relations": []}
        for s in SENTENCES * 4
    ]
    data.write_text(json.dumps(docs), encoding="utf-8")
    types = folder / "types.json"
    types.write_text(json.dumps(TYPES.to_dict()), encoding="utf-8")
    output = folder / "results" / "speed_tiny_cpu.json"
    summary = folder / "results.md"
    summary.write_text("# Measured results\n\n| accuracy table |\n", encoding="utf-8")
    threads = torch.get_num_threads()
    try:
        speed_module.main(
            [
                "--quick",
                "--quiet",
                "--profile",
                # One thread: the smoke test must stay fast on a busy machine.
                "--threads",
                "1",
                "--model",
                str(checkpoint),
                "--data",
                str(data),
                "--types",
                str(types),
                "--set",
                f"model.encoder={json.dumps(str(tiny_bert_dir))}",
                "--set",
                f"data.train={json.dumps(str(data))}",
                "--set",
                f"data.types={json.dumps(str(types))}",
                "--set",
                "model.max_span_width=4",
                "--output",
                str(output),
                "--summary",
                str(summary),
                "--results-dir",
                str(output.parent),
            ]
        )
    finally:
        torch.set_num_threads(threads)
    return output, summary


def test_quick_run_writes_every_field(quick_run):
    output, _ = quick_run
    record = json.loads(output.read_text(encoding="utf-8"))
    for field in FIELDS:
        _get(record, field)
    assert record["quick"] is True and record["device"] == "cpu"
    assert record["threads"] == 1
    for bs in ("1", "8", "32"):
        assert record["encoder_only"][bs]["sentences_per_s"] > 0
        assert record["end_to_end"]["tokens"][bs]["sentences_per_s"] > 0
        assert record["ratio"]["tokens"][bs] > 0
    assert record["data"]["sentences"] == 16  # --quick: the first 16 sentences
    assert [row["words"] for row in record["scaling"]["length"]] == [10, 50]
    entities = record["scaling"]["entities"]
    assert [row["pairs_per_sentence"] for row in entities] == [2, 56]
    assert all(0 <= row["pair_stage_share"] <= 1 for row in entities)
    assert all(row["pair_stage_share"] > 0 for row in entities)
    assert record["variants"]["quantize"]["runtime"] == "torch-int8"
    assert record["variants"]["onnx"]["runtime"] == "onnxruntime"
    assert record["variants"]["onnx"]["export_max_abs_diff"] < 1e-4
    assert record["training"]["sentences"] > 0 and record["training"]["peak_rss_mb"] > 0
    prediction = record["memory"]["prediction"]
    assert prediction["peak_rss_mb"] >= prediction["rss_after_load_mb"] > 0
    # Each process has its own peak (not the parent's, which ru_maxrss would inherit).
    assert record["training"]["peak_rss_mb"] >= record["training"]["rss_after_load_mb"] > 0
    assert len(record["profile"]["top_self_cpu"]) == 15
    assert {"spertmt.encoder", "spertmt.entities", "spertmt.pairs"} <= set(
        record["profile"]["stage_cpu_total_ms"]
    )


def test_quick_runs_stay_out_of_the_summary(speed_module, quick_run, tmp_path):
    output, summary = quick_run
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# Measured results\n\n| accuracy table |\n")
    assert "## Speed" in text and "No speed measurement" in text
    # A full (non-quick) record is summarised; regenerating replaces the section, once.
    record = json.loads(output.read_text(encoding="utf-8"))
    record["quick"] = False
    (tmp_path / "speed_tiny_cpu.json").write_text(json.dumps(record), encoding="utf-8")
    speed_module.write_speed_summary(summary, tmp_path)
    speed_module.write_speed_summary(summary, tmp_path)
    text = summary.read_text(encoding="utf-8")
    assert text.count("## Speed") == 1
    assert "| accuracy table |" in text
    assert "### tiny" in text or "speed_tiny_cpu.json" in text
    assert "| 32 |" in text
