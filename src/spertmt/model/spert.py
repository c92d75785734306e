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
- **C** ``relation_binary_head``: a linear "has any relation" head on the pair input.
- **D** ``entity_logits_in_pair``: the entity classifier's logits of head and tail appended to
  the pair input, with or without gradient (``pair_entity_grad``).
- **decoupled** ``entity_type_loss`` / ``relation_type_loss``: the typed classifiers learn only
  from gold items and the negatives heads A / C let through (:mod:`spertmt.model.losses`);
  at inference A and C filter and the typed heads label (:mod:`spertmt.decoding`).
- **B1 → classifier** ``iou_in_classifier``: head B1's predicted IoU (sigmoid, detached) is
  one more input of the typed entity classifier: ``logits += W_iou · IoU`` with
  ``W_iou [K + 1, 1]`` (``iou_to_type``).

The model returns scores (:mod:`spertmt.model.outputs`); the decision rule is applied by
:mod:`spertmt.decoding`, never here.

With every switch off the parameters, inputs and outputs are exactly SpERT's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spertmt.config import ModelConfig
from spertmt.encoding.encoders import WindowedEncoder, encoder_from_config, load_encoder
from spertmt.encoding.features import NUM_WORD_SHAPES
from spertmt.model.embedding import use_row_gradients
from spertmt.model.losses import compute_losses
from spertmt.model.outputs import EntityScores, PairScores, SpanState, SpertMTOutput
from spertmt.model.pairs import entity_pairs, kept_spans
from spertmt.model.pooling import RangeMax, word_max_pool
from spertmt.sampling import Batch, Labels
from spertmt.schema import TypeSchema

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class SpertMTModel(nn.Module):
    """Span-based joint entity and relation extraction (SpERT / SpERT.MT): scores, no decisions.

    Training calls :meth:`forward` on sampled spans and pairs. Inference runs in two steps so
    that decoding decides in between: :meth:`score_spans` scores every candidate span, the
    decision rule picks the entities (:func:`spertmt.decoding.decide_entities`), and
    :meth:`score_pairs` scores every ordered pair of them.

    Args:
        config: Architecture and loss weights; all SpERT.MT switches off = SpERT.
        types: Entity and relation types (their order fixes the class indices).
        encoder: A Hugging Face encoder (BERT family: BERT, RoBERTa, MPNet, DeBERTa, …).

    Example:
        >>> model = SpertMTModel.build(ModelConfig(), types)  # doctest: +SKIP
        >>> output = model(batch, labels)                      # doctest: +SKIP
        >>> output.loss.backward()                             # doctest: +SKIP
        >>> state = model.score_spans(inference_batch)         # doctest: +SKIP
        >>> pairs = model.score_pairs(state, keep)             # doctest: +SKIP
    """

    def __init__(self, config: ModelConfig, types: TypeSchema, encoder: PreTrainedModel) -> None:
        super().__init__()
        self.config = config
        self.types = types
        self.encoder = WindowedEncoder(encoder, max_length=config.max_length)
        use_row_gradients(encoder.get_input_embeddings())  # see spertmt.model.embedding
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
        self.iou_to_type = (
            nn.Linear(1, self.num_entity_classes, bias=False) if config.iou_in_classifier else None
        )
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
            self.iou_to_type,
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
        low = _inference_autocast_dtype(words.device.type)
        if low is not None:
            # Every use of the pooled word states is a linear layer, which autocast feeds in
            # ``low``; rounding is monotone, so max-pooling rounded states gives exactly the
            # rounded max-pool those layers would see, at half the memory traffic.
            words = words.to(low)
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
        if not self.training:
            return self._entity_heads_split(cls, pooled, width)
        return self._entity_heads_concat(cls, pooled, width)

    def _entity_heads_concat(
        self, cls: torch.Tensor, pooled: torch.Tensor, width: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """SpERT's form: ``[CLS] ⊕ span ⊕ width`` → dropout → linear (used in training)."""
        context = cls.unsqueeze(1).expand(-1, pooled.shape[1], -1)
        entity_in = self.dropout(torch.cat([context, pooled, width], dim=-1))
        logits = self.entity_classifier(entity_in)
        binary = self.entity_binary(entity_in).squeeze(-1) if self.entity_binary else None
        iou = self.iou_head(entity_in).squeeze(-1) if self.iou_head else None
        return self._with_iou(logits, iou), binary, iou

    def _with_iou(self, logits: torch.Tensor, iou: torch.Tensor | None) -> torch.Tensor:
        """Add the predicted IoU's term to the typed logits (``iou_in_classifier``)."""
        if self.iou_to_type is None or iou is None:
            return logits
        return logits + self.iou_to_type(iou.detach().sigmoid().unsqueeze(-1))

    def _entity_heads_split(
        self, cls: torch.Tensor, pooled: torch.Tensor, width: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The same heads without dropout, computed without the ``[B, S, H + H' + 25]`` input.

        A linear layer over a concatenation is the sum of linear layers over its parts, so the
        ``[CLS]`` part is computed once per document instead of once per span, and the
        concatenated input is never built. All heads on the entity input run as one stacked
        matrix. Equal to :meth:`_entity_heads_concat` in eval mode up to float rounding.
        """
        heads = [self.entity_classifier, self.entity_binary, self.iou_head]
        weight, bias, sizes = _stack(heads)
        w_cls, w_span, w_width = weight.split(
            [cls.shape[-1], pooled.shape[-1], width.shape[-1]], dim=1
        )
        out = nn.functional.linear(pooled, w_span) + nn.functional.linear(width, w_width)
        out = out + nn.functional.linear(cls, w_cls, bias).unsqueeze(1)
        parts = iter(out.split(sizes, dim=-1))
        logits = next(parts)
        binary = next(parts).squeeze(-1) if self.entity_binary is not None else None
        iou = next(parts).squeeze(-1) if self.iou_head is not None else None
        return self._with_iou(logits, iou), binary, iou

    def _pair_span_terms(
        self, pooled: torch.Tensor, width: torch.Tensor, entity_logits: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
        """Per-span parts of the pair heads, for :meth:`_pair_heads_split`.

        Args:
            pooled: ``[B, k, H']`` span pools of the spans that can be paired (the entities).
            width: ``[B, k, 25]`` their width embeddings.
            entity_logits: ``[B, k, K + 1]`` their entity logits (for switch D).

        Returns:
            ``w_context [O, H']``, ``bias [O]``, ``as_head [B, k, O]``, ``as_tail [B, k, O]``
            and the output sizes of the stacked heads (``O = R (+ 1 with head C)``).
        """
        weight, bias, sizes = _stack([self.relation_classifier, self.relation_binary])
        word, span_width = pooled.shape[-1], width.shape[-1]
        splits = [word, word, word, span_width, span_width]
        feature = entity_logits if self.config.entity_logits_in_pair else None
        if feature is not None:
            splits += [feature.shape[-1], feature.shape[-1]]
        w = weight.split(splits, dim=1)
        linear = nn.functional.linear
        as_head = linear(pooled, w[1]) + linear(width, w[3])
        as_tail = linear(pooled, w[2]) + linear(width, w[4])
        if feature is not None:
            as_head = as_head + linear(feature, w[5])
            as_tail = as_tail + linear(feature, w[6])
        return w[0], bias, as_head, as_tail, sizes

    def _pair_heads_split(
        self,
        ranges: RangeMax,
        spans: torch.Tensor,
        terms: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[int]],
        pairs: torch.Tensor,
        positions: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Score pairs ``[B, C, 2]`` from per-entity terms; only the context is per pair.

        Equal to :meth:`_pair_heads` in eval mode up to float rounding, without building the
        ``[B, C, H' + 2·(H' + 25)]`` pair input: per pair it gathers two ``[O]`` vectors and
        pools the context.

        Args:
            ranges: Range-max table over the word states.
            spans: ``[B, S, 2]`` spans.
            terms: :meth:`_pair_span_terms` of the ``k`` entities (``as_head``/``as_tail``
                ``[B, k, O]``).
            pairs: ``[B, C, 2]`` span indices of head and tail.
            positions: ``[B, C]`` (or ``[1, C]``) positions of head and tail among the ``k``.
        """
        w_context, bias, as_head, as_tail, sizes = terms
        context = ranges.query(_context_ranges(spans, pairs[..., 0], pairs[..., 1]))
        out = nn.functional.linear(context, w_context, bias)
        head_pos, tail_pos = (p.expand(pairs.shape[0], -1) for p in positions)
        out = out + _take(as_head, head_pos) + _take(as_tail, tail_pos)
        logits, *rest = out.split(sizes, dim=-1)
        binary = rest[0].squeeze(-1) if rest else None
        return logits, binary

    def _pair_heads(
        self,
        ranges: RangeMax,
        spans: torch.Tensor,
        pooled: torch.Tensor,
        width: torch.Tensor,
        entity_logits: torch.Tensor,
        pairs: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Score pairs ``[B, P, 2]`` (indices into the ``S`` spans): SpERT's concatenation."""
        take = _take
        head, tail = pairs[..., 0], pairs[..., 1]
        context = ranges.query(_context_ranges(spans, head, tail))
        parts = [
            context,
            take(pooled, head),
            take(pooled, tail),
            take(width, head),
            take(width, tail),
        ]
        if self.config.entity_logits_in_pair:
            feature = entity_logits
            if not self.config.pair_entity_grad:
                feature = feature.detach()
            parts += [take(feature, head), take(feature, tail)]
        pair_in = self.dropout(torch.cat(parts, dim=-1))
        logits = self.relation_classifier(pair_in)
        binary = self.relation_binary(pair_in).squeeze(-1) if self.relation_binary else None
        return logits, binary

    # ------------------------------------------------------------------ training
    def forward(self, batch: Batch, labels: Labels | None = None) -> SpertMTOutput:
        """Score the batch's spans and its pairs (``batch.pairs``); the loss with ``labels``.

        The stages are labelled for ``torch.profiler`` as ``spertmt.encoder``,
        ``spertmt.entities`` and ``spertmt.pairs`` (free when no profiler runs).

        Args:
            batch: Sampled spans and pairs (:func:`spertmt.sampling.training_batch`).
            labels: Training targets aligned with ``batch``.

        Returns:
            A :class:`SpertMTOutput`; ``loss`` is set only when ``labels`` were given.
        """
        with torch.profiler.record_function("spertmt.encoder"):
            ranges, cls = self._words(batch)
        with torch.profiler.record_function("spertmt.entities"):
            pooled, width = self._span_parts(ranges, batch.spans)
            entity_logits, entity_binary, iou = self._entity_heads(cls, pooled, width)
        with torch.profiler.record_function("spertmt.pairs"):
            relation_logits, relation_binary = self._pair_heads(
                ranges, batch.spans, pooled, width, entity_logits, batch.pairs
            )
        output = SpertMTOutput(
            entities=EntityScores(entity_logits, entity_binary, iou),
            pairs=PairScores(batch.pairs, batch.pair_mask, relation_logits, relation_binary),
        )
        if labels is not None:
            terms = compute_losses(output, batch, labels, self.config)
            output.loss = terms["total"]
            output.loss_terms = {name: float(value.detach()) for name, value in terms.items()}
        return output

    # ------------------------------------------------------------------ inference
    def score_spans(self, batch: Batch) -> SpanState:
        """Run the encoder and the entity heads over every span of ``batch``.

        Args:
            batch: An inference batch (:func:`spertmt.sampling.inference_batch`).

        Returns:
            The span scores and the representations :meth:`score_pairs` needs.
        """
        with torch.profiler.record_function("spertmt.encoder"):
            ranges, cls = self._words(batch)
        with torch.profiler.record_function("spertmt.entities"):
            pooled, width = self._span_parts(ranges, batch.spans)
            logits, binary, iou = self._entity_heads(cls, pooled, width)
        return SpanState(
            spans=batch.spans,
            span_mask=batch.span_mask,
            entities=EntityScores(logits, binary, iou),
            words=ranges,
            pooled=pooled,
            width=width,
        )

    def score_pairs(self, state: SpanState, keep: torch.Tensor) -> PairScores:
        """Score every ordered pair of the kept spans, in chunks.

        Pairs are every ordered pair ``(i, j)``, ``i ≠ j``, of kept spans
        (:func:`entity_pairs`), ``P = max_b k_b²``. They are scored ``C`` pair slots at a time
        with ``C = max(1, max_pairs_per_chunk // B)``, so one chunk holds at most
        ``max_pairs_per_chunk`` pairs of the whole batch (``[B, C, pair_in]``) and memory stays
        bounded however many entities a sentence has (SpERT's chunking, made independent of
        the batch size).

        Args:
            state: :meth:`score_spans` of the batch.
            keep: ``[B, S]`` the spans that are entities (a decision, or the given spans).

        Returns:
            The pair scores, pairs ``[B, P, 2]`` in row-major order over each document's
            ``k × k`` grid of kept spans.
        """
        with torch.profiler.record_function("spertmt.pairs"):
            pairs, pair_mask = entity_pairs(keep)
            ranges, spans = state.words, state.spans
            pooled, width, entity_logits = state.pooled, state.width, state.entities.logits
            if pooled.dtype != width.dtype and not torch.is_autocast_enabled(pooled.device.type):
                # A span stage run under autocast, its pairs outside it: full precision.
                ranges, pooled = ranges.to(width.dtype), pooled.to(width.dtype)
            rows = max(1, pairs.shape[0])
            chunk = max(1, self.config.max_pairs_per_chunk // rows)
            terms = None
            if not self.training:
                # Without dropout the per-entity parts of the pair heads are computed once,
                # for the k kept spans only; pair p = i·k + j joins entities i and j.
                order, _ = kept_spans(keep)
                k = max(1, order.shape[1])
                terms = self._pair_span_terms(
                    _take(pooled, order), _take(width, order), _take(entity_logits, order)
                )
            logit_chunks, binary_chunks = [], []
            for begin in range(0, max(pairs.shape[1], 1), chunk):
                part = pairs[:, begin : begin + chunk]
                if terms is not None:
                    slots = torch.arange(begin, begin + part.shape[1], device=part.device)
                    positions = ((slots // k)[None], (slots % k)[None])
                    logits_part, binary_part = self._pair_heads_split(
                        ranges, spans, terms, part, positions
                    )
                else:
                    logits_part, binary_part = self._pair_heads(
                        ranges, spans, pooled, width, entity_logits, part
                    )
                logit_chunks.append(logits_part)
                if binary_part is not None:
                    binary_chunks.append(binary_part)
            relation_logits = (
                logit_chunks[0] if len(logit_chunks) == 1 else torch.cat(logit_chunks, dim=1)
            )
            relation_binary = torch.cat(binary_chunks, dim=1) if binary_chunks else None
        return PairScores(pairs, pair_mask, relation_logits, relation_binary)


def _inference_autocast_dtype(device_type: str) -> torch.dtype | None:
    """The 16-bit type autocast runs in, outside autograd (``None`` otherwise).

    Training keeps the pooled states in fp32: ties between rounded values would split the
    max-pool's gradient.
    """
    if torch.is_grad_enabled() or not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


def _take(values: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """``values[b, which[b, p]]`` for ``values [B, S, D]`` and ``which [B, P]`` → ``[B, P, D]``."""
    return torch.gather(values, 1, which.unsqueeze(-1).expand(-1, -1, values.shape[-1]))


def _context_ranges(spans: torch.Tensor, head: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
    """``[B, P, 2]`` word ranges strictly between head and tail spans (empty if they touch)."""
    head_span, tail_span = _take(spans, head), _take(spans, tail)
    head_first = head_span[..., 1] <= tail_span[..., 0]
    start = torch.where(head_first, head_span[..., 1], tail_span[..., 1])
    end = torch.where(head_first, tail_span[..., 0], head_span[..., 0])
    return torch.stack([start, end], dim=-1)


def _stack(heads: list[nn.Linear | None]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The weights and biases of the present heads stacked along outputs, and their sizes."""
    present = [h for h in heads if h is not None]
    weight = torch.cat([h.weight for h in present], dim=0)
    bias = torch.cat([h.bias for h in present], dim=0)
    return weight, bias, [h.out_features for h in present]
