"""SpERT and SpERT.MT as one ``nn.Module`` whose switches live in :class:`ModelConfig`.

Representations (method.md §2, SpERT; shapes for ``B`` documents, ``S`` spans, ``P`` pairs):

- word states ``[B, W, H']``: max over each word's pieces (``H' = H`` plus the word-shape
  embedding when ``word_shape`` is on — not in SpERT);
- span ``[B, S, H' + 25]``: max over the span's words ⊕ width embedding;
- entity input ``[B, S, H + H' + 25]``: ``[CLS]`` state ⊕ span (SpERT's order), dropout, one
  linear layer to ``K + 1`` classes (class 0 = none);
- pair input ``[B, P, H' + 2·(H' + 25)]``: context (max over the words strictly between the
  two spans, zeros when there are none) ⊕ head pool ⊕ tail pool ⊕ head width ⊕ tail width,
  dropout, one linear layer to ``R`` relation types (sigmoid, no "none" class).

SpERT.MT additions (method.md §3 — a *reconstruction* from the paper's abstract; each a switch):

- **A** ``entity_binary_head``: a linear "is an entity" head on the entity input.
- **B1** ``iou_mode="head"``: a linear head regressing the span's IoU with the gold spans.
  (B2/B3 change targets and sampling only: :mod:`spertmt.losses`, :mod:`spertmt.sampling`.)
- **C** ``relation_binary_head``: a linear "has any relation" head on the pair input.
- **D** ``entity_logits_in_pair``: the entity classifier's logits (or probabilities) of head and
  tail appended to the pair input, with or without gradient (``pair_entity_grad``).

With every switch off the parameters, inputs and outputs are exactly SpERT's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spertmt.config import ModelConfig
from spertmt.encoder import WindowedEncoder, encoder_from_config, load_encoder
from spertmt.model.pooling import RangeMax, word_max_pool
from spertmt.sampling import NUM_WORD_SHAPES, Batch, Labels
from spertmt.schema import TypeSchema

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass
class SpertMTOutput:
    """What the model computes for a batch.

    Attributes:
        entity_logits: ``[B, S, K + 1]`` typed entity logits (class 0 = none).
        entity_binary_logits: ``[B, S]`` head A logits, or ``None`` when A is off.
        iou_logits: ``[B, S]`` head B1 logits (sigmoid = predicted IoU), or ``None``.
        pairs: ``[B, P, 2]`` (head, tail) span indices that were scored.
        pair_mask: ``[B, P]`` True for real pairs.
        relation_logits: ``[B, P, R]`` relation-type logits.
        relation_binary_logits: ``[B, P]`` head C logits, or ``None`` when C is off.
        loss: Scalar training loss; set only when labels were given.
        loss_terms: Each loss term as a float (for logging); empty without labels.
    """

    entity_logits: torch.Tensor
    entity_binary_logits: torch.Tensor | None
    iou_logits: torch.Tensor | None
    pairs: torch.Tensor
    pair_mask: torch.Tensor
    relation_logits: torch.Tensor
    relation_binary_logits: torch.Tensor | None
    loss: torch.Tensor | None = None
    loss_terms: dict[str, float] = field(default_factory=dict)


class SpertMTModel(nn.Module):
    """Span-based joint entity and relation extraction (SpERT / SpERT.MT).

    Args:
        config: Architecture and decision rule; all SpERT.MT switches off = SpERT.
        types: Entity and relation types (their order fixes the class indices).
        encoder: A Hugging Face encoder (BERT family: BERT, RoBERTa, MPNet, DeBERTa, …).

    Example:
        >>> model = SpertMTModel.build(ModelConfig(), types)  # doctest: +SKIP
        >>> output = model(batch, labels)                      # doctest: +SKIP
        >>> output.loss.backward()                             # doctest: +SKIP
    """

    def __init__(self, config: ModelConfig, types: TypeSchema, encoder: PreTrainedModel) -> None:
        super().__init__()
        self.config = config
        self.types = types
        self.encoder = WindowedEncoder(encoder, max_length=config.max_length)
        hidden = int(encoder.config.hidden_size)
        self.num_entity_classes = len(types.entity_types) + 1
        self.num_relation_types = len(types.relation_types)
        shape_dim = config.word_shape_dim if config.word_shape else 0
        word_dim = hidden + shape_dim
        span_dim = word_dim + config.width_embedding_dim
        entity_in = hidden + span_dim
        pair_in = word_dim + 2 * span_dim
        if config.entity_logits_in_pair:
            pair_in += 2 * self.num_entity_classes

        self.width_embedding = nn.Embedding(config.max_width_embeddings, config.width_embedding_dim)
        self.shape_embedding = nn.Embedding(NUM_WORD_SHAPES, shape_dim) if shape_dim else None
        self.dropout = nn.Dropout(config.dropout)
        self.entity_classifier = nn.Linear(entity_in, self.num_entity_classes)
        self.relation_classifier = nn.Linear(pair_in, self.num_relation_types)
        self.entity_binary = nn.Linear(entity_in, 1) if config.entity_binary_head else None
        self.iou_head = nn.Linear(entity_in, 1) if config.iou_mode == "head" else None
        self.relation_binary = nn.Linear(pair_in, 1) if config.relation_binary_head else None
        self._init_heads(float(getattr(encoder.config, "initializer_range", 0.02)))

    def _init_heads(self, std: float) -> None:
        # SpERT initialises its own layers with BERT's scheme: N(0, std), zero biases.
        heads = [
            self.width_embedding,
            self.shape_embedding,
            self.entity_classifier,
            self.relation_classifier,
            self.entity_binary,
            self.iou_head,
            self.relation_binary,
        ]
        for module in heads:
            if module is None:
                continue
            module.weight.data.normal_(0.0, std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, config: ModelConfig, types: TypeSchema) -> SpertMTModel:
        """Build with the pretrained encoder named by ``config.encoder``."""
        return cls(config, types, load_encoder(config.encoder))

    @classmethod
    def build_from_encoder_config(
        cls, config: ModelConfig, types: TypeSchema, encoder_config: dict[str, Any]
    ) -> SpertMTModel:
        """Build with a randomly initialised encoder (weights come from a checkpoint)."""
        return cls(config, types, encoder_from_config(encoder_config))

    def encoder_config(self) -> dict[str, Any]:
        """The encoder's Hugging Face config as a plain dict (saved in checkpoints)."""
        return self.encoder.model.config.to_dict()

    # ------------------------------------------------------------------ representations
    def _words(self, batch: Batch) -> tuple[RangeMax, torch.Tensor]:
        hidden, cls = self.encoder(batch.input_ids, batch.attention_mask)
        words = word_max_pool(hidden, batch.piece_word, batch.word_mask.shape[1])
        if self.shape_embedding is not None:
            words = torch.cat([words, self.shape_embedding(batch.shapes)], dim=-1)
        return RangeMax(words), cls

    def _span_parts(
        self, ranges: RangeMax, spans: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = ranges.query(spans)
        widths = (spans[..., 1] - spans[..., 0]).clamp(0, self.config.max_width_embeddings - 1)
        return pooled, self.width_embedding(widths)

    def _entity_heads(
        self, cls: torch.Tensor, pooled: torch.Tensor, width: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        context = cls.unsqueeze(1).expand(-1, pooled.shape[1], -1)
        entity_in = self.dropout(torch.cat([context, pooled, width], dim=-1))
        logits = self.entity_classifier(entity_in)
        binary = self.entity_binary(entity_in).squeeze(-1) if self.entity_binary else None
        iou = self.iou_head(entity_in).squeeze(-1) if self.iou_head else None
        return logits, binary, iou

    def _pair_heads(
        self,
        ranges: RangeMax,
        spans: torch.Tensor,
        pooled: torch.Tensor,
        width: torch.Tensor,
        entity_logits: torch.Tensor,
        pairs: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Score pairs ``[B, P, 2]`` (indices into the ``S`` spans)."""

        def take(values: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
            return torch.gather(values, 1, which.unsqueeze(-1).expand(-1, -1, values.shape[-1]))

        head, tail = pairs[..., 0], pairs[..., 1]
        head_span, tail_span = take(spans, head), take(spans, tail)
        # Context: the words strictly between the two spans (empty when they touch or overlap).
        head_first = head_span[..., 1] <= tail_span[..., 0]
        ctx_start = torch.where(head_first, head_span[..., 1], tail_span[..., 1])
        ctx_end = torch.where(head_first, tail_span[..., 0], head_span[..., 0])
        context = ranges.query(torch.stack([ctx_start, ctx_end], dim=-1))
        parts = [
            context,
            take(pooled, head),
            take(pooled, tail),
            take(width, head),
            take(width, tail),
        ]
        if self.config.entity_logits_in_pair:
            feature = entity_logits
            if self.config.pair_entity_feature == "probs":
                feature = feature.softmax(-1)
            if not self.config.pair_entity_grad:
                feature = feature.detach()
            parts += [take(feature, head), take(feature, tail)]
        pair_in = self.dropout(torch.cat(parts, dim=-1))
        logits = self.relation_classifier(pair_in)
        binary = self.relation_binary(pair_in).squeeze(-1) if self.relation_binary else None
        return logits, binary

    # ------------------------------------------------------------------ forward
    def forward(
        self, batch: Batch, labels: Labels | None = None, *, given_entities: bool = False
    ) -> SpertMTOutput:
        """Score spans and pairs; compute the loss when ``labels`` are given.

        In training (``labels`` given) the pairs are ``batch.pairs``. At inference the pairs are
        every ordered pair of predicted entities (or of all given spans with
        ``given_entities=True``), scored in chunks of ``max_pairs_per_chunk``.

        Args:
            batch: Model input (:mod:`spertmt.sampling`).
            labels: Training targets aligned with ``batch``.
            given_entities: Treat every span of the batch as an entity (relation-only mode).

        Returns:
            A :class:`SpertMTOutput`; ``loss`` is set only when ``labels`` were given.
        """
        from spertmt.decoding import decide_entities, entity_pairs
        from spertmt.losses import compute_losses

        ranges, cls = self._words(batch)
        pooled, width = self._span_parts(ranges, batch.spans)
        entity_logits, entity_binary, iou = self._entity_heads(cls, pooled, width)

        if labels is not None or batch.pairs.shape[1] > 0:
            pairs, pair_mask = batch.pairs, batch.pair_mask
            relation_logits, relation_binary = self._pair_heads(
                ranges, batch.spans, pooled, width, entity_logits, pairs
            )
        else:
            if given_entities:
                keep = batch.span_mask
            else:
                keep = decide_entities(
                    entity_logits, entity_binary, iou, batch.span_mask, self.config
                ).keep
            pairs, pair_mask = entity_pairs(keep)
            chunk = self.config.max_pairs_per_chunk
            logit_chunks, binary_chunks = [], []
            for begin in range(0, max(pairs.shape[1], 1), chunk):
                part = pairs[:, begin : begin + chunk]
                logits_part, binary_part = self._pair_heads(
                    ranges, batch.spans, pooled, width, entity_logits, part
                )
                logit_chunks.append(logits_part)
                if binary_part is not None:
                    binary_chunks.append(binary_part)
            relation_logits = torch.cat(logit_chunks, dim=1)
            relation_binary = torch.cat(binary_chunks, dim=1) if binary_chunks else None

        output = SpertMTOutput(
            entity_logits=entity_logits,
            entity_binary_logits=entity_binary,
            iou_logits=iou,
            pairs=pairs,
            pair_mask=pair_mask,
            relation_logits=relation_logits,
            relation_binary_logits=relation_binary,
        )
        if labels is not None:
            terms = compute_losses(output, batch, labels, self.config)
            output.loss = terms["total"]
            output.loss_terms = {name: float(value.detach()) for name, value in terms.items()}
        return output
