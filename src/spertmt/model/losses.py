"""Loss terms: pure functions of model outputs and labels (never call ``backward``).

``L = CE_type + BCE_rel + λ_A·BCE_entity + λ_B·L_IoU + λ_C·BCE_relation`` (method.md §3).
With every SpERT.MT switch off only SpERT's two terms remain, computed exactly as SpERT does:
the mean cross-entropy over sampled spans, and the binary cross-entropy averaged over relation
types, then over sampled pairs (0 for a batch without pairs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from spertmt.config import ModelConfig
from spertmt.sampling import Batch, Labels

if TYPE_CHECKING:
    from spertmt.model.spert import SpertMTOutput


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    count = mask.sum()
    if count == 0:
        return values.sum() * 0.0  # keeps the graph (and the device) for an empty batch
    return (values * mask).sum() / count


def entity_type_weights(labels: Labels, config: ModelConfig) -> torch.Tensor:
    """Per-span weights of the typed cross-entropy, ``[B, S]``.

    Positives weigh 1. Negatives weigh ``entity_negative_weight`` (A: re-weighted negatives,
    1 when A is off) times ``1 + iou_negative_scale · IoU`` under B3 (``iou_mode="weight"``).
    """
    negative = labels.span_types == 0
    weights = torch.ones_like(labels.span_iou)
    if config.entity_binary_head:
        weights = torch.where(negative, weights * config.entity_negative_weight, weights)
    if config.iou_mode == "weight":
        boost = 1.0 + config.iou_negative_scale * labels.span_iou
        weights = torch.where(negative, weights * boost, weights)
    return weights


def compute_losses(
    output: SpertMTOutput, batch: Batch, labels: Labels, config: ModelConfig
) -> dict[str, torch.Tensor]:
    """Compute every active loss term and their weighted sum.

    Args:
        output: Model output for ``batch``.
        batch: The batch (span and pair masks).
        labels: Targets: span classes ``[B, S]``, span IoU ``[B, S]``, pair types ``[B, P, R]``.
        config: Switches and loss weights.

    Returns:
        ``{"entity_type", "relation", ["entity_binary"], ["iou"], ["relation_binary"], "total"}``
        as scalar tensors.
    """
    span_mask = batch.span_mask
    terms: dict[str, torch.Tensor] = {}

    ce = F.cross_entropy(
        output.entity_logits.flatten(0, 1), labels.span_types.flatten(), reduction="none"
    ).view_as(labels.span_types)
    weights = entity_type_weights(labels, config) * span_mask
    weight_sum = weights.sum()
    terms["entity_type"] = (ce * weights).sum() / weight_sum.clamp(min=1e-12)

    bce = F.binary_cross_entropy_with_logits(
        output.relation_logits, labels.pair_types, reduction="none"
    ).mean(-1)
    terms["relation"] = _masked_mean(bce, batch.pair_mask)

    if output.entity_binary_logits is not None:
        if config.iou_mode == "soft_label":
            target = labels.span_iou  # B2: the IoU is the soft label of head A
        else:
            target = (labels.span_types > 0).to(labels.span_iou.dtype)
        loss = F.binary_cross_entropy_with_logits(
            output.entity_binary_logits, target, reduction="none"
        )
        terms["entity_binary"] = _masked_mean(loss, span_mask)

    if output.iou_logits is not None:
        if config.iou_loss == "bce":
            loss = F.binary_cross_entropy_with_logits(
                output.iou_logits, labels.span_iou, reduction="none"
            )
        else:
            loss = (output.iou_logits.sigmoid() - labels.span_iou) ** 2
        terms["iou"] = _masked_mean(loss, span_mask)

    if output.relation_binary_logits is not None:
        target = (labels.pair_types.sum(-1) > 0).to(labels.pair_types.dtype)
        loss = F.binary_cross_entropy_with_logits(
            output.relation_binary_logits, target, reduction="none"
        )
        terms["relation_binary"] = _masked_mean(loss, batch.pair_mask)

    total = terms["entity_type"] + terms["relation"]
    total = total + config.lambda_entity * terms.get("entity_binary", 0.0)
    total = total + config.lambda_iou * terms.get("iou", 0.0)
    total = total + config.lambda_relation * terms.get("relation_binary", 0.0)
    terms["total"] = total
    return terms
