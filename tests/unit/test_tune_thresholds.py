"""benchmarks/tune_thresholds.py: encoding each dev batch once gives the rows of scoring every
threshold combination from scratch."""

import dataclasses
import sys
from pathlib import Path

import torch
from samples import TYPES, build_model

from spertmt.metrics import evaluate_documents
from spertmt.prediction import predict_documents
from spertmt.schema import Document, Entity, Relation

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from tune_thresholds import score_row, tune  # noqa: E402

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
GRID = {"entity_threshold": [0.3, 0.9], "relation_threshold": [0.2, 0.5, 0.8]}


def test_rows_equal_scoring_each_combination_from_scratch(tiny_bert_dir):
    model, tokenizer = build_model(tiny_bert_dir, entity_binary_head=True)
    with torch.no_grad():  # spans near the binary head's edge, so entity_threshold matters
        model.entity_binary.bias.fill_(0.0)
    calls = []
    hook = model.encoder.model.register_forward_hook(lambda *_: calls.append(1))
    rows, best = tune(model, tokenizer, TYPES, GOLD, GRID)
    hook.remove()

    base = model.config
    expected = []
    for row in rows:
        model.config = dataclasses.replace(base, **row["setting"])
        report = evaluate_documents(GOLD, predict_documents(model, tokenizer, GOLD), TYPES)
        expected.append(score_row(report.to_dict()))
    model.config = base
    assert [{k: v for k, v in r.items() if k not in ("setting", "seconds")} for r in rows] == (
        expected
    )
    assert len(rows) == 6 and best in rows
    assert len({r["entity_micro_f1"] for r in rows}) > 1  # the grid changed the predictions
    assert len(calls) == 1  # three short sentences: one batch, encoded once for six rows
    assert model.config == base and "forward" not in vars(model.encoder)
