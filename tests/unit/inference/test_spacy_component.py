"""The spaCy component: registered by entry point, entities and relations on Docs, nlp.pipe."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

from spertmt.errors import InputError
from spertmt.schema import Document

TEXTS = ["Ann lives in Rome.", "Bob met Carl in Paris. They like it there.", "Hello"]


def make_nlp(checkpoint, *, sentencizer: bool = False, **config):
    nlp = spacy.blank("en")
    if sentencizer:
        nlp.add_pipe("sentencizer")
    nlp.add_pipe("spertmt", config={"model": str(checkpoint), "device": "cpu", **config})
    return nlp


def annotations(doc, key="spertmt"):
    spans = list(doc.ents) or list(doc.spans.get(key, []))
    return (
        [(s.start, s.end, s.label_) for s in spans],
        [
            (tuple(r["head"]), tuple(r["tail"]), r["type"], round(r["score"], 5))
            for r in doc._.relations
        ],
    )


def test_the_factory_is_registered_through_the_entry_point():
    spacy.blank("en")  # loads the spacy_factories entry points
    assert Language.has_factory("spertmt")
    meta = Language.get_factory_meta("spertmt")
    assert meta.default_config["entity_overlap"] is None


def test_a_blank_pipeline_gets_overlapping_spans_and_relations(eager_checkpoint, eager_api):
    nlp = make_nlp(eager_checkpoint)
    doc = nlp(TEXTS[0])
    expected = eager_api.predict(Document([t.text for t in doc]))
    # The eager model keeps every span: they overlap, so they go to doc.spans, not doc.ents.
    assert not doc.ents
    spans = doc.spans["spertmt"]
    assert [(s.start, s.end, s.label_) for s in spans] == [
        (e.start, e.end, e.type) for e in expected.entities
    ]
    assert spans.attrs["scores"] == pytest.approx([e.score for e in expected.entities])
    keys = {(s.start, s.end, s.label_) for s in spans}
    assert len(doc._.relations) == len(expected.relations) > 0
    for relation in doc._.relations:
        assert relation["head"] in keys and relation["tail"] in keys
        assert 0.0 <= relation["score"] <= 1.0


def test_decision_rule_options(eager_checkpoint):
    nlp = make_nlp(eager_checkpoint, entity_overlap="resolve", relation_threshold=0.999)
    doc = nlp(TEXTS[1])
    ents = list(doc.ents)
    assert ents and not doc.spans.get("spertmt")
    assert all(a.end <= b.start for a, b in zip(ents, ents[1:], strict=False))
    assert doc._.relations == []


def test_with_a_sentencizer_each_sentence_is_one_input(eager_checkpoint, eager_api):
    nlp = make_nlp(eager_checkpoint, sentencizer=True)
    doc = nlp(TEXTS[1])
    sentences = list(doc.sents)
    assert len(sentences) == 2
    spans, relations = annotations(doc)
    for head, tail, _, _ in relations:  # never across sentences
        assert any(s.start <= head[0] and tail[1] <= s.end for s in sentences) or any(
            s.start <= tail[0] and head[1] <= s.end for s in sentences
        )
    expected = eager_api.predict([Document([t.text for t in s]) for s in sentences])
    offset = [s.start for s in sentences]
    assert spans == [
        (offset[k] + e.start, offset[k] + e.end, e.type)
        for k, d in enumerate(expected)
        for e in d.entities
    ]


def test_nlp_pipe_equals_one_doc_at_a_time(eager_checkpoint):
    nlp = make_nlp(eager_checkpoint, sentencizer=True)
    one_by_one = [annotations(nlp(text)) for text in TEXTS]
    batched = [annotations(doc) for doc in nlp.pipe(TEXTS, batch_size=2)]
    assert batched == one_by_one
    empty = nlp("   ")
    assert annotations(empty) == ([], [])


def test_a_missing_model_or_a_bad_option_fails_when_the_pipe_is_added(eager_checkpoint):
    with pytest.raises(InputError) as info:
        spacy.blank("en").add_pipe("spertmt")
    assert info.value.code == "E505"
    with pytest.raises(InputError, match="entity_overlap") as info:
        make_nlp(eager_checkpoint, entity_overlap="sometimes")
    assert info.value.code == "E505"
    for size in (0, -3):
        with pytest.raises(InputError, match="batch_size must be a positive integer") as info:
            make_nlp(eager_checkpoint, batch_size=size)
        assert info.value.code == "E505"


def test_a_second_pass_leaves_no_overlapping_spans_of_the_first(eager_checkpoint):
    # the first pass keeps overlapping spans (doc.spans); the second, resolving overlaps,
    # writes doc.ents: the first pass's spans must not stay beside them
    doc = make_nlp(eager_checkpoint)(TEXTS[1])
    assert doc.spans.get("spertmt") and not doc.ents
    again = make_nlp(eager_checkpoint, entity_overlap="resolve")(doc)
    assert list(again.ents) and "spertmt" not in again.spans
