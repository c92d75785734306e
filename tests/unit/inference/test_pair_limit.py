"""Pair work is bounded (issue 20): many entities are scored in blocks with progress, equal to
one call over all pairs, and a document over ``max_pairs`` is a coded error before the work."""

import json

import pytest

from spertmt.cli import main
from spertmt.errors import InputError
from spertmt.inference.predictor import MAX_PAIRS, PairLimitError, pair_count
from spertmt.schema import Document, Entity

WORDS = ("John", "Smith", "lives", "in", "Paris", "and", "Anna", "works", "in", "Rome", ".")


def given_document(words: int, orig_id=None) -> tuple[Document, list[Entity]]:
    """A document of ``words`` words with an entity on every word and every two-word span."""
    tokens = tuple(WORDS[i % len(WORDS)] for i in range(words))
    entities = [Entity("Peop" if i % 2 else "Loc", i, i + 1) for i in range(words)]
    entities += [Entity("Loc", i, i + 2) for i in range(0, words - 1, 3)]
    return Document(tokens, orig_id=orig_id), entities


def relations(doc):
    return [(r.type, r.head, r.tail, r.score) for r in doc.relations]


def assert_same_relations(got, expected):
    """The same relations; scores equal up to float rounding (matrix products of another
    size may round the last bit differently)."""
    for doc, want in zip(got, expected, strict=True):
        assert [r[:3] for r in relations(doc)] == [r[:3] for r in relations(want)]
        for r, w in zip(relations(doc), relations(want), strict=True):
            assert r[3] == pytest.approx(w[3], abs=2e-6)


def test_blocks_score_exactly_what_one_call_scores(eager_api, monkeypatch):
    docs, given = zip(*(given_document(n, orig_id=n) for n in (3, 12, 25)), strict=True)
    whole = eager_api.predict(list(docs), entities=list(given), relation_threshold=0.3)
    predicted_whole = eager_api.predict(list(docs), relation_threshold=0.3)
    assert any(doc.relations for doc in whole) and any(doc.relations for doc in predicted_whole)
    calls = []
    monkeypatch.setattr(eager_api.predictor, "pair_block", 60)  # many small blocks
    blocked = eager_api.predict(
        list(docs),
        entities=list(given),
        relation_threshold=0.3,
        pair_progress=lambda done, total: calls.append((done, total)),
    )
    assert_same_relations(blocked, whole)
    assert [d.entities for d in blocked] == [d.entities for d in whole]
    # progress: one call per block, pairs taken so far rising to all pairs of the batch
    total = sum(pair_count(len(g)) for g in given)
    assert len(calls) > 3 and calls[-1] == (total, total)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))
    predicted_blocked = eager_api.predict(list(docs), relation_threshold=0.3)
    assert_same_relations(predicted_blocked, predicted_whole)
    assert [d.entities for d in predicted_blocked] == [d.entities for d in predicted_whole]


def test_given_entities_over_the_limit_fail_before_the_encoder_runs(eager_api, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the encoder ran for a document over the limit")

    monkeypatch.setattr(eager_api.predictor.model, "score_spans", must_not_run)
    small, small_given = given_document(3)
    big, big_given = given_document(30, orig_id="big")
    with pytest.raises(PairLimitError) as info:
        eager_api.predict([small, big], entities=[small_given, big_given], max_pairs=500)
    error = info.value
    assert isinstance(error, InputError) and error.code == "E508"
    assert error.position == 1 and error.pairs == pair_count(len(big_given)) > 500
    assert str(error).startswith(
        f"[E508] input 1 (orig_id big): {len(big_given)} given entities make "
        f"{error.pairs:,} ordered entity pairs, more than the limit of 500 pairs a document"
    )
    assert "--max-pairs" in str(error)


def test_predicted_entities_over_the_limit_are_refused_before_their_pairs(eager_api):
    with pytest.raises(PairLimitError, match=r"\[E508\] input 0, sentence 2: \d+ entities kept by"):
        eager_api.predict("Ann met Bob. John Smith lives in Paris with Anna.", max_pairs=100)


def test_the_default_limit_and_bad_limits(eager_api):
    assert MAX_PAIRS == 10_000_000 and pair_count(3_162) <= MAX_PAIRS < pair_count(3_163)
    for bad in (-1, 2.5, True, "many"):
        with pytest.raises(InputError, match=r"\[E505\] max_pairs must be a whole number"):
            eager_api.predict("Ann met Bob.", max_pairs=bad)
    # 0 pairs: one entity a document at most
    doc = eager_api.predict(
        Document(("Ann", "met", "Bob")), entities=[Entity("Peop", 0, 1)], max_pairs=0
    )
    assert doc.entities == (Entity("Peop", 0, 1),) and doc.relations == ()


def test_cli_max_pairs_names_the_file_and_document_and_keeps_what_was_written(
    eager_checkpoint, tmp_path, capsys
):
    docs = [given_document(3, orig_id=i) for i in range(9)] + [given_document(30, orig_id="big")]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({**doc.to_dict(), "entities": [e.to_dict() for e in ents]}) + "\n"
            for doc, ents in docs
        )
    )
    out = tmp_path / "out.jsonl"
    args = ["predict", "--model", str(eager_checkpoint), str(source), "-o", str(out), "-q"]
    code = main([*args, "--given-entities", "--batch-size", "1", "--max-pairs", "100"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: [E508] {source}, document 9 (orig_id big): 40 given entities")
    assert len(err.splitlines()) == 1
    # the first chunk (8 documents) was finished and is kept; the run did not complete
    kept = (tmp_path / "out.jsonl.partial").read_text().splitlines()
    assert [json.loads(row)["orig_id"] for row in kept] == list(range(8))
    assert not out.exists()


def test_the_facade_applies_the_default_limit_and_evaluation_none(eager_api, monkeypatch):
    import spertmt.inference.api as api

    monkeypatch.setattr(api, "MAX_PAIRS", 100)
    doc, given = given_document(30)
    with pytest.raises(PairLimitError, match=r"more than the limit of 100 pairs"):
        eager_api.predict(doc, entities=given)
    with pytest.raises(PairLimitError):
        list(eager_api.pipe(["John Smith lives in Paris with Anna and Paul in Rome ."]))
    # the predictor under evaluation and training has no limit: an untrained model may keep
    # every span, and evaluation must not stop on it
    gold = Document(doc.tokens, tuple(given))
    [predicted] = eager_api.predictor.predict([gold], given_entities=True)
    assert len(predicted.entities) == len(given)
    report = eager_api.evaluate([Document(doc.tokens, tuple(given[:12]))])
    assert report.entity.micro.f1 >= 0


def test_given_entities_of_a_long_text_are_planned_in_linear_time():
    import time

    from samples import TYPES

    from spertmt.data.text import tokenize_text
    from spertmt.inference.planning import plan_input

    text = "Ann met Bob in Rome. " * 4_000
    words = sum(len(s.tokens) for s in tokenize_text(text))
    # two entities a sentence, and one across each tenth sentence boundary
    given = [Entity("Peop", i, i + 1) for i in range(0, words, 6)]
    given += [Entity("Loc", i, i + 1) for i in range(3, words, 6)]
    given += [Entity("Loc", i - 1, i + 1) for i in range(60, words, 60)]
    started = time.perf_counter()
    plan = plan_input(text, 0, tuple(given), TYPES)
    assert time.perf_counter() - started < 5  # the quadratic version took minutes
    assert len(plan.units) == 4_000 - len(range(60, words, 60))  # crossed boundaries joined
    assert sorted(i for unit in plan.unit_entities for i in unit) == list(range(len(given)))
