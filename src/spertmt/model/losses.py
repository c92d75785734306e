"""Loss terms: pure functions of model outputs and labels (never call ``backward``).

``L = CE_type + BCE_rel + λ_A·BCE_entity + λ_B·L_IoU + λ_C·BCE_relation`` (method.md §3).
With every SpERT.MT switch off only SpERT's two terms remain, computed exactly as SpERT does:
the mean cross-entropy over sampled spans, and the binary cross-entropy averaged over relation
types, then over sampled pairs (0 for a batch without pairs).

Decoupled multi-task learning (``entity_type_loss`` / ``relation_type_loss = "decoupled"``)
takes the negatives away from the typed classifiers: ``CE_type`` is averaged over the gold
entities and the negatives head A lets through, ``BCE_rel`` over the related pairs and the
negatives head C lets through; heads A and C still learn from every sampled negative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spertmt.config import ModelConfig
from spertmt.model.outputs import SpertMTOutput
from spertmt.sampling import Batch, Labels


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    count = mask.sum()
    if count == 0:
        return values.sum() * 0.0  # keeps the graph (and the device) for an empty batch
    return (values * mask).sum() / count


def _gold_or_let_through(
    gold: torch.Tensor, binary_logits: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Gold items, and the negatives a binary head would let through (no gradient)."""
    return gold | (binary_logits.detach().sigmoid() >= threshold)


def compute_losses(
    output: SpertMTOutput, batch: Batch, labels: Labels, config: ModelConfig
) -> dict[str, torch.Tensor]:
    """Compute every active loss term and their weighted sum.

    Args:
        output: Model output for ``batch``.
        batch: The batch (span and pair masks).
        labels: Targets: span classes ``[B, S]``, span IoU ``[B, S]``, pair types ``[B, P, R]``.
        config: Loss weights.

    Returns:
        ``{"entity_type", "relation", ["entity_binary"], ["iou"], ["relation_binary"], "total"}``
        as scalar tensors.
    """
    span_mask, pair_mask = batch.span_mask, batch.pair_mask
    entities, pairs = output.entities, output.pairs
    terms: dict[str, torch.Tensor] = {}

    typed_spans = span_mask
    if config.entity_type_loss == "decoupled" and entities.binary_logits is not None:
        typed_spans = span_mask & _gold_or_let_through(
            labels.span_types > 0, entities.binary_logits, config.hard_negative_threshold
        )
    ce = F.cross_entropy(
        entities.logits.flatten(0, 1), labels.span_types.flatten(), reduction="none"
    ).view_as(labels.span_types)
    terms["entity_type"] = _masked_mean(ce, typed_spans)

    typed_pairs = pair_mask
    if config.relation_type_loss == "decoupled" and pairs.binary_logits is not None:
        typed_pairs = pair_mask & _gold_or_let_through(
            labels.pair_types.sum(-1) > 0, pairs.binary_logits, config.hard_negative_threshold
        )
    bce = F.binary_cross_entropy_with_logits(
        pairs.logits, labels.pair_types, reduction="none"
    ).mean(-1)
    terms["relation"] = _masked_mean(bce, typed_pairs)

    if entities.binary_logits is not None:
        target = (labels.span_types > 0).to(labels.span_iou.dtype)
        loss = F.binary_cross_entropy_with_logits(entities.binary_logits, target, reduction="none")
        terms["entity_binary"] = _masked_mean(loss, span_mask)

    if entities.iou_logits is not None:
        loss = F.binary_cross_entropy_with_logits(
            entities.iou_logits, labels.span_iou, reduction="none"
        )
        terms["iou"] = _masked_mean(loss, span_mask)

    if pairs.binary_logits is not None:
        target = (labels.pair_types.sum(-1) > 0).to(labels.pair_types.dtype)
        loss = F.binary_cross_entropy_with_logits(pairs.binary_logits, target, reduction="none")
        terms["relation_binary"] = _masked_mean(loss, pair_mask)

    total = terms["entity_type"] + terms["relation"]
    total = total + config.lambda_entity * terms.get("entity_binary", 0.0)
    total = total + config.lambda_iou * terms.get("iou", 0.0)
    total = total + config.lambda_relation * terms.get("relation_binary", 0.0)
    terms["total"] = total
    return terms
