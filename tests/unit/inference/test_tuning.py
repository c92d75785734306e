"""Decision-rule tuning (spertmt.inference.tuning, ``spertmt tune``): one encoder pass gives the
rows of predicting every setting from scratch; the best row is chosen on the metric."""

import json

import pytest
import torch
from samples import TYPES, build_model

from spertmt.cli import main
from spertmt.config import DecisionRule
from spertmt.errors import ConfigError
from spertmt.evaluation.metrics import evaluate_documents
from spertmt.inference.predictor import Predictor
from spertmt.inference.tuning import default_grid, parse_grid, tune_rule
from spertmt.schema import Document, Entity, Relation

GOLD = [
    Document(
        (name, "lives", "in", city, "near", other, "."),
        (Entity("Peop", 0, 1), Entity("Loc", 3, 4), Entity("Loc", 5, 6)),
        (Relation("Live_In", 0, 1), Relation("Near", 1, 2)),
    )
    for name, city, other in [
        ("John", "Paris", "Lyon"),
        ("Anna", "Rome", "Pisa"),
        ("Paul", "Oslo", "Bergen"),
    ]
]
GRID = {
    "entity_threshold": [0.3, 0.9],
    "relation_threshold": [0.2, 0.5, 0.8],
    "entity_overlap": ["allow", "resolve"],
}


@pytest.fixture(scope="module")
def predictor(tiny_bert_dir):
    model, tokenizer = build_model(tiny_bert_dir, entity_binary_head=True)
    with torch.no_grad():  # spans near the binary head's edge, so entity_threshold matters
        model.entity_binary.bias.fill_(0.0)
    return Predictor(model, tokenizer)


def test_rows_equal_predicting_each_setting_from_scratch(predictor):
    calls = []
    hook = predictor.model.encoder.model.register_forward_hook(lambda *_: calls.append(1))
    result = tune_rule(predictor, GOLD, GRID, batch_size=2)
    hook.remove()
    assert len(calls) == 2  # one encoder pass: 3 documents in batches of 2
    assert len(result.rows) == 12
    for row in result.rows:
        assert row.rule == DecisionRule().replace(**row.setting)
        scratch = predictor.predict(GOLD, rule=row.rule)
        report = evaluate_documents(GOLD, scratch, TYPES).to_dict()
        assert row.scores["relation_strict_micro_f1"] == report["relation_strict"]["micro"]["f1"]
        assert row.scores["entity_micro_f1"] == report["entity"]["micro"]["f1"]
    scores = [row.scores["entity_micro_f1"] for row in result.rows]
    assert len(set(scores)) > 1, "the grid must change the predictions for this test to mean much"


def test_the_best_row_maximises_the_metric_then_entity_f1(predictor):
    result = tune_rule(predictor, GOLD, GRID, metric="entity_micro_f1")
    top = max(row.scores["entity_micro_f1"] for row in result.rows)
    assert result.best.scores["entity_micro_f1"] == top
    first = next(row for row in result.rows if row.scores["entity_micro_f1"] == top)
    assert result.best is first  # ties go to the first row in grid order
    assert json.loads(json.dumps(result.to_dict()))["best"]["setting"] == first.setting


def test_grid_values_and_metric_are_checked_before_the_encoder_runs(predictor):
    with pytest.raises(ConfigError, match="decision.relation_threshold"):
        tune_rule(predictor, GOLD, {"relation_threshold": [0.5, 1.5]})
    with pytest.raises(ConfigError, match="unknown metric"):
        tune_rule(predictor, GOLD, {"relation_threshold": [0.5]}, metric="accuracy")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_grid(["relation_treshold=0.4"])
    with pytest.raises(ConfigError, match="field=v1,v2"):
        parse_grid(["relation_threshold"])
    assert parse_grid(["decision.iou_threshold=0,0.5"]) == {"iou_threshold": [0.0, 0.5]}


def test_default_grid_follows_the_heads(predictor):
    assert set(default_grid(predictor.model.config)) == {
        "relation_threshold",
        "entity_overlap",
        "entity_threshold",
    }


def test_tune_command_writes_the_record_and_refuses_test_data(eager_checkpoint, tmp_path, capsys):
    gold = tmp_path / "dev.json"
    gold.write_text(json.dumps([d.to_dict() for d in GOLD]))
    out = tmp_path / "tuning.json"
    code = main(
        [
            "tune",
            "--model",
            str(eager_checkpoint),
            "--data",
            str(gold),
            "--grid",
            "relation_threshold=0.3,0.6",
            "--grid",
            "entity_overlap=allow,resolve",
            "--json",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    record = json.loads(out.read_text())
    assert len(record["rows"]) == 4 and record["metric"] == "relation_strict_micro_f1"
    assert "best of 4 settings" in capsys.readouterr().out
    test_file = tmp_path / "conll04_test.json"
    test_file.write_text(json.dumps([d.to_dict() for d in GOLD]))
    assert main(["tune", "--model", str(eager_checkpoint), "--data", str(test_file)]) != 0
    assert "never on test" in capsys.readouterr().err
    # However the split is spelt.
    for spec in ("conll04:TEST", " conll04:test ", str(tmp_path / "CONLL04_TEST.JSON")):
        assert main(["tune", "--model", str(eager_checkpoint), "--data", spec]) != 0, spec
        assert "[E213]" in capsys.readouterr().err, spec
