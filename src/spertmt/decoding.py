"""From scores to entities and relations: thresholds, pairs, symmetric canonical order.

Decision rules (method.md §2 and §3):

- **SpERT**: a span is an entity when its arg-max class is not "none"; its score is that
  class's softmax probability.
- **A** (``entity_binary_head``): the binary head decides. ``gate``: keep when
  ``p_entity ≥ τ_e``; ``product``: keep when ``p_type · p_entity ≥ τ_e``. The type is the
  arg-max over real types, ``p_type`` its probability renormalised over real types.
- **B1** (``iou_mode="head"``): ``gate``: also require predicted IoU ``≥ iou_threshold``;
  ``product``: the score is multiplied by the predicted IoU and must reach ``τ_e``.
- **Relations**: a type is kept when its sigmoid ``≥ relation_threshold`` (0.4). With **C**
  (``relation_binary_head``), ``gate`` also requires ``p_pair ≥ τ_r``; ``product`` keeps a type
  when ``sigmoid · p_pair ≥ relation_threshold``.
- Relations of a symmetric type are stored once, head = the entity that starts first (SpERT's
  canonical order); of two directions the higher score wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from spertmt.config import ModelConfig
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


def decide_entities(
    entity_logits: torch.Tensor,
    entity_binary_logits: torch.Tensor | None,
    iou_logits: torch.Tensor | None,
    span_mask: torch.Tensor,
    config: ModelConfig,
) -> EntityDecision:
    """Apply the configured entity decision rule.

    Args:
        entity_logits: ``[B, S, K + 1]``.
        entity_binary_logits: ``[B, S]`` (head A) or ``None``.
        iou_logits: ``[B, S]`` (head B1) or ``None``.
        span_mask: ``[B, S]`` real spans.
        config: Thresholds and modes.

    Returns:
        The decision per span.
    """
    probs = entity_logits.softmax(-1)
    if entity_binary_logits is None:
        scores, types = probs.max(-1)
        keep = types > 0
    else:
        real = probs[..., 1:]
        best, best_idx = real.max(-1)
        p_type = best / real.sum(-1).clamp(min=1e-12)
        p_entity = entity_binary_logits.sigmoid()
        types = best_idx + 1
        scores = p_type * p_entity
        if config.entity_score == "gate":
            keep = p_entity >= config.entity_threshold
        else:
            keep = scores >= config.entity_threshold
    if iou_logits is not None:
        iou = iou_logits.sigmoid()
        if config.entity_score == "gate":
            keep = keep & (iou >= config.iou_threshold)
        else:
            scores = scores * iou
            keep = keep & (scores >= config.entity_threshold)
    return EntityDecision(keep & span_mask, types, scores)


def entity_pairs(keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ordered pair ``(i, j)``, ``i ≠ j``, of kept spans, by index arithmetic.

    Args:
        keep: ``[B, S]`` kept spans.

    Returns:
        ``pairs [B, P, 2]`` span indices and ``pair_mask [B, P]``, ``P = max_k k·k`` over the
        batch (``k`` kept spans per document).

    Example:
        >>> pairs, mask = entity_pairs(torch.tensor([[True, False, True]]))
        >>> pairs[mask].tolist()
        [[0, 2], [2, 0]]
    """
    batch, num_spans = keep.shape
    counts = keep.sum(-1)
    k = int(counts.max()) if batch else 0
    # Kept span indices first, in their original order (stable sort on "not kept").
    order = torch.sort((~keep).to(torch.int8), dim=-1, stable=True).indices[:, :k]
    valid = torch.arange(k, device=keep.device)[None, :] < counts[:, None]
    head = order.unsqueeze(2).expand(-1, -1, k)
    tail = order.unsqueeze(1).expand(-1, k, -1)
    mask = (
        valid.unsqueeze(2)
        & valid.unsqueeze(1)
        & ~torch.eye(k, dtype=torch.bool, device=keep.device)
    )
    pairs = torch.stack([head, tail], dim=-1).reshape(batch, k * k, 2)
    return pairs, mask.reshape(batch, k * k)


def decide_relations(
    relation_logits: torch.Tensor,
    relation_binary_logits: torch.Tensor | None,
    pair_mask: torch.Tensor,
    config: ModelConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the configured relation decision rule.

    Args:
        relation_logits: ``[B, P, R]``.
        relation_binary_logits: ``[B, P]`` (head C) or ``None``.
        pair_mask: ``[B, P]`` real pairs.
        config: Thresholds and modes.

    Returns:
        ``keep [B, P, R]`` and ``scores [B, P, R]``.
    """
    probs = relation_logits.sigmoid()
    scores = probs
    keep = probs >= config.relation_threshold
    if relation_binary_logits is not None:
        p_pair = relation_binary_logits.sigmoid().unsqueeze(-1)
        if config.relation_score == "gate":
            keep = keep & (p_pair >= config.relation_binary_threshold)
        else:
            scores = probs * p_pair
            keep = scores >= config.relation_threshold
    return keep & pair_mask.unsqueeze(-1), scores


def decode_documents(
    docs: Sequence[Document],
    spans: torch.Tensor,
    entity_decision: EntityDecision,
    pairs: torch.Tensor,
    relation_keep: torch.Tensor,
    relation_scores: torch.Tensor,
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
        relation_keep: ``[B, P, R]`` kept relation types.
        relation_scores: ``[B, P, R]`` their scores.
        types: Type schema (class index → name, symmetric types).
        given_entities: Relation-only mode: the known entities of each document, in the order
            of the batch's spans; they are returned unchanged.

    Returns:
        One predicted document per input document.
    """
    entity_names = ("none", *types.entity_names)
    relation_names = types.relation_names
    symmetric = np.array([t.symmetric for t in types.relation_types], dtype=bool)
    keep_cpu = entity_decision.keep.cpu()
    results: list[Document] = []
    for b, doc in enumerate(docs):
        kept = torch.nonzero(keep_cpu[b]).flatten()
        kept_spans = spans[b, kept].cpu().numpy()
        if given_entities is not None:
            entities = list(given_entities[b])
            span_to_entity = {int(s): i for i, s in enumerate(kept.tolist())}
        else:
            kept_types = entity_decision.types[b, kept].cpu().numpy()
            kept_scores = entity_decision.scores[b, kept].float().cpu().numpy()
            order: list[int] = (
                np.lexsort((kept_spans[:, 1], kept_spans[:, 0])).tolist() if len(kept) else []
            )
            entities = [
                Entity(
                    entity_names[int(kept_types[i])],
                    int(kept_spans[i, 0]),
                    int(kept_spans[i, 1]),
                    score=round(float(kept_scores[i]), 6),
                )
                for i in order
            ]
            span_to_entity = {int(kept[i]): rank for rank, i in enumerate(order)}
        relations = _decode_relations(
            b,
            pairs,
            relation_keep,
            relation_scores,
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
    b: int,
    pairs: torch.Tensor,
    relation_keep: torch.Tensor,
    relation_scores: torch.Tensor,
    span_to_entity: dict[int, int],
    entities: Sequence[Entity],
    relation_names: Sequence[str],
    symmetric: np.ndarray,
) -> tuple[Relation, ...]:
    hits = torch.nonzero(relation_keep[b]).cpu().numpy()  # [N, 2] (pair, type)
    if len(hits) == 0:
        return ()
    pair_spans = pairs[b].cpu().numpy()[hits[:, 0]]
    scores = relation_scores[b].float().cpu().numpy()[hits[:, 0], hits[:, 1]]
    best: dict[tuple[int, int, int], float] = {}
    for (head_span, tail_span), rel_type, score in zip(pair_spans, hits[:, 1], scores, strict=True):
        head, tail = span_to_entity[int(head_span)], span_to_entity[int(tail_span)]
        if symmetric[rel_type] and entities[tail].start < entities[head].start:
            head, tail = tail, head
        key = (head, tail, int(rel_type))
        if score > best.get(key, -1.0):
            best[key] = float(score)
    return tuple(
        Relation(relation_names[t], h, tl, score=round(s, 6))
        for (h, tl, t), s in sorted(best.items())
    )
