import numpy as np
import pytest
import torch
from samples import TYPES

from spertmt.config import DecisionRule, ModelConfig
from spertmt.decoding import decide_entities, resolve_overlaps
from spertmt.encoding.features import prepare_documents
from spertmt.inference.predictor import Predictor
from spertmt.model.outputs import EntityScores
from spertmt.model.pairs import entity_pairs
from spertmt.model.spert import SpertMTModel
from spertmt.sampling import training_batch
from spertmt.schema import Document, Entity, Relation

DOCS = [
    Document(
        ("John", "Smith", "lives", "in", "Paris", "near", "Lyon", "."),
        (Entity("Peop", 0, 2), Entity("Loc", 4, 5), Entity("Loc", 6, 7)),
        (Relation("Live_In", 0, 1), Relation("Near", 1, 2)),
    ),
    Document(
        ("Anna", "moved", "to", "Rome"),
        (Entity("Peop", 0, 1), Entity("Loc", 3, 4)),
        (Relation("Live_In", 0, 1),),
    ),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from spertmt.encoding.encoders import load_tokenizer

    return load_tokenizer(str(tiny_bert_dir))


def build(tiny_bert_dir, **switches):
    from spertmt.encoding.encoders import load_encoder

    torch.manual_seed(0)
    return SpertMTModel(ModelConfig(**switches), TYPES, load_encoder(str(tiny_bert_dir)))


def reference_spert(model, tokenizer, batch, prepared):
    """SpERT's forward written as plain loops over spans and pairs (eval mode)."""
    hidden, cls = model.encoder(batch.input_ids, batch.attention_mask)
    entity_logits, relation_logits = [], []
    for b, p in enumerate(prepared):
        starts, ends = p.encoded.word_starts, p.encoded.word_ends
        reprs = []
        for s, e in batch.spans[b].tolist():
            pooled = hidden[b, starts[s] : ends[e - 1]].max(0).values
            reprs.append((pooled, model.width_embedding.weight[e - s]))
        entity_logits.append(
            torch.stack(
                [model.entity_classifier(torch.cat([cls[b], pool, w])) for pool, w in reprs]
            )
        )
        rows = []
        for h, t in batch.pairs[b].tolist():
            (hs, he), (ts, te) = batch.spans[b, h].tolist(), batch.spans[b, t].tolist()
            lo, hi = (
                (ends[he - 1], starts[ts])
                if he <= ts
                else (ends[te - 1], starts[hs])
                if te <= hs
                else (0, 0)
            )
            ctx = hidden[b, lo:hi].max(0).values if hi > lo else torch.zeros(hidden.shape[-1])
            rows.append(
                model.relation_classifier(
                    torch.cat([ctx, reprs[h][0], reprs[t][0], reprs[h][1], reprs[t][1]])
                )
            )
        relation_logits.append(torch.stack(rows))
    return entity_logits, relation_logits


def test_all_switches_off_reproduces_spert_reference_forward(tiny_bert_dir, tokenizer):
    model = build(tiny_bert_dir).eval()
    prepared = prepare_documents(DOCS, tokenizer)
    batch, labels = training_batch(
        prepared,
        DOCS,
        TYPES,
        model.config,
        neg_entity_count=10,
        neg_relation_count=10,
        rng=np.random.default_rng(0),
    )
    with torch.no_grad():
        out = model(batch, labels)
        ref_entities, ref_relations = reference_spert(model, tokenizer, batch, prepared)
    for b in range(2):
        n_spans, n_pairs = int(batch.span_mask[b].sum()), int(batch.pair_mask[b].sum())
        assert torch.allclose(
            out.entities.logits[b, :n_spans], ref_entities[b][:n_spans], atol=1e-5
        )
        assert torch.allclose(out.pairs.logits[b, :n_pairs], ref_relations[b][:n_pairs], atol=1e-5)
    # A SpERT model has no binary heads: its scores carry none
    assert out.entities.binary_logits is None and out.entities.iou_logits is None
    assert out.pairs.binary_logits is None
    assert set(out.loss_terms) == {"entity_type", "relation", "total"}
    # SpERT has exactly these trainable parts besides the encoder
    heads = {n.split(".")[0] for n, _ in model.named_parameters() if not n.startswith("encoder.")}
    assert heads == {"width_embedding", "entity_classifier", "relation_classifier"}


@pytest.mark.parametrize(
    ("switches", "rule"),
    [
        (dict(entity_binary_head=True), {}),
        (dict(iou_mode="head"), {}),
        (dict(iou_mode="head"), dict(entity_score="product")),
        (dict(relation_binary_head=True), {}),
        (dict(entity_logits_in_pair=True, pair_entity_grad=False), {}),
        (dict(word_shape=True), {}),
        (
            dict(
                entity_binary_head=True,
                iou_mode="head",
                relation_binary_head=True,
                entity_logits_in_pair=True,
            ),
            dict(entity_score="product"),
        ),
    ],
)
def test_every_switch_trains_and_predicts(tiny_bert_dir, tokenizer, switches, rule):
    model = build(tiny_bert_dir, **switches)
    prepared = prepare_documents(DOCS, tokenizer)
    batch, labels = training_batch(
        prepared,
        DOCS,
        TYPES,
        model.config,
        neg_entity_count=20,
        neg_relation_count=20,
        rng=np.random.default_rng(0),
    )
    out = model(batch, labels)
    out.loss.backward()
    expected_terms = {"entity_type", "relation", "total"}
    if model.config.entity_binary_head:
        expected_terms.add("entity_binary")
    if model.config.iou_mode == "head":
        expected_terms.add("iou")
    if model.config.relation_binary_head:
        expected_terms.add("relation_binary")
    assert set(out.loss_terms) == expected_terms
    assert all(np.isfinite(v) for v in out.loss_terms.values())
    preds = Predictor(model, tokenizer).predict(DOCS, rule=DecisionRule(**rule))
    assert [p.tokens for p in preds] == [d.tokens for d in DOCS]


def test_d_gradient_switch_controls_flow_into_entity_classifier(tiny_bert_dir, tokenizer):
    prepared = prepare_documents(DOCS, tokenizer)
    for grad in (True, False):
        model = build(tiny_bert_dir, entity_logits_in_pair=True, pair_entity_grad=grad, dropout=0.0)
        batch, labels = training_batch(
            prepared,
            DOCS,
            TYPES,
            model.config,
            neg_entity_count=5,
            neg_relation_count=5,
            rng=np.random.default_rng(0),
        )
        out = model(batch, labels)
        (out.pairs.logits * batch.pair_mask.unsqueeze(-1)).sum().backward()
        has_grad = (
            model.entity_classifier.weight.grad is not None
            and model.entity_classifier.weight.grad.abs().sum() > 0
        )
        assert has_grad == grad


def test_training_overfits_two_sentences_and_decodes_them(tiny_bert_dir, tokenizer):
    model = build(tiny_bert_dir, dropout=0.0)
    prepared = prepare_documents(DOCS, tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(150):
        batch, labels = training_batch(
            prepared,
            DOCS,
            TYPES,
            model.config,
            neg_entity_count=100,
            neg_relation_count=100,
            rng=rng,
        )
        optimizer.zero_grad()
        model(batch, labels).loss.backward()
        optimizer.step()
    preds = Predictor(model, tokenizer).predict(DOCS)
    for gold, pred in zip(DOCS, preds, strict=True):
        assert [(e.type, e.start, e.end) for e in pred.entities] == [
            (e.type, e.start, e.end) for e in gold.entities
        ]
        gold_rels = {(r.type, r.head, r.tail) for r in gold.relations}
        pred_rels = {(r.type, r.head, r.tail) for r in pred.relations}
        assert gold_rels <= pred_rels
        # The only pairs training never sees are the reverses of symmetric gold pairs (SpERT
        # does not sample them as negatives), so any extra prediction must sit on one of them.
        untrained = {(r.tail, r.head) for r in gold.relations if r.type == "Near"}
        assert all((h, t) in untrained for _, h, t in pred_rels - gold_rels)
        assert all(0 <= e.score <= 1 for e in pred.entities)


def test_entity_pairs_match_reference_loop():
    rng = np.random.default_rng(0)
    keep = torch.from_numpy(rng.random((3, 9)) < 0.5)
    keep[2] = False
    pairs, mask = entity_pairs(keep)
    for b in range(3):
        kept = torch.nonzero(keep[b]).flatten().tolist()
        expected = {(i, j) for i in kept for j in kept if i != j}
        assert {tuple(p) for p in pairs[b][mask[b]].tolist()} == expected
        assert int(mask[b].sum()) == len(expected)


def test_decision_rules():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    spans = torch.tensor([[[0, 1], [1, 2]]])
    rule = DecisionRule()
    spert = decide_entities(EntityScores(logits, None, None), mask, spans, rule)
    assert spert.keep.tolist() == [[False, True]] and spert.types[0, 1] == 1
    binary = torch.tensor([[3.0, -3.0]])  # A overrides the typed "none"
    a = decide_entities(EntityScores(logits, binary, None), mask, spans, rule)
    assert a.keep.tolist() == [[True, False]]
    iou = torch.tensor([[5.0, -5.0]])
    b1 = decide_entities(EntityScores(logits, None, iou), mask, spans, rule)
    assert b1.keep.tolist() == [[False, False]]


def _greedy_reference(keep, scores, spans):
    """Plain-loop greedy non-maximum suppression: best score first, ties to the lower index."""
    out = torch.zeros_like(keep)
    for b in range(keep.shape[0]):
        ranked = sorted(
            (i for i in range(keep.shape[1]) if keep[b, i]), key=lambda i: (-scores[b, i], i)
        )
        taken = []
        for i in ranked:
            start, end = spans[b, i].tolist()
            if all(end <= s or e <= start for s, e in (spans[b, j].tolist() for j in taken)):
                taken.append(i)
                out[b, i] = True
    return out


def test_resolve_overlaps_matches_greedy_reference():
    rng = np.random.default_rng(0)
    for _ in range(20):
        starts = torch.from_numpy(rng.integers(0, 12, size=(4, 30)))
        spans = torch.stack([starts, starts + torch.from_numpy(rng.integers(1, 4, (4, 30)))], -1)
        # scores on a coarse grid, so ties occur and must break by span index
        scores = torch.from_numpy(rng.integers(0, 5, size=(4, 30)) / 4).float()
        keep = torch.from_numpy(rng.random((4, 30)) < 0.5)
        keep[3] = False
        keep[2] = False
        keep[2, 7] = True
        got = resolve_overlaps(keep, scores, spans)
        assert torch.equal(got, _greedy_reference(keep, scores, spans))


def test_entity_overlap_switch_in_the_decision_rule():
    # three spans in a chain: [0,2) and [1,3) overlap, [1,3) and [2,4) overlap
    logits = torch.tensor([[[0.0, 2.0, 0.0], [0.0, 3.0, 0.0], [0.0, 1.0, 0.0]]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    spans = torch.tensor([[[0, 2], [1, 3], [2, 4]]])
    scores = EntityScores(logits, None, None)
    allow = decide_entities(scores, mask, spans, DecisionRule())
    assert allow.keep.tolist() == [[True, True, True]]
    resolve = DecisionRule(entity_overlap="resolve")
    kept = decide_entities(scores, mask, spans, resolve)
    assert kept.keep.tolist() == [[False, True, False]]


def test_predictions_without_overlaps_when_resolving(tiny_bert_dir, tokenizer):
    def overlapping(doc):
        ents = doc.entities
        return any(
            a.start < b.end and b.start < a.end for i, a in enumerate(ents) for b in ents[i + 1 :]
        )

    # An untrained binary head at threshold 0 keeps every span, nested ones included.
    predictor = Predictor(build(tiny_bert_dir, entity_binary_head=True), tokenizer)
    allow = DecisionRule(entity_threshold=0.0)
    assert any(overlapping(d) for d in predictor.predict(DOCS, rule=allow))
    preds = predictor.predict(DOCS, rule=allow.replace(entity_overlap="resolve"))
    assert all(d.entities and not overlapping(d) for d in preds)
    for doc in preds:
        assert all(r.head < len(doc.entities) and r.tail < len(doc.entities) for r in doc.relations)


def test_decision_rule_is_not_part_of_the_model(tiny_bert_dir, tokenizer):
    """The decision rule is a value apart from the architecture: re-scoring a trained model
    with any rule leaves its configuration and parameters alone."""
    from dataclasses import fields

    rule_fields = {f.name for f in fields(DecisionRule)}
    assert not rule_fields & {f.name for f in fields(ModelConfig)}
    changed = dict(
        entity_threshold=0.9,
        iou_threshold=0.1,
        relation_binary_threshold=0.2,
        relation_threshold=0.3,
        entity_score="product",
        entity_overlap="resolve",
    )
    assert set(changed) == rule_fields
    assert all(getattr(DecisionRule(), k) != v for k, v in changed.items())
    model = build(
        tiny_bert_dir, entity_binary_head=True, iou_mode="head", relation_binary_head=True
    )
    config = model.config
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Predictor(model, tokenizer).predict(DOCS, rule=DecisionRule().replace(**changed))
    assert model.config is config
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
