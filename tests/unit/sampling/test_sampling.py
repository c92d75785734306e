import numpy as np
import pytest
from samples import TYPES

from spertmt.config import ModelConfig
from spertmt.encoding.features import prepare_documents, word_shape
from spertmt.sampling import candidate_spans, inference_batch, span_iou, training_batch
from spertmt.schema import Document, Entity, Relation


def make_doc(n_words=12):
    tokens = tuple(f"w{i}" for i in range(n_words))
    ents = (Entity("Peop", 0, 2), Entity("Loc", 4, 5), Entity("Loc", 7, 9))
    rels = (
        Relation("Live_In", 0, 1),
        Relation("Near", 1, 2),
        Relation("Live_In", 0, 2),
        Relation("Near", 0, 2),
    )
    return Document(tokens, ents, rels)


def test_candidate_spans_match_reference_loop():
    for n in (1, 3, 11, 25):
        expected = [(s, s + w) for s in range(n) for w in range(1, 11) if s + w <= n]
        assert [tuple(x) for x in candidate_spans(n, 10).tolist()] == expected


def test_span_iou_matches_reference():
    rng = np.random.default_rng(0)
    spans = candidate_spans(15, 6)
    gold = np.array([[0, 3], [5, 6], [8, 14]])
    ref = []
    for s, e in spans:
        best = 0.0
        for gs, ge in gold:
            inter = max(0, min(e, ge) - max(s, gs))
            best = max(best, inter / ((e - s) + (ge - gs) - inter))
        ref.append(best)
    assert np.allclose(span_iou(spans, gold), ref)
    assert span_iou(spans, np.zeros((0, 2), np.int64)).sum() == 0
    del rng


def test_word_shapes():
    assert [word_shape(w) for w in ["john", "John", "USA", "McDonald", "3rd", "--", "A"]] == [
        1,
        2,
        3,
        4,
        5,
        6,
        2,
    ]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from spertmt.encoding.encoders import load_tokenizer

    return load_tokenizer(str(tiny_bert_dir))


def test_training_batch_samples_as_spert(tokenizer):
    doc = make_doc()
    prepared = prepare_documents([doc], tokenizer)
    batch, labels = training_batch(
        prepared,
        [doc],
        TYPES,
        ModelConfig(),
        neg_entity_count=100,
        neg_relation_count=100,
        rng=np.random.default_rng(3),
    )
    spans = batch.spans[0][batch.span_mask[0]].tolist()
    types = labels.span_types[0][batch.span_mask[0]].tolist()
    # positives first, with their classes (Peop=1, Loc=2)
    assert spans[:3] == [[0, 2], [4, 5], [7, 9]] and types[:3] == [1, 2, 2]
    negatives = spans[3:]
    all_candidates = [(s, s + w) for s in range(12) for w in range(1, 11) if s + w <= 12]
    assert len(negatives) == len(all_candidates) - 3  # fewer than 100 candidates: all of them
    assert all(t == 0 for t in types[3:])
    assert not {tuple(s) for s in negatives} & {(0, 2), (4, 5), (7, 9)}
    ious = labels.span_iou[0][batch.span_mask[0]]
    assert ious[:3].tolist() == [1.0, 1.0, 1.0] and (ious[3:] < 1).all()

    pairs = batch.pairs[0][batch.pair_mask[0]].tolist()
    pair_types = labels.pair_types[0][batch.pair_mask[0]].tolist()
    by_pair = dict(zip(map(tuple, pairs), pair_types, strict=True))
    assert by_pair[(0, 1)] == [1.0, 0.0]
    assert by_pair[(1, 2)] == [0.0, 1.0]
    assert by_pair[(0, 2)] == [1.0, 1.0]  # multi-hot
    # strong negatives: every other ordered pair of gold entities; as in SpERT, the reverses
    # (2, 1) and (2, 0) of the symmetric "Near" pairs are not relations, so they are negatives
    assert set(by_pair) == {(0, 1), (1, 2), (0, 2), (1, 0), (2, 1), (2, 0)}
    assert by_pair[(1, 0)] == by_pair[(2, 1)] == by_pair[(2, 0)] == [0.0, 0.0]


def reference_pairs(doc, types):
    """SpERT's samples as a loop: positive pairs (multi-hot) and the strong-negative candidates.

    Follows ``input_reader._parse_relations`` (a symmetric relation whose tail starts before its
    head is stored swapped) and ``sampling.create_train_sample`` (positives grouped by stored
    (head, tail); negatives are pairs of distinct spans whose (head span, tail span) is not a
    positive, so the reverse of a symmetric positive is a candidate).
    """
    spans = [(e.start, e.end) for e in doc.entities]
    names = types.relation_names
    positives = {}
    for r in doc.relations:
        head, tail = r.head, r.tail
        if r.type in types.symmetric_relations and spans[head][0] > spans[tail][0]:
            head, tail = tail, head
        target = positives.setdefault((head, tail), [0.0] * len(names))
        target[names.index(r.type)] = 1.0
    pos_spans = {(spans[h], spans[t]) for h, t in positives}
    negatives = set()
    for i, s1 in enumerate(spans):
        for j, s2 in enumerate(spans):
            if s1 != s2 and (s1, s2) not in pos_spans:
                negatives.add((i, j))
    return positives, negatives


def _pair_samples(doc, tokenizer, neg_relation_count, seed=0):
    prepared = prepare_documents([doc], tokenizer)
    batch, labels = training_batch(
        prepared,
        [doc],
        TYPES,
        ModelConfig(),
        neg_entity_count=0,
        neg_relation_count=neg_relation_count,
        rng=np.random.default_rng(seed),
    )
    pairs = batch.pairs[0][batch.pair_mask[0]].tolist()
    targets = labels.pair_types[0][batch.pair_mask[0]].tolist()
    positives = {tuple(p): t for p, t in zip(pairs, targets, strict=True) if sum(t)}
    negatives = [tuple(p) for p, t in zip(pairs, targets, strict=True) if not sum(t)]
    return positives, negatives


def test_pairs_match_spert_rule_on_random_documents(tokenizer):
    rng = np.random.default_rng(11)
    for _ in range(60):
        n_words = int(rng.integers(3, 15))
        n_ents = int(rng.integers(0, 6))
        ents = []
        for _ in range(n_ents):
            start = int(rng.integers(0, n_words))
            ents.append(Entity("Loc", start, int(rng.integers(start + 1, n_words + 1))))
        ents = tuple(dict.fromkeys(ents))
        rels = []
        for _ in range(int(rng.integers(0, 5)) if len(ents) > 1 else 0):
            h, t = rng.choice(len(ents), size=2, replace=False)
            rels.append(Relation(str(rng.choice(["Live_In", "Near"])), int(h), int(t)))
        doc = Document(tuple(f"w{i}" for i in range(n_words)), ents, tuple(dict.fromkeys(rels)))
        positives, negatives = _pair_samples(doc, tokenizer, 1000, seed=int(rng.integers(1000)))
        ref_positives, ref_negatives = reference_pairs(doc, TYPES)
        assert positives == ref_positives
        assert len(negatives) == len(set(negatives))
        assert set(negatives) == ref_negatives


def test_symmetric_relation_annotated_tail_first_is_canonical(tokenizer):
    # "Near" is symmetric; annotated with the later entity (4, 5) as head.
    ents = (Entity("Loc", 0, 2), Entity("Loc", 4, 5))
    doc = Document(tuple(f"w{i}" for i in range(8)), ents, (Relation("Near", 1, 0),))
    positives, negatives = _pair_samples(doc, tokenizer, 100)
    assert positives == {(0, 1): [0.0, 1.0]}
    # the reversed pair is no relation in SpERT: it is drawn as a negative with no type
    assert negatives == [(1, 0)]


def test_symmetric_relation_annotated_both_ways_is_one_positive(tokenizer):
    ents = (Entity("Loc", 0, 2), Entity("Loc", 4, 5))
    rels = (Relation("Near", 1, 0), Relation("Near", 0, 1))
    doc = Document(tuple(f"w{i}" for i in range(8)), ents, rels)
    positives, negatives = _pair_samples(doc, tokenizer, 100)
    assert positives == {(0, 1): [0.0, 1.0]}
    assert negatives == [(1, 0)]


def test_symmetric_relation_with_equal_starts_keeps_annotated_order(tokenizer):
    # SpERT swaps only when the tail starts strictly before the head.
    ents = (Entity("Loc", 2, 3), Entity("Loc", 2, 5))
    doc = Document(tuple(f"w{i}" for i in range(8)), ents, (Relation("Near", 1, 0),))
    positives, negatives = _pair_samples(doc, tokenizer, 100)
    assert positives == {(1, 0): [0.0, 1.0]}
    assert negatives == [(0, 1)]


def test_asymmetric_relation_keeps_annotated_direction(tokenizer):
    ents = (Entity("Peop", 0, 2), Entity("Loc", 4, 5))
    doc = Document(tuple(f"w{i}" for i in range(8)), ents, (Relation("Live_In", 1, 0),))
    positives, negatives = _pair_samples(doc, tokenizer, 100)
    assert positives == {(1, 0): [1.0, 0.0]}
    assert negatives == [(0, 1)]


def test_negative_counts_are_capped_and_seed_determines_sample(tokenizer):
    doc = make_doc(60)
    prepared = prepare_documents([doc], tokenizer)
    kwargs = dict(neg_entity_count=100, neg_relation_count=1)
    b1, _ = training_batch(
        prepared, [doc], TYPES, ModelConfig(), rng=np.random.default_rng(5), **kwargs
    )
    b2, _ = training_batch(
        prepared, [doc], TYPES, ModelConfig(), rng=np.random.default_rng(5), **kwargs
    )
    b3, _ = training_batch(
        prepared, [doc], TYPES, ModelConfig(), rng=np.random.default_rng(6), **kwargs
    )
    assert int(b1.span_mask.sum()) == 103
    assert int(b1.pair_mask.sum()) == 3 + 1  # 3 positive pairs + 1 sampled negative
    assert b1.spans.equal(b2.spans) and not b1.spans.equal(b3.spans)


def test_batches_pad_documents_of_different_lengths(tokenizer):
    docs = [make_doc(12), Document(("a", "b", "c"))]
    prepared = prepare_documents(docs, tokenizer)
    batch = inference_batch(prepared, ModelConfig(max_span_width=4))
    assert batch.spans.shape[0] == 2
    assert int(batch.span_mask[1].sum()) == 6  # 3 + 2 + 1 spans
    assert batch.word_mask.sum(1).tolist() == [12, 3]
    # each real word's pieces point at it, specials and padding at the scratch slot
    for b, p in enumerate(prepared):
        for w in range(p.num_words):
            s, e = p.encoded.word_starts[w], p.encoded.word_ends[w]
            assert (batch.piece_word[b, s:e] == w).all()
        assert batch.piece_word[b, 0] == 12
