"""``spertmt analyze``: every entity error kind and relation error cause, on synthetic data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from spertmt.cli import main
from spertmt.data.io import write_documents
from spertmt.errors import DataError
from spertmt.evaluation.analysis import analyze_documents, analyze_files, iou_bucket
from spertmt.evaluation.analysis_html import render_analysis_html
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

TYPES = TypeSchema(
    tuple(EntityType(n, n, n) for n in ("Peop", "Org", "Loc", "X", "Y")),
    tuple(
        RelationType(n, n, n, symmetric=n in ("Meet", "Near"))
        for n in ("Meet", "Live_In", "R", "S", "T", "Near")
    ),
)

WORDS0 = ("Ann", "Lee", "met", "Bob", "in", "New", "York", "City", ".")
WORDS1 = ("A", "B", "C", "D", "E")
WORDS2 = tuple("abcdefghij")


def gold_and_pred() -> tuple[list[Document], list[Document]]:
    gold = [
        Document(
            WORDS0,
            (Entity("Peop", 0, 2), Entity("Peop", 3, 4), Entity("Loc", 5, 8)),
            (Relation("Meet", 0, 1), Relation("Live_In", 1, 2)),
            orig_id="d0",
        ),
        Document(
            WORDS1,
            tuple(Entity(t, i, i + 1) for i, t in enumerate("XXYYX")),
            (
                Relation("R", 0, 2),  # predicted: correct
                Relation("R", 1, 3),  # predicted as T: wrong type
                Relation("S", 0, 1),  # predicted from 1 to 0: wrong direction
                Relation("R", 4, 3),  # nothing predicted between 4 and 3: missed pair
                Relation("Near", 2, 3),  # predicted 3 -> 2, symmetric: correct
            ),
        ),
        Document(
            WORDS2,
            (Entity("X", 0, 1), Entity("Y", 1, 3), Entity("Y", 4, 6), Entity("X", 7, 8)),
        ),
    ]
    pred = [
        Document(
            WORDS0,
            (
                Entity("Peop", 0, 1),  # boundary, too narrow, IoU 0.5
                Entity("Org", 3, 4),  # type
                Entity("Loc", 5, 7),  # boundary, too narrow, IoU 2/3
                Entity("Loc", 8, 9),  # spurious
            ),
            (Relation("Live_In", 1, 2),),  # its entities are not gold entities
            orig_id="d0",
        ),
        Document(
            WORDS1,
            tuple(Entity(t, i, i + 1) for i, t in enumerate("XXYYX")),
            (
                Relation("R", 0, 2),
                Relation("T", 1, 3),
                Relation("S", 1, 0),
                Relation("Near", 3, 2),
                Relation("R", 4, 2),  # gold relates neither way: spurious pair
            ),
        ),
        Document(
            WORDS2,
            (
                Entity("X", 2, 3),  # boundary+type against Y(1,3), IoU 0.5
                Entity("Y", 5, 7),  # shifted against Y(4,6), IoU 1/3
                Entity("X", 6, 9),  # too wide against X(7,8), IoU 1/3
            ),
        ),
    ]
    return gold, pred


def test_every_entity_error_kind_is_counted():
    analysis = analyze_documents(*gold_and_pred(), TYPES)
    assert analysis.entity_errors == {
        "type": 1,
        "boundary": 4,
        "boundary+type": 1,
        "spurious": 1,
        "missed": 1,
    }
    assert analysis.entity_correct == 5
    assert analysis.boundary_iou == {
        "0.00-0.25": 0,
        "0.25-0.50": 2,
        "0.50-0.75": 3,
        "0.75-1.00": 0,
    }
    assert analysis.boundary_shape == {"too wide": 1, "too narrow": 3, "shifted": 1}
    confusion = analysis.entity_confusion
    assert confusion["Peop"]["Org"] == 1 and confusion["Y"]["X"] == 1
    assert confusion["X"]["none"] == 1 and confusion["none"]["Loc"] == 1
    assert confusion["X"]["X"] == 4  # three correct, one boundary error of the same type
    assert confusion["none"]["none"] == 0


def test_every_relation_error_cause_is_counted_and_they_add_up_to_the_scores():
    analysis = analyze_documents(*gold_and_pred(), TYPES)
    assert analysis.gold_relation_errors == {
        "entity missed": 2,
        "wrong type": 1,
        "wrong direction": 1,
        "missed pair": 1,
    }
    assert analysis.pred_relation_errors == {
        "spurious entity": 1,
        "wrong type": 1,
        "wrong direction": 1,
        "spurious pair": 1,
    }
    assert analysis.relation_correct == 2
    strict = analysis.scores.relation_strict.micro
    assert strict.recall == pytest.approx(100 * 2 / 7)
    assert strict.precision == pytest.approx(100 * 2 / 6)
    assert analysis.relation_confusion["R"]["T"] == 1
    assert analysis.relation_confusion["Near"]["Near"] == 1


def test_examples_name_the_document_and_the_words():
    analysis = analyze_documents(*gold_and_pred(), TYPES, max_examples=1)
    assert all(len(v) == 1 for v in analysis.examples.values())
    (boundary,) = analysis.examples["boundary"]
    assert (boundary.doc_index, boundary.orig_id) == (0, "d0")
    # Pairs of higher IoU are made (and listed) first.
    assert (boundary.gold_text, boundary.pred_text) == ("New York City [Loc]", "New York [Loc]")
    assert boundary.iou == pytest.approx(2 / 3)
    (direction,) = analysis.examples["relation missed: wrong direction"]
    assert direction.gold_text == "A [X] —S→ B [X]"
    assert direction.pred_text == "B [X] —S→ A [X]"
    assert list(analysis.examples)[:5] == [
        "type",
        "boundary",
        "boundary+type",
        "spurious",
        "missed",
    ]


def test_without_a_types_file_types_are_derived_and_nothing_is_symmetric():
    gold, pred = gold_and_pred()
    analysis = analyze_documents(gold, pred)
    # Near 2->3 against 3->2 is now a direction error on each side.
    assert analysis.gold_relation_errors["wrong direction"] == 2
    assert analysis.entity_types == ("Loc", "Org", "Peop", "X", "Y")


def test_perfect_predictions_have_no_errors():
    gold, _ = gold_and_pred()
    analysis = analyze_documents(gold, gold, TYPES)
    assert analysis.entity_errors == {} and analysis.gold_relation_errors == {}
    assert analysis.examples == {}
    assert "No errors." in render_analysis_html(analysis)


def test_iou_buckets():
    assert [iou_bucket(v) for v in (0.0, 0.2, 0.25, 0.5, 0.99)] == [
        "0.00-0.25",
        "0.00-0.25",
        "0.25-0.50",
        "0.50-0.75",
        "0.75-1.00",
    ]


def test_the_page_is_self_contained_well_formed_and_shows_each_kind():
    page = render_analysis_html(analyze_documents(*gold_and_pred(), TYPES))
    ET.fromstring(page.split("\n", 1)[1])  # well-formed XML after the doctype
    assert not re.search(r"<(script|link|img|iframe)\b|src=|href=\"http", page)
    for kind in (
        "boundary+type",
        "relation missed: missed pair",
        "relation spurious: spurious pair",
    ):
        assert f"<summary>{kind} (" in page
    assert '<span class="g">Lee</span>' in page
    assert "Confusion matrices" in page and "0.25-0.50" in page


def test_hostile_words_neither_break_the_page_nor_reorder_it():
    # The page goes through the prediction view's escaper: XML-forbidden characters
    # (U+FFFE, C1 controls) and bidirectional overrides become U+FFFD.
    words = ("\u202eAnn", "Lee\ufffe", "<b>met</b>", "\x85Bob", "&")
    gold = [Document(words, (Entity("Peop", 0, 2), Entity("Peop", 3, 4)), orig_id="<d&>")]
    pred = [Document(words, (Entity("Peop", 1, 2),))]
    page = render_analysis_html(analyze_documents(gold, pred, TYPES), title="<T>")
    page.encode("utf-8")
    root = ET.fromstring(page.split("\n", 1)[1])
    for bad in ("\u202e", "\ufffe", "\x85", "<b>"):
        assert bad not in page
    assert "\ufffdAnn" in page and "&lt;b&gt;met&lt;/b&gt;" in page
    assert root.findtext("head/title") == "<T>"


def test_documents_that_do_not_match_are_an_error(tmp_path):
    gold, pred = gold_and_pred()
    with pytest.raises(DataError) as info:
        analyze_documents(gold, pred[:2], TYPES)
    assert info.value.code == "E150"


def test_the_command_writes_html_and_json(tmp_path, capsys):
    gold, pred = gold_and_pred()
    write_documents(tmp_path / "gold.json", gold)
    write_documents(tmp_path / "pred.jsonl", pred)
    (tmp_path / "types.json").write_text(json.dumps(TYPES.to_dict()), encoding="utf-8")
    args = [
        "analyze",
        "--gold",
        str(tmp_path / "gold.json"),
        "--pred",
        str(tmp_path / "pred.jsonl"),
    ]
    args += ["--types", str(tmp_path / "types.json")]
    code = main([*args, "-o", str(tmp_path / "report.html"), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "entity errors: type 1, boundary 4, boundary+type 1, spurious 1, missed 1" in out
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["relations"]["missed_by_cause"]["missed pair"] == 1
    assert data == json.loads(
        json.dumps(
            analyze_files(
                *(tmp_path / n for n in ("gold.json", "pred.jsonl", "types.json"))
            ).to_dict(),
            sort_keys=True,
        )
    )

    code = main([*args, "--json", "-"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["entities"]["errors"]["missed"] == 1
    assert main(args) == 2  # neither -o nor --json
