"""Tests of the SpERT-compatible evaluator (spertmt.evaluation.metrics).

Expected numbers in the hand cases are worked out in the comments next to them. A slow,
literal reference of SpERT's scoring (union flattening into label lists, per-label counts,
F1 as 2PR/(P+R), quadratic overlap filter) is kept here to cross-check the fast evaluator.
"""

import io
import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spertmt.errors import DataError
from spertmt.evaluation.metrics import EvalReport, document_counts, evaluate_documents
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

TYPES = TypeSchema(
    (
        EntityType("Peop", "P", "People"),
        EntityType("Loc", "L", "Location"),
        EntityType("Org", "O", "Organisation"),
    ),
    (
        RelationType("Live_In", "LI", "Lives in"),
        RelationType("Work_For", "WF", "Works for"),
        RelationType("Sibling", "SB", "Sibling of", symmetric=True),
    ),
)
ADE_TYPES = TypeSchema(
    (EntityType("Adverse-Effect", "AE", "Adverse effect"), EntityType("Drug", "D", "Drug")),
    (RelationType("Adverse-Effect", "AE", "Adverse effect"),),
)
SETTINGS = ("entity", "relation_boundaries", "relation_strict")


def doc(n_tokens, entities=(), relations=(), orig_id=None):
    return Document(
        tuple(f"w{i}" for i in range(n_tokens)),
        tuple(Entity(t, s, e) for t, s, e in entities),
        tuple(Relation(t, h, tl) for t, h, tl in relations),
        orig_id=orig_id,
    )


def prf(scores):
    return (scores.precision, scores.recall, scores.f1)


def approx3(p, r, f):
    return pytest.approx((p, r, f), abs=1e-9)


# --- hand cases ------------------------------------------------------------------------------


def test_entity_partial_match_wrong_type_and_wrong_boundary():
    gold = [
        doc(8, [("Peop", 0, 1), ("Loc", 3, 4), ("Org", 5, 7)]),
        doc(4, [("Loc", 0, 1), ("Loc", 2, 3)]),
    ]
    pred = [
        # Peop right; Loc predicted as Org (wrong type); Org cut short (wrong boundary).
        doc(8, [("Peop", 0, 1), ("Org", 3, 4), ("Org", 5, 6)]),
        doc(4, [("Loc", 0, 1), ("Loc", 2, 3)]),
    ]
    ent = evaluate_documents(gold, pred, TYPES).entity
    # Peop tp1 gold1 pred1; Loc tp2 gold3 pred2 -> R 2/3, F1 2*2/5; Org tp0 gold1 pred2.
    assert prf(ent.per_type["Peop"]) == approx3(100, 100, 100)
    assert prf(ent.per_type["Loc"]) == approx3(100, 200 / 3, 80)
    assert prf(ent.per_type["Org"]) == approx3(0, 0, 0)
    assert [s.support for s in ent.per_type.values()] == [1, 3, 1]
    # micro: tp3 gold5 pred5; macro: mean of the three rows.
    assert prf(ent.micro) == approx3(60, 60, 60)
    assert prf(ent.macro) == approx3(200 / 3, (100 + 200 / 3) / 3, 60)


def test_relations_strict_needs_entity_types_boundaries_do_not():
    gold = [
        doc(
            8,
            [("Peop", 0, 2), ("Loc", 4, 5), ("Org", 6, 7)],
            [("Live_In", 0, 1), ("Work_For", 0, 2)],
        )
    ]
    pred = [
        doc(
            8,
            [("Peop", 0, 2), ("Org", 4, 5), ("Org", 6, 7)],
            # Live_In: spans right, tail typed Org (strict miss, boundaries hit).
            # Work_For reversed: the type is asymmetric, so a miss in both settings.
            [("Live_In", 0, 1), ("Work_For", 2, 0)],
        )
    ]
    report = evaluate_documents(gold, pred, TYPES)
    strict, bounds = report.relation_strict, report.relation_boundaries
    assert list(strict.per_type) == ["Live_In", "Work_For"]
    assert prf(strict.micro) == approx3(0, 0, 0)
    assert prf(strict.macro) == approx3(0, 0, 0)
    assert prf(bounds.per_type["Live_In"]) == approx3(100, 100, 100)
    assert prf(bounds.per_type["Work_For"]) == approx3(0, 0, 0)
    assert prf(bounds.micro) == approx3(50, 50, 50)
    assert prf(bounds.macro) == approx3(50, 50, 50)
    # Entities: Org tp1 gold1 pred2 -> P 50, R 100, F1 2/3.
    assert prf(report.entity.per_type["Org"]) == approx3(50, 100, 200 / 3)


def test_symmetric_relation_matches_in_either_order():
    ents = [("Peop", 0, 1), ("Peop", 2, 3)]
    for gold_rel, pred_rel in [
        (("Sibling", 0, 1), ("Sibling", 1, 0)),
        (("Sibling", 1, 0), ("Sibling", 0, 1)),
    ]:
        report = evaluate_documents([doc(4, ents, [gold_rel])], [doc(4, ents, [pred_rel])], TYPES)
        assert prf(report.relation_strict.micro) == approx3(100, 100, 100)
        assert prf(report.relation_boundaries.micro) == approx3(100, 100, 100)


def test_asymmetric_relation_reversed_does_not_match():
    ents = [("Peop", 0, 1), ("Peop", 2, 3)]
    report = evaluate_documents(
        [doc(4, ents, [("Work_For", 0, 1)])], [doc(4, ents, [("Work_For", 1, 0)])], TYPES
    )
    assert prf(report.relation_strict.micro) == approx3(0, 0, 0)
    assert prf(report.relation_boundaries.micro) == approx3(0, 0, 0)
    assert report.relation_strict.per_type["Work_For"].support == 1


def test_symmetric_relation_with_equal_starts_keeps_its_order():
    # SpERT swaps only when the tail starts strictly before the head: (0,2) and (0,1) start
    # together, so the two directions stay different tuples.
    ents = [("Peop", 0, 2), ("Peop", 0, 1)]
    report = evaluate_documents(
        [doc(3, ents, [("Sibling", 0, 1)])], [doc(3, ents, [("Sibling", 1, 0)])], TYPES
    )
    assert prf(report.relation_strict.micro) == approx3(0, 0, 0)


def test_symmetric_prediction_in_both_directions_counts_once():
    ents = [("Peop", 0, 1), ("Peop", 2, 3)]
    gold = [doc(4, ents, [("Sibling", 0, 1)])]
    pred = [doc(4, ents, [("Sibling", 0, 1), ("Sibling", 1, 0)])]
    report = evaluate_documents(gold, pred, TYPES)
    assert prf(report.relation_strict.micro) == approx3(100, 100, 100)


def test_empty_predictions_score_zero_with_gold_support():
    gold = [doc(5, [("Peop", 0, 1), ("Loc", 3, 4)], [("Live_In", 0, 1)])]
    pred = [doc(5)]
    report = evaluate_documents(gold, pred, TYPES)
    for name in SETTINGS:
        scores = getattr(report, name)
        assert prf(scores.micro) == (0.0, 0.0, 0.0)
        assert prf(scores.macro) == (0.0, 0.0, 0.0)
    assert {t: s.support for t, s in report.entity.per_type.items()} == {"Peop": 1, "Loc": 1}
    assert report.relation_strict.per_type["Live_In"].support == 1


def test_empty_gold_scores_zero_with_zero_support():
    report = evaluate_documents([doc(5)], [doc(5, [("Org", 0, 2)])], TYPES)
    assert prf(report.entity.micro) == (0.0, 0.0, 0.0)
    assert report.entity.per_type["Org"].support == 0
    assert report.relation_strict.per_type == {}


def test_nothing_anywhere_scores_zero_and_has_no_types():
    report = evaluate_documents([doc(3)], [doc(3)], TYPES)
    for name in SETTINGS:
        scores = getattr(report, name)
        assert scores.per_type == {}
        assert prf(scores.micro) == prf(scores.macro) == (0.0, 0.0, 0.0)
    report = evaluate_documents([], [], TYPES)
    assert report.entity.per_type == {}


def test_type_seen_only_in_predictions_enters_macro():
    gold = [doc(4, [("Peop", 0, 1)])]
    pred = [doc(4, [("Peop", 0, 1), ("Loc", 2, 3)])]
    ent = evaluate_documents(gold, pred, TYPES).entity
    assert list(ent.per_type) == ["Peop", "Loc"]  # Org occurs nowhere and is left out
    assert prf(ent.per_type["Loc"]) == (0.0, 0.0, 0.0)
    # micro: tp1 gold1 pred2; macro over Peop (100) and Loc (0), not over all three declared.
    assert prf(ent.micro) == approx3(50, 100, 200 / 3)
    assert prf(ent.macro) == approx3(50, 50, 50)


def test_duplicates_collapse_in_gold_and_predictions():
    gold = [doc(4, [("Peop", 0, 1), ("Peop", 0, 1), ("Loc", 2, 3)], [("Live_In", 0, 2)])]
    pred = [
        doc(
            4,
            [("Peop", 0, 1), ("Peop", 0, 1), ("Peop", 0, 1), ("Loc", 2, 3)],
            [("Live_In", 0, 3), ("Live_In", 1, 3), ("Live_In", 2, 3)],
        )
    ]
    report = evaluate_documents(gold, pred, TYPES)
    assert report.entity.per_type["Peop"].support == 1
    for name in SETTINGS:
        assert prf(getattr(report, name).micro) == approx3(100, 100, 100)


def test_scores_are_ignored():
    gold = [doc(4, [("Peop", 0, 1), ("Loc", 2, 3)], [("Live_In", 0, 1)])]
    pred = [
        Document(
            gold[0].tokens,
            (Entity("Peop", 0, 1, score=0.1), Entity("Loc", 2, 3, score=0.99)),
            (Relation("Live_In", 0, 1, score=0.4),),
        )
    ]
    report = evaluate_documents(gold, pred, TYPES)
    assert report == evaluate_documents(gold, gold, TYPES)


def no_overlap_case():
    # Entities: E0 Drug(0,2) and E1 AE(1,3) overlap; E2 AE(4,5) and E3 Drug(6,7) do not.
    # R0 E1->E0: head and tail overlap each other -> removed.
    # R1 E2->E0: E0 overlaps E1, but head and tail are disjoint -> kept (SpERT's rule).
    gold = [
        doc(
            8,
            [("Drug", 0, 2), ("Adverse-Effect", 1, 3), ("Adverse-Effect", 4, 5), ("Drug", 6, 7)],
            [("Adverse-Effect", 1, 0), ("Adverse-Effect", 2, 0), ("Adverse-Effect", 2, 3)],
        )
    ]
    # P2 Drug(6,7) and P3 AE(6,7): same span, different type -> both removed.
    pred = [
        doc(
            8,
            [("Drug", 0, 2), ("Adverse-Effect", 4, 5), ("Drug", 6, 7), ("Adverse-Effect", 6, 7)],
            [("Adverse-Effect", 1, 0), ("Adverse-Effect", 1, 2)],
        )
    ]
    return gold, pred


def test_no_overlap_removes_overlapping_entities_and_self_overlapping_relations_only():
    gold, pred = no_overlap_case()
    report = evaluate_documents(gold, pred, ADE_TYPES, no_overlap=True)
    assert report.no_overlap
    # gold entities {AE(4,5), Drug(6,7)}, pred {Drug(0,2), AE(4,5)}.
    assert prf(report.entity.per_type["Adverse-Effect"]) == approx3(100, 100, 100)
    assert prf(report.entity.per_type["Drug"]) == approx3(0, 0, 0)
    assert prf(report.entity.micro) == approx3(50, 50, 50)
    # gold relations {R1, R2}: R1 survives although its tail E0 was removed as an entity.
    assert report.relation_strict.per_type["Adverse-Effect"].support == 2
    assert prf(report.relation_strict.micro) == approx3(100, 100, 100)
    assert prf(report.relation_boundaries.micro) == approx3(100, 100, 100)


def test_without_no_overlap_everything_is_scored():
    gold, pred = no_overlap_case()
    report = evaluate_documents(gold, pred, ADE_TYPES)
    assert not report.no_overlap
    # AE gold {(1,3),(4,5)} pred {(4,5),(6,7)}; Drug gold = pred = {(0,2),(6,7)}.
    assert prf(report.entity.per_type["Adverse-Effect"]) == approx3(50, 50, 50)
    assert prf(report.entity.micro) == approx3(75, 75, 75)
    # Relations: tp2 gold3 pred2.
    assert prf(report.relation_strict.micro) == approx3(100, 200 / 3, 80)


def test_no_overlap_keeps_identical_duplicates_and_relation_to_itself():
    # Two copies of one (start, end, type) are not "overlapping" in SpERT; neither is a
    # relation whose head and tail are the same entity.
    gold = [doc(3, [("Drug", 0, 2), ("Drug", 0, 2)], [("Adverse-Effect", 0, 1)])]
    report = evaluate_documents(gold, gold, ADE_TYPES, no_overlap=True)
    assert report.entity.per_type["Drug"].support == 1
    assert report.relation_strict.per_type["Adverse-Effect"].support == 1


# --- errors ----------------------------------------------------------------------------------


def test_document_count_mismatch():
    with pytest.raises(DataError) as info:
        evaluate_documents(
            [doc(2), doc(3)], [doc(2)], TYPES, pred_file="p.json", gold_file="g.json"
        )
    assert info.value.code == "E150"
    assert str(info.value) == (
        "[E150] p.json: p.json has 1 documents but g.json has 2; predictions must hold the gold "
        "documents in the same order; run prediction on the gold file itself"
    )


def test_token_mismatch_names_document_orig_id_and_token():
    gold = [doc(3, orig_id="a"), doc(3, orig_id=7)]
    pred = [doc(3), Document(("w0", "w1", "X"))]
    with pytest.raises(DataError) as info:
        evaluate_documents(gold, pred, TYPES)
    message = str(info.value)
    assert info.value.code == "E151"
    assert info.value.doc_index == 1 and info.value.orig_id == 7
    assert "document 1 (orig_id 7), field tokens[2]" in message
    assert "token 2 is 'X' in the predictions but 'w2' in the gold data" in message


def test_token_count_mismatch():
    with pytest.raises(DataError, match=r"E151.*document 0.*4 tokens in the predictions but 3"):
        evaluate_documents([doc(3)], [doc(4)], TYPES)


def test_orig_id_mismatch():
    with pytest.raises(DataError, match=r"E152.*document 0, field orig_id.*'b'.*'a'"):
        evaluate_documents([doc(3, orig_id="a")], [doc(3, orig_id="b")], TYPES)


@pytest.mark.parametrize(
    ("bad", "code", "where"),
    [
        (doc(3, [("Person", 0, 1)]), "E153", "field entities[0].type"),
        (doc(3, [("Peop", 0, 1)], [("Lives", 0, 0)]), "E153", "field relations[0].type"),
        (doc(3, [("Peop", 0, 1)], [("Live_In", 0, 1)]), "E154", "field relations[0].tail"),
        (doc(3, [("Peop", 2, 4)]), "E155", "field entities[0]"),
        (doc(3, [("Peop", 1, 1)]), "E155", "field entities[0]"),
    ],
)
def test_bad_prediction_annotations(bad, code, where):
    with pytest.raises(DataError) as info:
        evaluate_documents([doc(3)], [bad], TYPES, pred_file="p.json")
    assert info.value.code == code
    assert f"p.json, document 0, {where}: prediction:" in str(info.value)


# --- report rendering ------------------------------------------------------------------------


def test_to_dict_layout():
    gold = [doc(4, [("Peop", 0, 1), ("Loc", 2, 3)], [("Live_In", 0, 1)])]
    out = evaluate_documents(gold, gold, TYPES, no_overlap=True).to_dict()
    assert set(out) == {"entity", "relation_boundaries", "relation_strict", "settings"}
    assert out["settings"] == {"no_overlap": True}
    assert out["entity"]["micro"] == {"precision": 100.0, "recall": 100.0, "f1": 100.0}
    assert set(out["entity"]["macro"]) == {"precision", "recall", "f1"}
    assert out["relation_strict"]["per_type"] == {
        "Live_In": {"precision": 100.0, "recall": 100.0, "f1": 100.0, "support": 1}
    }
    assert json.loads(json.dumps(out)) == out


def test_table_has_one_table_per_setting_with_two_decimals():
    from rich.console import Console
    from rich.table import Table

    gold = [doc(8, [("Peop", 0, 1), ("Loc", 3, 4), ("Org", 5, 7)])]
    pred = [doc(8, [("Peop", 0, 1), ("Org", 3, 4)])]
    group = evaluate_documents(gold, pred, TYPES).table()
    assert len(group.renderables) == 3
    assert all(isinstance(t, Table) for t in group.renderables)
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(group)
    text = console.export_text()
    assert "Entities" in text and "boundaries" in text and "strict" in text
    # Entity micro: tp1 gold3 pred2 -> 50.00 / 33.33 / 40.00, support 3.
    assert "micro" in text and "50.00" in text and "33.33" in text and "40.00" in text


# --- properties ------------------------------------------------------------------------------

ENTITY_NAMES = TYPES.entity_names
RELATION_NAMES = TYPES.relation_names


@st.composite
def documents(draw, *, unique_spans=False, max_tokens=8):
    n_tokens = draw(st.integers(1, max_tokens))
    spans = st.tuples(st.integers(0, n_tokens - 1), st.integers(1, 3)).map(
        lambda sw: (sw[0], min(n_tokens, sw[0] + sw[1]))
    )
    if unique_spans:
        span_list = draw(st.lists(spans, max_size=5, unique=True))
    else:
        span_list = draw(st.lists(spans, max_size=5))
    entities = [(draw(st.sampled_from(ENTITY_NAMES)), s, e) for s, e in span_list]
    relations = []
    if entities:
        index = st.integers(0, len(entities) - 1)
        relations = draw(
            st.lists(st.tuples(st.sampled_from(RELATION_NAMES), index, index), max_size=5)
        )
    return doc(n_tokens, entities, relations)


@st.composite
def gold_and_pred(draw, *, unique_spans=False):
    gold = draw(st.lists(documents(unique_spans=unique_spans), max_size=4))
    pred = []
    for g in gold:
        p = draw(documents(unique_spans=unique_spans, max_tokens=len(g.tokens)))
        pred.append(Document(g.tokens, p.entities, p.relations))
    return gold, pred


def has_gold(report_gold, setting):
    return getattr(report_gold, setting).support > 0


@settings(max_examples=150, deadline=None)
@given(st.lists(documents(), max_size=4), st.booleans())
def test_perfect_predictions_score_100(gold, no_overlap):
    report = evaluate_documents(gold, gold, TYPES, no_overlap=no_overlap)
    for name in SETTINGS:
        scores = getattr(report, name)
        expected = 100.0 if scores.support > 0 else 0.0
        assert prf(scores.micro) == approx3(expected, expected, expected)
        assert prf(scores.macro) == approx3(expected, expected, expected)


def shuffled(document, rng):
    order = list(range(len(document.entities)))
    rng.shuffle(order)
    new_index = {old: new for new, old in enumerate(order)}
    entities = tuple(document.entities[old] for old in order)
    relations = [Relation(r.type, new_index[r.head], new_index[r.tail]) for r in document.relations]
    rng.shuffle(relations)
    return Document(document.tokens, entities, tuple(relations), orig_id=document.orig_id)


@settings(max_examples=150, deadline=None)
@given(gold_and_pred(), st.booleans(), st.integers(0, 2**32 - 1))
def test_scores_do_not_depend_on_tuple_order(data, no_overlap, seed):
    gold, pred = data
    rng = random.Random(seed)
    expected = evaluate_documents(gold, pred, TYPES, no_overlap=no_overlap)
    got = evaluate_documents(
        [shuffled(d, rng) for d in gold],
        [shuffled(d, rng) for d in pred],
        TYPES,
        no_overlap=no_overlap,
    )
    # Macro is an fsum, so even the last bit is order-independent.
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(gold_and_pred(unique_spans=True), st.booleans())
def test_boundaries_f1_at_least_strict_f1(data, no_overlap):
    gold, pred = data
    report = evaluate_documents(gold, pred, TYPES, no_overlap=no_overlap)
    strict, bounds = report.relation_strict, report.relation_boundaries
    assert bounds.micro.f1 >= strict.micro.f1 - 1e-9
    assert bounds.macro.f1 >= strict.macro.f1 - 1e-9
    for name, scores in strict.per_type.items():
        assert bounds.per_type[name].f1 >= scores.f1 - 1e-9


def test_boundaries_can_fall_below_strict_when_gold_types_one_span_twice():
    # The property above needs one entity per span: here two gold relations differ only in an
    # entity type, so boundaries merges them (1 tuple) while strict counts 2 hits.
    ents = [("Peop", 0, 1), ("Org", 0, 1), ("Loc", 2, 3), ("Loc", 4, 5)]
    gold = [doc(6, ents, [("Live_In", 0, 2), ("Live_In", 1, 2)])]
    pred = [doc(6, ents, [("Live_In", 0, 2), ("Live_In", 1, 2), ("Live_In", 0, 3)])]
    report = evaluate_documents(gold, pred, TYPES)
    assert report.relation_strict.micro.f1 == pytest.approx(80)  # tp2 gold2 pred3
    assert report.relation_boundaries.micro.f1 == pytest.approx(200 / 3)  # tp1 gold1 pred2


# --- reference cross-check -------------------------------------------------------------------


def reference_tuples(document, symmetric, no_overlap):
    """SpERT's conversion, written the slow, literal way (lists, quadratic overlap test)."""
    ents = [(e.start, e.end, e.type) for e in document.entities]
    rels = []
    for r in document.relations:
        head, tail = ents[r.head], ents[r.tail]
        if r.type in symmetric and tail[0] < head[0]:
            head, tail = tail, head
        rels.append((head, tail, r.type))

    def overlapping(a, b):
        return not (a == b or a[1] <= b[0] or b[1] <= a[0])

    if no_overlap:
        ents = [e for e in ents if not any(overlapping(e, o) for o in ents)]
        rels = [r for r in rels if not overlapping(r[0], r[1])]
    return ents, rels


def reference_scores(gold_tuples, pred_tuples):
    gold_flat, pred_flat, labels = [], [], set()
    for g, p in zip(gold_tuples, pred_tuples, strict=True):
        for t in set(g) | set(p):
            gold_flat.append(t[2] if t in g else "none")
            pred_flat.append(t[2] if t in p else "none")
            labels.add(t[2])
    per_label = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold_flat, pred_flat, strict=True) if g == p == label)
        n_pred, n_gold = pred_flat.count(label), gold_flat.count(label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = (tp, n_gold, n_pred, precision, recall, f1)
    tp = sum(v[0] for v in per_label.values())
    n_gold = sum(v[1] for v in per_label.values())
    n_pred = sum(v[2] for v in per_label.values())
    mp = tp / n_pred if n_pred else 0.0
    mr = tp / n_gold if n_gold else 0.0
    micro = (mp, mr, 2 * mp * mr / (mp + mr) if mp + mr else 0.0)
    n = len(per_label) or 1
    macro = tuple(sum(v[k] for v in per_label.values()) / n for k in (3, 4, 5))
    return per_label, micro, macro


def reference_report(gold, pred, types, no_overlap):
    symmetric = types.symmetric_relations
    g = [reference_tuples(d, symmetric, no_overlap) for d in gold]
    p = [reference_tuples(d, symmetric, no_overlap) for d in pred]

    def boundaries(rels):
        return [((h[0], h[1], "Entity"), (t[0], t[1], "Entity"), r) for h, t, r in rels]

    return {
        "entity": reference_scores([x[0] for x in g], [x[0] for x in p]),
        "relation_strict": reference_scores([x[1] for x in g], [x[1] for x in p]),
        "relation_boundaries": reference_scores(
            [boundaries(x[1]) for x in g], [boundaries(x[1]) for x in p]
        ),
    }


def assert_matches_reference(report: EvalReport, reference):
    for name in SETTINGS:
        scores = getattr(report, name)
        per_label, micro, macro = reference[name]
        assert set(scores.per_type) == set(per_label)
        for label, (_, n_gold, _, p, r, f) in per_label.items():
            assert prf(scores.per_type[label]) == approx3(100 * p, 100 * r, 100 * f)
            assert scores.per_type[label].support == n_gold
        assert prf(scores.micro) == approx3(*(100 * v for v in micro))
        assert prf(scores.macro) == approx3(*(100 * v for v in macro))


@settings(max_examples=300, deadline=None)
@given(gold_and_pred(), st.booleans())
def test_matches_slow_reference_on_random_documents(data, no_overlap):
    gold, pred = data
    report = evaluate_documents(gold, pred, TYPES, no_overlap=no_overlap)
    assert_matches_reference(report, reference_report(gold, pred, TYPES, no_overlap))


def test_matches_slow_reference_on_larger_random_corpus():
    rng = random.Random(13)
    gold, pred = [], []
    for _ in range(200):
        n = rng.randint(1, 30)

        def annotations(n=n):
            ents = []
            for _ in range(rng.randint(0, 8)):
                s = rng.randrange(n)
                ents.append((rng.choice(ENTITY_NAMES), s, min(n, s + rng.randint(1, 4))))
            rels = [
                (rng.choice(RELATION_NAMES), rng.randrange(len(ents)), rng.randrange(len(ents)))
                for _ in range(rng.randint(0, 6) if ents else 0)
            ]
            return ents, rels

        gold.append(doc(n, *annotations()))
        pred.append(doc(n, *annotations()))
    for no_overlap in (False, True):
        report = evaluate_documents(gold, pred, TYPES, no_overlap=no_overlap)
        assert_matches_reference(report, reference_report(gold, pred, TYPES, no_overlap))


# --- real data -------------------------------------------------------------------------------

DATA_DIR = Path(os.environ.get("SPERTMT_DATA_DIR", "/work/shared/data"))
needs_data = pytest.mark.skipif(
    not (DATA_DIR / "conll04" / "conll04_test.json").exists(), reason="benchmark data not present"
)


@needs_data
def test_conll04_test_against_itself_and_a_perturbed_copy():
    from spertmt.data.io import read_documents, read_types

    types = read_types(DATA_DIR / "conll04" / "conll04_types.json")
    gold = read_documents(DATA_DIR / "conll04" / "conll04_test.json", types=types)
    assert len(gold) == 288

    report = evaluate_documents(gold, gold, types)
    for name in SETTINGS:
        scores = getattr(report, name)
        assert prf(scores.micro) == (100.0, 100.0, 100.0)
        assert prf(scores.macro) == (100.0, 100.0, 100.0)
    assert report.entity.support == 1079
    assert report.relation_strict.support == 422
    assert report.relation_strict.per_type["Kill"].support == 47

    # Drop every Kill relation from the predictions: Kill scores 0 and still counts in macro.
    pred = [
        Document(d.tokens, d.entities, tuple(r for r in d.relations if r.type != "Kill"), d.orig_id)
        for d in gold
    ]
    report = evaluate_documents(gold, pred, types)
    assert prf(report.entity.micro) == (100.0, 100.0, 100.0)
    for scores in (report.relation_strict, report.relation_boundaries):
        assert prf(scores.per_type["Kill"]) == (0.0, 0.0, 0.0)
        assert prf(scores.micro) == approx3(100, 100 * 375 / 422, 100 * 750 / 797)
        assert prf(scores.macro) == approx3(80, 80, 80)


@given(gold_and_pred(), st.booleans())
def test_document_counts_sum_to_the_micro_scores(data, no_overlap):
    gold, pred = data
    report = evaluate_documents(gold, pred, TYPES, no_overlap=no_overlap)
    counts = document_counts(gold, pred, TYPES, no_overlap=no_overlap)
    for setting in SETTINGS:
        assert len(counts[setting]) == len(gold)
        correct, n_gold, n_pred = (sum(t[k] for t in counts[setting]) for k in range(3))
        micro = getattr(report, setting).micro
        f1 = 200 * correct / (n_gold + n_pred) if n_gold + n_pred else 0.0
        assert f1 == pytest.approx(micro.f1)
        precision = 100 * correct / n_pred if n_pred else 0.0
        assert precision == pytest.approx(micro.precision)


def test_document_counts_check_the_documents_as_the_evaluator_does():
    with pytest.raises(DataError, match="E150"):
        document_counts([doc(2)], [doc(2), doc(2)], TYPES)
