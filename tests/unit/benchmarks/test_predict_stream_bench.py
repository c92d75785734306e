"""benchmarks/predict_stream.py with a tiny checkpoint and tiny inputs: every field, the check."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_predict_stream_writes_its_record(eager_checkpoint, tmp_path):
    out = tmp_path / "predict_stream.json"
    command = [
        sys.executable, str(ROOT / "benchmarks" / "predict_stream.py"), "--model",
        str(eager_checkpoint), "--sizes", "20,60", "--formats", "jsonl", "--out", str(out),
        "--max-growth", "2",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert record["benchmark"] == "predict_stream" and record["git_commit"]
    assert record["hardware"]["cpu"] and "cpu_flags" in record["hardware"]
    assert record["versions"]["torch"] and record["command"]
    assert [(r["input_format"], r["documents"]) for r in record["runs"]] == [
        ("jsonl", 20),
        ("jsonl", 60),
    ]
    for run in record["runs"]:
        assert run["peak_rss_mb"] > 0 and run["output_documents"] == run["documents"]
        assert run["predict_documents_per_s"] > 0
    assert record["targets"]["bounded"] is True
    assert set(record["targets"]["rss_growth_smallest_to_largest"]) == {"jsonl"}
