"""The prediction hot path: array-code decoding equals a reference loop; pair chunking is exact."""

import numpy as np
import pytest
import torch
from samples import TYPES, build_model

from spertmt.config import DecisionRule
from spertmt.decoding import EntityDecision, RelationDecision, decide_entities, decode_documents
from spertmt.encoding.features import prepare_documents
from spertmt.model.pairs import entity_pairs
from spertmt.sampling import inference_batch
from spertmt.schema import Document, Entity, Relation


def score(model, batch, given_entities):
    """The model's two inference stages: spans, then the pairs of the entities (default rule)
    or of every given span."""
    state = model.score_spans(batch)
    if given_entities:
        keep = state.span_mask
    else:
        keep = decide_entities(state.entities, state.span_mask, state.spans, DecisionRule()).keep
    return state, model.score_pairs(state, keep)


def reference_decode(docs, spans, decision, pairs, keep, scores, types, given_entities=None):
    """The obvious loop over spans and (pair, type) cells; slow, for tests only."""
    names = ("none", *types.entity_names)
    results = []
    for b, doc in enumerate(docs):
        kept = [s for s in range(spans.shape[1]) if bool(decision.keep[b, s])]
        if given_entities is not None:
            entities = list(given_entities[b])
            to_entity = {s: i for i, s in enumerate(kept)}
        else:
            order = sorted(kept, key=lambda s: (int(spans[b, s, 0]), int(spans[b, s, 1])))
            entities = [
                Entity(
                    names[int(decision.types[b, s])],
                    int(spans[b, s, 0]),
                    int(spans[b, s, 1]),
                    score=round(float(decision.scores[b, s]), 6),
                )
                for s in order
            ]
            to_entity = {s: i for i, s in enumerate(order)}
        best = {}
        for p in range(pairs.shape[1]):
            for t in range(keep.shape[2]):
                if not bool(keep[b, p, t]):
                    continue
                head, tail = to_entity[int(pairs[b, p, 0])], to_entity[int(pairs[b, p, 1])]
                symmetric = types.relation_types[t].symmetric
                if symmetric and entities[tail].start < entities[head].start:
                    head, tail = tail, head
                score = float(scores[b, p, t])
                if score > best.get((head, tail, t), -1.0):
                    best[(head, tail, t)] = score
        relations = tuple(
            Relation(types.relation_names[t], h, tl, score=round(s, 6))
            for (h, tl, t), s in sorted(best.items())
        )
        results.append(Document(tokens=doc.tokens, entities=tuple(entities), relations=relations))
    return results


def random_case(seed, batch=4, num_spans=14, words=9):
    generator = torch.Generator().manual_seed(seed)
    spans = torch.zeros(batch, num_spans, 2, dtype=torch.long)
    for b in range(batch):
        grid = [(s, e) for s in range(words) for e in range(s + 1, min(words, s + 4) + 1)]
        chosen = torch.randperm(len(grid), generator=generator)[:num_spans]
        spans[b] = torch.tensor([grid[i] for i in chosen])
    keep = torch.rand(batch, num_spans, generator=generator) < 0.5
    keep[0] = False  # a document without entities
    decision = EntityDecision(
        keep,
        torch.randint(1, len(TYPES.entity_types) + 1, (batch, num_spans), generator=generator),
        torch.rand(batch, num_spans, generator=generator),
    )
    pairs, pair_mask = entity_pairs(keep)
    num_types = len(TYPES.relation_types)
    rel_scores = torch.rand(batch, pairs.shape[1], num_types, generator=generator)
    rel_keep = (rel_scores > 0.4) & pair_mask.unsqueeze(-1)
    docs = [Document(tokens=tuple(f"w{i}" for i in range(words))) for _ in range(batch)]
    return docs, spans, decision, pairs, rel_keep, rel_scores


@pytest.mark.parametrize("seed", range(6))
def test_decoding_equals_the_reference_loop(seed):
    docs, spans, decision, pairs, rel_keep, rel_scores = random_case(seed)
    relations = RelationDecision(rel_keep, rel_scores)
    got = decode_documents(docs, spans, decision, pairs, relations, TYPES)
    want = reference_decode(docs, spans, decision, pairs, rel_keep, rel_scores, TYPES)
    assert got == want
    assert any(d.relations for d in got)
    # Symmetric relations (Near) are stored once, head first.
    for doc in got:
        for r in doc.relations:
            if r.type == "Near":
                assert doc.entities[r.head].start <= doc.entities[r.tail].start


def test_decoding_given_entities_equals_the_reference_loop():
    docs, spans, decision, pairs, rel_keep, rel_scores = random_case(11)
    given = []
    for b in range(len(docs)):
        kept = torch.nonzero(decision.keep[b]).flatten().tolist()
        given.append([Entity("Loc", int(spans[b, s, 0]), int(spans[b, s, 1])) for s in kept])
    relations = RelationDecision(rel_keep, rel_scores)
    got = decode_documents(docs, spans, decision, pairs, relations, TYPES, given_entities=given)
    want = reference_decode(
        docs, spans, decision, pairs, rel_keep, rel_scores, TYPES, given_entities=given
    )
    assert got == want


@pytest.mark.parametrize("given_entities", [False, True])
def test_pair_chunks_of_any_size_give_the_same_scores(tiny_bert_dir, given_entities):
    sentences = [
        "John Smith lives in Paris and works .".split(),
        "Rome is old .".split(),
        "Anna met Bob near Lyon .".split(),
    ]
    outputs = []
    for chunk in (30, 100_000):  # 30 pairs = 10 pair slots of each of the 3 sentences
        model, tokenizer = build_model(tiny_bert_dir, max_pairs_per_chunk=chunk)  # same seed
        prepared = prepare_documents([Document(tokens=s) for s in sentences], tokenizer)
        batch = inference_batch(prepared, model.config, pad_id=0)
        with torch.inference_mode():
            outputs.append(score(model, batch, given_entities)[1])
    first = outputs[0]
    assert first.pairs.shape[1] > 1, "the case must hold several pairs"
    for other in outputs[1:]:
        assert torch.equal(other.pairs, first.pairs)
        assert torch.equal(other.mask, first.mask)
        assert torch.allclose(other.logits, first.logits, atol=1e-6)


def test_chunks_hold_at_most_max_pairs_of_the_whole_batch(tiny_bert_dir):
    model, tokenizer = build_model(tiny_bert_dir, max_pairs_per_chunk=10)
    sentences = ["a b c d e f g".split()] * 4
    prepared = prepare_documents([Document(tokens=s) for s in sentences], tokenizer)
    batch = inference_batch(prepared, model.config, pad_id=0)
    seen = []
    original = model._pair_heads_split

    def spy(ranges, spans, terms, pairs, positions):
        seen.append(pairs.shape[0] * pairs.shape[1])
        return original(ranges, spans, terms, pairs, positions)

    model._pair_heads_split = spy
    with torch.inference_mode():
        _, output = score(model, batch, given_entities=True)
    assert output.pairs.shape[1] > 10
    assert seen and max(seen) <= 10 and len(seen) > 1
    assert output.logits.shape[:2] == output.pairs.shape[:2]
    assert np.isfinite(output.logits.numpy()).all()


SWITCHES = [
    {},
    {"entity_binary_head": True, "iou_mode": "head"},
    {"relation_binary_head": True},
    {"entity_logits_in_pair": True, "pair_entity_grad": False},
    {"entity_logits_in_pair": True, "word_shape": True},
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(s) or "spert")
def test_split_heads_equal_spert_concatenation_in_eval_mode(tiny_bert_dir, switches):
    model, tokenizer = build_model(tiny_bert_dir, **switches)
    with torch.no_grad():  # make the small heads matter: random but not tiny
        for head in (model.entity_classifier, model.relation_classifier):
            head.weight.normal_(0.0, 0.5)
    sentences = ["John Smith lives in Paris .".split(), "Anna met Bob near Lyon today .".split()]
    prepared = prepare_documents([Document(tokens=s) for s in sentences], tokenizer)
    batch = inference_batch(prepared, model.config, pad_id=0)
    with torch.inference_mode():
        ranges, cls = model._words(batch)
        pooled, width = model._span_parts(ranges, batch.spans)
        split = model._entity_heads(cls, pooled, width)  # eval mode: the split form
        concat = model._entity_heads_concat(cls, pooled, width)
        for a, b in zip(split, concat, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        state, output = score(model, batch, given_entities=True)
        want = model._pair_heads(
            ranges, batch.spans, pooled, width, state.entities.logits, output.pairs
        )
    assert output.pairs.shape[1] > 0
    torch.testing.assert_close(output.logits, want[0], atol=1e-5, rtol=1e-5)
    if want[1] is None:
        assert output.binary_logits is None
    else:
        torch.testing.assert_close(output.binary_logits, want[1], atol=1e-5, rtol=1e-5)


def test_training_mode_keeps_the_concatenation(tiny_bert_dir, monkeypatch):
    model, tokenizer = build_model(tiny_bert_dir)
    model.train()
    calls = []
    monkeypatch.setattr(model, "_entity_heads_split", lambda *a: calls.append(a))
    monkeypatch.setattr(model, "_pair_heads_split", lambda *a: calls.append(a))
    prepared = prepare_documents([Document(tokens=("Rome", "is", "old"))], tokenizer)
    batch = inference_batch(prepared, model.config, pad_id=0)
    model(batch)
    state = model.score_spans(batch)
    model.score_pairs(state, state.span_mask)
    assert calls == []


def test_range_max_gradient_with_empty_ranges_matches_a_reference():
    from spertmt.model.pooling import RangeMax

    torch.manual_seed(0)
    x = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    ranges = torch.tensor([[[0, 3], [2, 2], [5, 7], [4, 1]], [[1, 6], [0, 1], [3, 3], [6, 7]]])
    got = RangeMax(x).query(ranges)
    weights = torch.randn_like(got)
    (got * weights).sum().backward()
    grad = x.grad.clone()

    x.grad = None
    want = torch.stack(
        [
            torch.stack(
                [
                    x[b, s:e].max(0).values if e > s else x.new_zeros(3)
                    for s, e in ranges[b].tolist()
                ]
            )
            for b in range(2)
        ]
    )
    (want * weights).sum().backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grad, x.grad)
