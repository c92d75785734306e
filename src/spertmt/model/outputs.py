"""What the model returns: typed scores, never decisions.

The ``nn.Module`` (:mod:`spertmt.model.spert`) turns a batch into these objects; decoding
(:mod:`spertmt.decoding`) turns them into entities and relations under a
:class:`~spertmt.config.DecisionRule`. Shapes for ``B`` documents, ``S`` spans, ``P`` pairs,
``K`` entity types and ``R`` relation types.

Scores are never kept in a 16-bit type: a model run under bf16/fp16 autocast
(:mod:`spertmt.runtime.precision`) hands back fp32 logits, so losses, probabilities and the
thresholds of decoding work at full precision whatever the arithmetic of the layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from spertmt.model.pooling import RangeMax

_LOW_PRECISION = (torch.bfloat16, torch.float16)


def full_precision(values: torch.Tensor | None) -> torch.Tensor | None:
    """``values`` as fp32 when it is bf16 or fp16; otherwise unchanged (also float64).

    Example:
        >>> full_precision(torch.ones(2, dtype=torch.bfloat16)).dtype
        torch.float32
        >>> full_precision(torch.ones(2, dtype=torch.float64)).dtype
        torch.float64
    """
    if values is not None and values.dtype in _LOW_PRECISION:
        return values.float()
    return values


def _widen(scores: object, names: tuple[str, ...]) -> None:
    for name in names:
        object.__setattr__(scores, name, full_precision(getattr(scores, name)))


@dataclass(frozen=True)
class EntityScores:
    """Scores of every span of a batch.

    Attributes:
        logits: ``[B, S, K + 1]`` typed entity logits (class 0 = none).
        binary_logits: ``[B, S]`` head A ("is an entity") logits, or ``None`` when A is off.
        iou_logits: ``[B, S]`` head B1 logits (sigmoid = predicted IoU), or ``None``.
    """

    logits: torch.Tensor
    binary_logits: torch.Tensor | None
    iou_logits: torch.Tensor | None

    def __post_init__(self) -> None:
        _widen(self, ("logits", "binary_logits", "iou_logits"))


@dataclass(frozen=True)
class PairScores:
    """Scores of the pairs of a batch.

    Attributes:
        pairs: ``[B, P, 2]`` (head, tail) span indices.
        mask: ``[B, P]`` True for real pairs.
        logits: ``[B, P, R]`` relation-type logits (sigmoid per type; no "none" class).
        binary_logits: ``[B, P]`` head C ("has any relation") logits, or ``None``.
    """

    pairs: torch.Tensor
    mask: torch.Tensor
    logits: torch.Tensor
    binary_logits: torch.Tensor | None

    def __post_init__(self) -> None:
        _widen(self, ("logits", "binary_logits"))


@dataclass(frozen=True)
class SpanState:
    """The span stage of an inference batch: its scores and what the pair stage needs.

    Computed once per batch by :meth:`~spertmt.model.spert.SpertMTModel.score_spans`; pairs
    of any chosen entities are then scored from it by
    :meth:`~spertmt.model.spert.SpertMTModel.score_pairs`, so several decision rules can be
    tried without running the encoder again.

    Attributes:
        spans: ``[B, S, 2]`` word ranges ``[start, end)``.
        span_mask: ``[B, S]`` real spans.
        entities: The span scores.
        words: Range-max table over the word states ``[B, W, H']``.
        pooled: ``[B, S, H']`` span max-pools.
        width: ``[B, S, 25]`` span width embeddings.

    Scored under 16-bit autocast outside autograd, ``words`` and ``pooled`` hold the autocast
    type (what the linear layers that read them would round them to anyway); ``score_pairs``
    outside that autocast turns them back to fp32.
    """

    spans: torch.Tensor
    span_mask: torch.Tensor
    entities: EntityScores
    words: RangeMax
    pooled: torch.Tensor
    width: torch.Tensor


@dataclass
class SpertMTOutput:
    """What a training forward pass computes.

    Attributes:
        entities: Scores of the sampled spans.
        pairs: Scores of the sampled pairs.
        loss: Scalar training loss; set only when labels were given.
        loss_terms: Each loss term as a float (for logging); empty without labels.
    """

    entities: EntityScores
    pairs: PairScores
    loss: torch.Tensor | None = None
    loss_terms: dict[str, float] = field(default_factory=dict)
