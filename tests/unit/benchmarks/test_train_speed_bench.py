"""benchmarks/train_speed.py: its options and the summary of a record."""

import sys
from pathlib import Path

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
