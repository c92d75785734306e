"""benchmarks/precision_accuracy.py: every arithmetic scored per model, changes against fp32."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from samples import TYPES

from spertmt.schema import Document, Entity, Relation

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import precision_accuracy  # noqa: E402


def test_two_models_are_scored_in_every_arithmetic_with_their_changes(eager_checkpoint, tmp_path):
    gold = [
        Document(
            ("John", "lives", "in", "Paris", "."),
            (Entity("Peop", 0, 1), Entity("Loc", 3, 4)),
            (Relation("Live_In", 0, 1),),
        )
    ] * 3
    data = tmp_path / "gold.json"
    data.write_text(json.dumps([d.to_dict() for d in gold]))
    (tmp_path / "types.json").write_text(json.dumps(TYPES.to_dict()))
    out = tmp_path / "out.json"
    second = tmp_path / "second"
    shutil.copytree(eager_checkpoint, second)
    models = [str(eager_checkpoint), str(second)]
    argv = [*models, "--splits", str(data), "--threads", "1", "--output", str(out)]
    assert precision_accuracy.main(argv) == 0
    record = json.loads(out.read_text())
    labels = [label for label, _ in precision_accuracy.arithmetics()]
    assert labels[0] == "fp32" and "int8" in labels
    scores = record["models"][str(eager_checkpoint)]
    assert sorted(scores) == sorted(labels)  # the record is written with sorted keys
    assert set(scores["fp32"][str(data)]) == {*precision_accuracy.SETTINGS, "seconds"}
    change = record["differences"]["int8"][str(data)]["relation_strict"]
    assert len(change["per_model"]) == 2 and change["std"] == pytest.approx(0.0)
    assert record["command"].startswith("python benchmarks/precision_accuracy.py")
    assert record["hardware"]["cpu"] and "torch" in record["versions"]


def test_a_folder_that_is_not_a_model_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        precision_accuracy.main([str(tmp_path)])
    assert "not a model folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "native, chosen, expected",
    [
        (True, precision_accuracy.ARITHMETICS, ["fp32", "bf16", "int8", "int8+bf16"]),
        (False, precision_accuracy.ARITHMETICS, ["fp32", "int8"]),  # no emulated bf16
        (True, ["int8+bf16"], ["fp32", "int8+bf16"]),  # fp32, the reference, always
    ],
)
def test_the_arithmetics_are_those_asked_for_that_the_cpu_runs(
    monkeypatch, native, chosen, expected
):
    from spertmt.runtime import precision

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: (native, "a test CPU"))
    assert [label for label, _ in precision_accuracy.arithmetics(chosen)] == expected
