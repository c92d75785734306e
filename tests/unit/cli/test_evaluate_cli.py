"""``spertmt evaluate`` on the hand-scored fixtures in tests/data/eval (see its README.md).

Expected numbers, by setting (tp / gold / predicted per type):

- entity: Peop 3/3/4 (P 75, R 100, F1 6/7), Loc 0/2/0, Org 1/1/2 (P 50, R 100, F1 2/3);
  micro 4/6/6; macro P (75+0+50)/3, R (100+0+100)/3, F1 (6/7+0+2/3)/3 = 32/63.
- relation_strict: Live_In 0/2/2, Work_For 1/1/1, Sibling 1/1/1 (other direction: symmetric);
  micro 2/4/4 = 50; macro 200/3.
- relation_boundaries: Live_In 1/2/2 (tail type ignored), Work_For 1/1/1, Sibling 1/1/1;
  micro 3/4/4 = 75; macro 250/3.
- with --no-overlap, the predicted Peop "John Smith" and "John" overlap and both go:
  Peop 2/3/2, entity micro 3/6/4 (P 75, R 50, F1 60); no relation has overlapping ends.
"""

import json
from pathlib import Path

import pytest

from spertmt.cli import main

EVAL = Path(__file__).resolve().parents[2] / "data" / "eval"
GOLD, PRED, TYPES = EVAL / "gold.json", EVAL / "pred.json", EVAL / "types.json"


def approx3(p, r, f, support=None):
    expected = {"precision": p, "recall": r, "f1": f}
    if support is not None:
        expected["support"] = support
    return pytest.approx(expected, abs=1e-9)


def run(*args):
    return main(["evaluate", *map(str, args)])


def test_evaluate_prints_tables_and_writes_sorted_json(tmp_path, capsys):
    out = tmp_path / "reports" / "eval.json"  # the folder does not exist yet
    code = run("--gold", GOLD, "--pred", PRED, "--types", TYPES, "--json", out)
    printed = capsys.readouterr().out
    assert code == 0
    assert "Entities" in printed and "boundaries" in printed and "strict" in printed
    assert "85.71" in printed and "66.67" in printed and "83.33" in printed
    assert f"wrote {out}" in printed

    text = out.read_text(encoding="utf-8")
    report = json.loads(text)
    assert text == json.dumps(report, sort_keys=True, indent=2) + "\n"
    assert report["settings"] == {"no_overlap": False}

    entity = report["entity"]
    assert entity["per_type"]["Peop"] == approx3(75, 100, 600 / 7, support=3)
    assert entity["per_type"]["Loc"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert entity["per_type"]["Org"] == approx3(50, 100, 200 / 3, support=1)
    assert entity["micro"] == approx3(200 / 3, 200 / 3, 200 / 3)
    assert entity["macro"] == approx3(125 / 3, 200 / 3, 3200 / 63)

    strict = report["relation_strict"]
    assert list(strict["per_type"]) == ["Live_In", "Sibling", "Work_For"]  # sort_keys
    assert strict["per_type"]["Live_In"]["f1"] == 0.0
    assert strict["per_type"]["Sibling"]["f1"] == 100.0
    assert strict["micro"] == approx3(50, 50, 50)
    assert strict["macro"] == approx3(200 / 3, 200 / 3, 200 / 3)

    boundaries = report["relation_boundaries"]
    assert boundaries["per_type"]["Live_In"] == approx3(50, 50, 50, support=2)
    assert boundaries["micro"] == approx3(75, 75, 75)
    assert boundaries["macro"] == approx3(250 / 3, 250 / 3, 250 / 3)


def test_evaluate_no_overlap(tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert run("--gold", GOLD, "--pred", PRED, "--types", TYPES, "--no-overlap", "--json", out) == 0
    assert "without overlap" in capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["settings"] == {"no_overlap": True}
    assert report["entity"]["per_type"]["Peop"] == approx3(100, 200 / 3, 80, support=3)
    assert report["entity"]["micro"] == approx3(75, 50, 60)
    assert report["relation_strict"]["micro"] == approx3(50, 50, 50)


def test_gold_against_itself_is_100(tmp_path):
    out = tmp_path / "eval.json"
    assert run("--gold", GOLD, "--pred", GOLD, "--types", TYPES, "--json", out) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    for setting in ("entity", "relation_boundaries", "relation_strict"):
        rows = [report[setting]["micro"], report[setting]["macro"]]
        rows += list(report[setting]["per_type"].values())
        assert all(row[k] == 100.0 for row in rows for k in ("precision", "recall", "f1"))


def test_mismatched_documents_fail_with_one_line(capsys):
    code = run("--gold", GOLD, "--pred", EVAL / "pred_one_document.json", "--types", TYPES)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: [E150] ")
    assert "pred_one_document.json has 1 documents but" in err and "gold.json has 2" in err
    assert err.count("\n") == 1


def test_missing_options_are_a_usage_error(capsys):
    code = run("--gold", GOLD, "--types", TYPES)
    assert code == 2
    assert "missing --pred" in capsys.readouterr().err


def test_unwritable_json_path_is_a_data_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = run("--gold", GOLD, "--pred", PRED, "--types", TYPES, "--json", blocker / "eval.json")
    err = capsys.readouterr().err
    assert code == 1
    assert "[E156]" in err and "eval.json" in err


def test_decision_options_go_with_checkpoint_mode(eager_checkpoint, eager_api, tmp_path, capsys):
    from spertmt.data.io import write_documents
    from spertmt.inference.files import evaluate_checkpoint
    from spertmt.schema import Document, Entity, Relation

    gold = [
        Document(
            ("John", "Smith", "lives", "in", "Paris", "."),
            (Entity("Peop", 0, 2), Entity("Loc", 4, 5)),
            (Relation("Live_In", 0, 1),),
        ),
        Document(("Anna", "moved", "to", "Rome"), (Entity("Peop", 0, 1), Entity("Loc", 3, 4))),
    ]
    write_documents(tmp_path / "gold.json", gold)
    out = tmp_path / "eval.json"
    options = ("--entity-overlap", "resolve", "--relation-threshold", "0.45")
    code = run(
        "--model", eager_checkpoint, "--data", tmp_path / "gold.json", *options, "--json", out
    )
    assert code == 0
    decision = {"entity_overlap": "resolve", "relation_threshold": 0.45}
    expected = eager_api.evaluate(gold, **decision)
    assert json.loads(out.read_text()) == expected.to_dict()
    assert evaluate_checkpoint(
        eager_checkpoint, str(tmp_path / "gold.json"), decision=decision
    ) == (expected)
    # Without the options, the checkpoint's rule: overlapping entities make other scores.
    default = evaluate_checkpoint(eager_checkpoint, str(tmp_path / "gold.json"))
    assert default == eager_api.evaluate(gold) and default != expected

    capsys.readouterr()
    code = run("--gold", GOLD, "--pred", PRED, "--types", TYPES, "--entity-overlap", "resolve")
    assert code == 2
    assert "decision-rule options go with --model" in capsys.readouterr().err


def test_checkpoint_scoring_shows_progress_out_of_the_document_count(
    eager_checkpoint, tmp_path, monkeypatch
):
    from spertmt.data.io import write_documents
    from spertmt.inference import files
    from spertmt.schema import Document, Entity

    gold = [
        Document(("Anna", "moved", "to", "Rome"), (Entity("Peop", 0, 1), Entity("Loc", 3, 4)))
    ] * 5
    write_documents(tmp_path / "gold.json", gold)
    seen = []

    class Bar:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def add_task(self, description, total):
            seen.append(("task", total))
            return 0

        def advance(self, task, done):
            seen.append(("advance", done))

    monkeypatch.setattr(files, "_progress_bar", lambda enabled: Bar())
    files.evaluate_checkpoint(eager_checkpoint, str(tmp_path / "gold.json"), batch_size=2)
    assert seen[0] == ("task", 5)
    assert sum(done for kind, done in seen[1:] if kind == "advance") == 5
