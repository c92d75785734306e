"""BatchPredictor (issue 18): a batch of rows in, the rows ``spertmt predict`` writes out; on a
local Ray cluster with 2 CPU workers, every document comes out exactly once, as predicted by
``spertmt predict``."""

import json
import os
import subprocess
import sys

import pytest

from spertmt.cli import main
from spertmt.errors import InputError
from spertmt.inference.batches import BatchPredictor

WORDS = ["John", "Anna", "lives", "in", "Paris", "Rome", "and", "works", "for", "Acme", "."]


def corpus(path, count):
    rows = [
        {"tokens": [WORDS[(i + j) % len(WORDS)] for j in range(2 + i % 3)], "orig_id": i}
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return rows


def predicted_lines(eager_checkpoint, source, out):
    args = ["predict", "--model", str(eager_checkpoint), str(source), "-o", str(out), "-q"]
    assert main([*args, "--batch-size", "1"]) == 0
    return out.read_text(encoding="utf-8").splitlines()


def test_a_batch_of_columns_gives_the_lines_of_spertmt_predict(eager_checkpoint, tmp_path):
    rows = corpus(tmp_path / "in.jsonl", 12)
    expected = predicted_lines(eager_checkpoint, tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    predict = BatchPredictor(eager_checkpoint, batch_size=1, device="cpu")
    out = predict({"tokens": [r["tokens"] for r in rows], "orig_id": [r["orig_id"] for r in rows]})
    assert out["orig_id"] == list(range(12)) and out["prediction"] == expected
    texts = predict({"text": ["John lives in Paris.", "Anna works for Acme."], "id": [3, 4]})
    assert texts["orig_id"] == [None, None]
    assert [json.loads(p)["text"] for p in texts["prediction"]] == [
        "John lives in Paris.",
        "Anna works for Acme.",
    ]
    assert predict({"tokens": [], "orig_id": []}) == {"orig_id": [], "prediction": []}
    with pytest.raises(InputError, match=r"\[E501\].*no 'tokens' column"):
        BatchPredictor(eager_checkpoint, input_column="tokens")({"words": [["a"]]})


def test_a_pandas_frame_gives_a_frame(eager_checkpoint, tmp_path):
    pandas = pytest.importorskip("pandas")
    rows = corpus(tmp_path / "in.jsonl", 5)
    expected = predicted_lines(eager_checkpoint, tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    out = BatchPredictor(eager_checkpoint, batch_size=1, device="cpu")(pandas.DataFrame(rows))
    assert list(out.columns) == ["orig_id", "prediction"]
    assert out["orig_id"].tolist() == list(range(5)) and out["prediction"].tolist() == expected


RAY_SCRIPT = """
import json, sys
import ray
from spertmt.inference.batches import BatchPredictor

source, model, target = sys.argv[1:4]
# Logical CPUs: the two actors take one each, the reading tasks the others.
ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
predictions = ray.data.read_json(source).map_batches(
    BatchPredictor,
    fn_constructor_kwargs={"model_dir": model, "batch_size": 1, "device": "cpu"},
    batch_size=100,
    concurrency=2,
    num_cpus=1,
)
rows = [
    {"orig_id": int(row["orig_id"]), "prediction": row["prediction"]}
    for row in predictions.take_all()
]
ray.shutdown()
with open(target, "w", encoding="utf-8") as handle:
    json.dump(rows, handle)
"""


def test_ray_data_with_two_workers_predicts_every_document_once(eager_checkpoint, tmp_path):
    """In a process of its own, so that a stuck cluster fails the test instead of hanging it."""
    pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    count = 2000
    source = tmp_path / "corpus.jsonl"
    corpus(source, count)
    expected = predicted_lines(eager_checkpoint, source, tmp_path / "out.jsonl")
    target = tmp_path / "rows.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", RAY_SCRIPT, str(source), str(eager_checkpoint), str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(target.read_text(encoding="utf-8"))
    ids = [row["orig_id"] for row in rows]
    assert sorted(ids) == list(range(count))  # every document out exactly once
    by_id = {row["orig_id"]: row["prediction"] for row in rows}
    assert [by_id[i] for i in range(count)] == expected  # as spertmt predict wrote them
