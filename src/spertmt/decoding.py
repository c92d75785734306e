"""From scores to entities and relations under a :class:`~spertmt.config.DecisionRule`.

The model returns scores (:mod:`spertmt.model.outputs`); this module decides, with the rule
passed explicitly to every function. Decision rules (method.md §2 and §3):

- **SpERT**: a span is an entity when its arg-max class is not "none"; its score is that
  class's softmax probability.
- **A** (``entity_binary_head``): the binary head decides. ``gate``: keep when
  ``p_entity ≥ τ_e``; ``product``: keep when ``p_type · p_entity ≥ τ_e``. The type is the
  arg-max over real types, ``p_type`` its probability renormalised over real types.
- **B1** (``iou_mode="head"``): ``gate``: also require predicted IoU ``≥ iou_threshold``;
  ``product``: the score is multiplied by the predicted IoU and must reach ``τ_e``.
- **Overlaps** (``entity_overlap="resolve"``, for flat data): of kept spans that share a word
  only the best-scoring survive, greedily, best first (:func:`resolve_overlaps`).
- **Relations**: a type is kept when its sigmoid ``≥ relation_threshold`` (0.4). With **C**
  (``relation_binary_head``) the pair must also have ``p_pair ≥ τ_r``.
- Relations of a symmetric type are stored once, head = the entity that starts first (SpERT's
  canonical order); of two directions the higher score wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from spertmt.config import DecisionRule
from spertmt.model.outputs import EntityScores, PairScores
from spertmt.model.pairs import kept_spans
from spertmt.schema import Document, Entity, Relation, TypeSchema


@dataclass(frozen=True)
class EntityDecision:
    """Per-span entity decision.

    Attributes:
        keep: ``[B, S]`` True where the span is predicted to be an entity.
        types: ``[B, S]`` entity class (1..K; meaningful where ``keep``).
        scores: ``[B, S]`` confidence of the decision.
    """

    keep: torch.Tensor
    types: torch.Tensor
    scores: torch.Tensor


@dataclass(frozen=True)
class RelationDecision:
    """Per-pair relation decision.

    Attributes:
        keep: ``[B, P, R]`` True for each kept relation type of a pair.
        scores: ``[B, P, R]`` their scores.
    """

    keep: torch.Tensor
    scores: torch.Tensor


def decide_entities(
    scores: EntityScores,
    span_mask: torch.Tensor,
    spans: torch.Tensor,
    rule: DecisionRule,
) -> EntityDecision:
    """Apply the entity decision rule.

    Args:
        scores: Span scores (typed logits ``[B, S, K + 1]``, heads A and B1 ``[B, S]``).
        span_mask: ``[B, S]`` real spans.
        spans: ``[B, S, 2]`` word ranges ``[start, end)`` (for ``entity_overlap``).
        rule: Thresholds and modes.

    Returns:
        The decision per span.
    """
    probs = scores.logits.softmax(-1)
    if scores.binary_logits is None:
        confidence, types = probs.max(-1)
        keep = types > 0
    else:
        real = probs[..., 1:]
        best, best_idx = real.max(-1)
        p_type = best / real.sum(-1).clamp(min=1e-12)
        p_entity = scores.binary_logits.sigmoid()
        types = best_idx + 1
        confidence = p_type * p_entity
        if rule.entity_score == "gate":
            keep = p_entity >= rule.entity_threshold
        else:
            keep = confidence >= rule.entity_threshold
    if scores.iou_logits is not None:
        iou = scores.iou_logits.sigmoid()
        if rule.entity_score == "gate":
            keep = keep & (iou >= rule.iou_threshold)
        else:
            confidence = confidence * iou
            keep = keep & (confidence >= rule.entity_threshold)
    keep = keep & span_mask
    if rule.entity_overlap == "resolve":
        keep = resolve_overlaps(keep, confidence, spans)
    return EntityDecision(keep, types, confidence)


def given_entity_decision(span_mask: torch.Tensor) -> EntityDecision:
    """Relation-only mode: every real span is an entity.

    The given entities keep their own types and scores (:func:`decode_documents` returns them
    unchanged), so the decision's types and scores are placeholders (zeros).
    """
    zeros = torch.zeros(span_mask.shape, dtype=torch.long, device=span_mask.device)
    return EntityDecision(span_mask, zeros, zeros.float())


def resolve_overlaps(keep: torch.Tensor, scores: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Drop every kept span that shares a word with a better surviving one (greedy, best first).

    Spans rank by score, ties to the lower span index. A kept span survives when no surviving
    span ranked above it overlaps it: greedy non-maximum suppression, so of a chain ``a < b < c``
    where only neighbours overlap, ``a`` and ``c`` survive. It runs on the ``k`` kept spans of
    each document (``[B, k, k]`` tensors) in rounds; a round settles every span whose better
    overlapping spans are all settled, so there are as many rounds as the longest such chain,
    not one per span.

    Args:
        keep: ``[B, S]`` kept spans.
        scores: ``[B, S]`` their scores.
        spans: ``[B, S, 2]`` word ranges ``[start, end)``.

    Returns:
        ``[B, S]`` the kept spans that survive.

    Example:
        >>> spans = torch.tensor([[[0, 2], [1, 3], [2, 4], [5, 6]]])
        >>> scores = torch.tensor([[0.6, 0.7, 0.9, 0.5]])
        >>> resolve_overlaps(torch.ones(1, 4, dtype=torch.bool), scores, spans).tolist()
        [[True, False, True, True]]
    """
    order, valid = kept_spans(keep)
    k = order.shape[1]
    if k < 2:
        return keep
    ranges = torch.gather(spans, 1, order.unsqueeze(-1).expand(-1, -1, 2))
    start, end = ranges[..., 0], ranges[..., 1]
    score = torch.gather(scores, 1, order)
    # [b, i, j]: span j overlaps span i and ranks above it (kept slots are in span order).
    overlap = (start.unsqueeze(2) < end.unsqueeze(1)) & (start.unsqueeze(1) < end.unsqueeze(2))
    slot = torch.arange(k, device=keep.device)
    above = (score.unsqueeze(1) > score.unsqueeze(2)) | (
        (score.unsqueeze(1) == score.unsqueeze(2)) & (slot[None, :] < slot[:, None])
    )
    blockers = overlap & above & valid.unsqueeze(1)
    settled = ~valid
    survives = torch.zeros_like(valid)
    while not bool(settled.all()):
        ready = ~settled & ~(blockers & ~settled.unsqueeze(1)).any(-1)
        survives = survives | (ready & ~(blockers & survives.unsqueeze(1)).any(-1))
        settled = settled | ready
    # Padding slots point at distinct spans that were not kept, so the scatter writes each once.
    return torch.zeros_like(keep).scatter(1, order, survives & valid)


def decide_relations(scores: PairScores, rule: DecisionRule) -> RelationDecision:
    """Apply the relation decision rule.

    Args:
        scores: Pair scores (logits ``[B, P, R]``, head C ``[B, P]``, mask ``[B, P]``).
        rule: Thresholds.

    Returns:
        The kept relation types of each pair and their scores (the type's sigmoid).
    """
    probs = scores.logits.sigmoid()
    keep = probs >= rule.relation_threshold
    if scores.binary_logits is not None:
        p_pair = scores.binary_logits.sigmoid().unsqueeze(-1)
        keep = keep & (p_pair >= rule.relation_binary_threshold)
    return RelationDecision(keep & scores.mask.unsqueeze(-1), probs)


def decode_documents(
    docs: Sequence[Document],
    spans: torch.Tensor,
    entity_decision: EntityDecision,
    pairs: torch.Tensor,
    relation_decision: RelationDecision,
    types: TypeSchema,
    *,
    given_entities: Sequence[Sequence[Entity]] | None = None,
) -> list[Document]:
    """Turn decided tensors into new :class:`Document` objects (inputs are not modified).

    Entities are listed by ``(start, end)``; relations by ``(head, tail, type)``. Only the
    predicted entities and relations reach Python objects; the selection is tensor code.

    Args:
        docs: The input documents (tokens, ``orig_id`` and ``text`` are carried over).
        spans: ``[B, S, 2]`` the batch's spans.
        entity_decision: Output of :func:`decide_entities`.
        pairs: ``[B, P, 2]`` scored pairs (span indices).
        relation_decision: Output of :func:`decide_relations` for those pairs.
        types: Type schema (class index → name, symmetric types).
        given_entities: Relation-only mode: the known entities of each document, in the order
            of the batch's spans; they are returned unchanged.

    Returns:
        One predicted document per input document.
    """
    entity_names = ("none", *types.entity_names)
    relation_names = types.relation_names
    symmetric = np.array([t.symmetric for t in types.relation_types], dtype=bool)
    # One device-to-host copy per tensor for the whole batch; per document only NumPy views.
    keep = entity_decision.keep.cpu().numpy()
    spans_np = spans.cpu().numpy()
    if given_entities is None:
        types_np = entity_decision.types.cpu().numpy()
        scores_np = entity_decision.scores.float().cpu().numpy()
    relation_keep, relation_scores = relation_decision.keep, relation_decision.scores
    hits = torch.nonzero(relation_keep).cpu().numpy()  # [N, 3] (doc, pair, type), row-major
    if len(hits):
        pairs_np = pairs.cpu().numpy()
        hit_scores = relation_scores[relation_keep].float().cpu().numpy()  # same order as hits
        bounds = np.searchsorted(hits[:, 0], np.arange(len(docs) + 1))
    results: list[Document] = []
    for b, doc in enumerate(docs):
        kept = np.flatnonzero(keep[b])
        span_to_entity = np.full(keep.shape[1], -1, dtype=np.int64)
        if given_entities is not None:
            entities = list(given_entities[b])
            span_to_entity[kept] = np.arange(len(kept))
        else:
            kept_spans = spans_np[b, kept]
            order = np.lexsort((kept_spans[:, 1], kept_spans[:, 0]))
            kept_types = types_np[b, kept[order]].tolist()
            kept_scores = scores_np[b, kept[order]].tolist()
            entities = [
                Entity(entity_names[kind], start, end, score=round(score, 6))
                for kind, (start, end), score in zip(
                    kept_types, kept_spans[order].tolist(), kept_scores, strict=True
                )
            ]
            span_to_entity[kept[order]] = np.arange(len(order))
        relations: tuple[Relation, ...] = ()
        if len(hits) and bounds[b] < bounds[b + 1]:
            lo, hi = bounds[b], bounds[b + 1]
            relations = _decode_relations(
                pairs_np[b][hits[lo:hi, 1]],
                hits[lo:hi, 2],
                hit_scores[lo:hi],
                span_to_entity,
                entities,
                relation_names,
                symmetric,
            )
        results.append(
            Document(
                tokens=doc.tokens,
                entities=tuple(entities),
                relations=relations,
                orig_id=doc.orig_id,
                text=doc.text,
                token_offsets=doc.token_offsets,
            )
        )
    return results


def _decode_relations(
    pair_spans: np.ndarray,
    rel_types: np.ndarray,
    scores: np.ndarray,
    span_to_entity: np.ndarray,
    entities: Sequence[Entity],
    relation_names: Sequence[str],
    symmetric: np.ndarray,
) -> tuple[Relation, ...]:
    """Relations of one document from its kept ``(pair, type)`` hits, as array code.

    Args:
        pair_spans: ``[N, 2]`` (head, tail) span indices of each hit.
        rel_types: ``[N]`` relation type of each hit.
        scores: ``[N]`` its score.
        span_to_entity: ``[S]`` entity index of each span (``-1`` for no entity).
        entities: The document's entities (their ``start`` orders symmetric relations).
        relation_names: Relation type names by index.
        symmetric: ``[R]`` whether each relation type is symmetric.

    Returns:
        Relations sorted by ``(head, tail, type)``; a symmetric relation predicted in both
        directions appears once, head first by start, with the higher of the two scores.
    """
    head = span_to_entity[pair_spans[:, 0]]
    tail = span_to_entity[pair_spans[:, 1]]
    starts = np.fromiter((e.start for e in entities), np.int64, len(entities))
    swap = symmetric[rel_types] & (starts[tail] < starts[head])
    head, tail = np.where(swap, tail, head), np.where(swap, head, tail)
    # Best score first within each (head, tail, type); keep the first row of each group.
    order = np.lexsort((-scores, rel_types, tail, head))
    head, tail, rel_types, scores = head[order], tail[order], rel_types[order], scores[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (
        (head[1:] != head[:-1]) | (tail[1:] != tail[:-1]) | (rel_types[1:] != rel_types[:-1])
    )
    return tuple(
        Relation(relation_names[t], h, tl, score=round(s, 6))
        for h, tl, t, s in zip(
            head[first].tolist(),
            tail[first].tolist(),
            rel_types[first].tolist(),
            scores[first].tolist(),
            strict=True,
        )
    )
