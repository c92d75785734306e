"""benchmarks/train_wall.py on a tiny encoder and five sentences: the record and its checks."""

import json
import subprocess
import sys
from pathlib import Path

from samples import write_training_config

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "train_wall.py"


def _config(folder: Path, encoder: Path) -> Path:
    train = "epochs = 3\neval_every = 1\nneg_entity_count = 10\nneg_relation_count = 10"
    return write_training_config(folder, encoder, train, sizes=(5, 2, 3))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )


def test_train_wall_times_the_whole_run_and_records_it(tiny_bert_dir, tmp_path):
    config, out, run_dir = _config(tmp_path, tiny_bert_dir), tmp_path / "wall.json", tmp_path / "r"
    done = _run(str(config), "--threads", "1", "--set", "train.epochs=2", "--run-dir",
                str(run_dir), "--output", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert record["benchmark"] == "train_wall" and record["commit"] and record["command"]
    assert record["hardware"]["cpu"] and record["hardware"]["torch_threads"] == 1
    assert record["versions"]["torch"] and record["overrides"] == ["train.epochs=2"]
    # the override reached the run: 2 epochs, each scored on dev
    assert record["epochs"] == 2 and record["dev_evaluations"] == 2
    assert record["precisions"] == ["fp32"]
    assert 0 < record["logged_train_seconds"] <= record["wall_s"]
    assert record["peak_rss_mb"] > 0
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"]["threads"] == 1 and saved["train"]["epochs"] == 2
    for split in ("dev", "test"):
        f1 = record[split]["relation_strict_micro_f1"]
        assert f1 is not None and 0 <= f1 <= 100
    assert "2 epochs in" in done.stdout


def test_train_wall_names_a_failed_training(tiny_bert_dir, tmp_path):
    config = _config(tmp_path, tiny_bert_dir)
    done = _run(str(config), "--set", "train.no_such_key=1", "--output", str(tmp_path / "o.json"))
    assert done.returncode != 0
    assert "spertmt train failed" in done.stderr and "no_such_key" in done.stderr
    assert not (tmp_path / "o.json").exists()
    missing = _run(str(tmp_path / "absent.toml"))
    assert missing.returncode == 2 and "absent.toml: no such config file" in missing.stderr
