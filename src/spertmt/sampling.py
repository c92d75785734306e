"""From documents to model batches: candidate spans, negative sampling, IoU targets, pairs.

Stage 3 of the data flow (data → encoding → **sampling** → model → decoding → evaluation).

Documents arrive encoded once (:func:`spertmt.encoding.features.prepare_documents`).

- :func:`training_batch` draws SpERT's training samples per document — every gold entity as a
  positive span, up to ``neg_entity_count`` random non-entity spans of width ≤
  ``max_span_width``; every gold entity pair with a relation (multi-hot over relation types) as
  a positive pair, up to ``neg_relation_count`` gold-entity pairs without one as "strong"
  negatives — and the SpERT.MT targets (IoU of each span with the gold spans). As in SpERT, a
  relation of a symmetric type is a positive in canonical order only (head = the entity that
  starts first); its reversed pair is not a relation and may be drawn as a negative.
- :func:`inference_batch` lists every candidate span of width ≤ ``max_span_width``.

All span bookkeeping is array code per document (NumPy), never a Python loop per span or pair.
Spans are ``(start, end)`` word indices with ``end`` exclusive, as in the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from spertmt.config import ModelConfig
from spertmt.encoding.features import SHAPE_PAD, PreparedDocument
from spertmt.schema import Document, TypeSchema


def _to(obj, device: torch.device | str):
    return type(obj)(**{f.name: getattr(obj, f.name).to(device) for f in fields(obj)})


@dataclass(frozen=True)
class Batch:
    """Model input for ``B`` documents, padded.

    Attributes:
        input_ids: ``[B, T]`` sub-word ids, ``[CLS] … [SEP]`` (the encoder's own specials).
        attention_mask: ``[B, T]`` 1 for real pieces.
        piece_word: ``[B, T]`` word index of each piece; ``W`` (one past the last word slot)
            for special and padding pieces.
        word_mask: ``[B, W]`` True for real words.
        shapes: ``[B, W]`` word-shape classes (0 = padding).
        spans: ``[B, S, 2]`` candidate or sampled spans as ``(start, end)`` words.
        span_mask: ``[B, S]`` True for real spans.
        pairs: ``[B, P, 2]`` (head, tail) indices into the ``S`` spans of the same document;
            empty (``P = 0``) at inference, where pairs come from the predicted entities.
        pair_mask: ``[B, P]`` True for real pairs.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    piece_word: torch.Tensor
    word_mask: torch.Tensor
    shapes: torch.Tensor
    spans: torch.Tensor
    span_mask: torch.Tensor
    pairs: torch.Tensor
    pair_mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        """Return the batch on ``device``."""
        return _to(self, device)


@dataclass(frozen=True)
class Labels:
    """Training targets aligned with a :class:`Batch`.

    Attributes:
        span_types: ``[B, S]`` entity class per span (0 = none, ``k`` = k-th entity type).
        span_iou: ``[B, S]`` IoU of the span with its best-matching gold span (1 = exact).
        pair_types: ``[B, P, R]`` multi-hot relation types per pair.
    """

    span_types: torch.Tensor
    span_iou: torch.Tensor
    pair_types: torch.Tensor

    def to(self, device: torch.device | str) -> Labels:
        """Return the labels on ``device``."""
        return _to(self, device)


def candidate_spans(num_words: int, max_width: int) -> np.ndarray:
    """All spans of width 1..``max_width`` inside ``num_words`` words, ordered by (start, width).

    Returns:
        ``[N, 2]`` int64 array of ``(start, end)``.

    Example:
        >>> candidate_spans(3, 2).tolist()
        [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]
    """
    starts = np.repeat(np.arange(num_words, dtype=np.int64), max_width)
    ends = starts + np.tile(np.arange(1, max_width + 1, dtype=np.int64), num_words)
    keep = ends <= num_words
    return np.stack([starts[keep], ends[keep]], axis=1)


def span_iou(spans: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """IoU in words of each span with its best-matching gold span (0 when there is none).

    Args:
        spans: ``[N, 2]`` spans.
        gold: ``[G, 2]`` gold spans.

    Returns:
        ``[N]`` float32 values in ``[0, 1]``.

    Example:
        >>> span_iou(np.array([[0, 2], [3, 4]]), np.array([[1, 2]])).tolist()
        [0.5, 0.0]
    """
    if len(gold) == 0 or len(spans) == 0:
        return np.zeros(len(spans), dtype=np.float32)
    s, e = spans[:, None, 0], spans[:, None, 1]
    gs, ge = gold[None, :, 0], gold[None, :, 1]
    inter = np.clip(np.minimum(e, ge) - np.maximum(s, gs), 0, None)
    union = (e - s) + (ge - gs) - inter
    return (inter / union).max(axis=1).astype(np.float32)


def _span_keys(spans: np.ndarray, num_words: int) -> np.ndarray:
    return spans[:, 0] * (num_words + 1) + spans[:, 1]


@dataclass(frozen=True)
class _DocSamples:
    spans: np.ndarray  # [S, 2]
    span_types: np.ndarray  # [S]
    span_iou: np.ndarray  # [S]
    pairs: np.ndarray  # [P, 2]
    pair_types: np.ndarray  # [P, R]


def _sample_entities(
    doc: Document,
    num_words: int,
    entity_index: dict[str, int],
    config: ModelConfig,
    neg_count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gold = np.array([(e.start, e.end) for e in doc.entities], dtype=np.int64).reshape(-1, 2)
    gold_types = np.array([entity_index[e.type] for e in doc.entities], dtype=np.int64)
    candidates = candidate_spans(num_words, config.max_span_width)
    negatives = candidates[~np.isin(_span_keys(candidates, num_words), _span_keys(gold, num_words))]
    count = min(neg_count, len(negatives))
    chosen = (
        rng.choice(len(negatives), size=count, replace=False) if count else np.zeros(0, np.int64)
    )
    neg_spans = negatives[np.sort(chosen)]
    spans = np.concatenate([gold, neg_spans])
    types = np.concatenate([gold_types, np.zeros(len(neg_spans), dtype=np.int64)])
    return spans, types, span_iou(spans, gold)


def _sample_pairs(
    doc: Document,
    relation_index: dict[str, int],
    symmetric: np.ndarray,
    neg_count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Positive pairs (multi-hot types) and strong negatives among gold entities.

    Pairs index the document's entities, which are also the first spans of the sample.
    SpERT's rule (``input_reader._parse_relations`` and ``sampling.create_train_sample``):

    - A relation of a symmetric type is put in canonical order first: head and tail are swapped
      when the tail starts before the head (equal starts: no swap); the type is kept. So a pair
      annotated in both directions with the same symmetric type is one positive.
    - Positives are the gold pairs in that stored order, one per (head, tail).
    - Negatives are compared by spans: a pair is a candidate unless its two spans are equal or
      its (head span, tail span) is a positive. Only the stored direction is excluded, so the
      reverse of a symmetric positive (later entity as head) is an ordinary candidate.

    One deliberate difference from SpERT's code: a head/tail pair with several relation types is
    one sample with a multi-hot target (method.md §2), where SpERT makes one one-hot sample per
    relation. The two agree whenever a pair has at most one type.
    """
    n = len(doc.entities)
    num_types = len(relation_index)
    if n < 2:
        return np.zeros((0, 2), np.int64), np.zeros((0, num_types), np.float32)
    heads = np.array([r.head for r in doc.relations], dtype=np.int64)
    tails = np.array([r.tail for r in doc.relations], dtype=np.int64)
    rel_types = np.array([relation_index[r.type] for r in doc.relations], dtype=np.int64)
    starts = np.array([e.start for e in doc.entities], dtype=np.int64)
    # SpERT's reader stores a symmetric relation with the earlier-starting entity as head.
    swap = symmetric[rel_types] & (starts[tails] < starts[heads])
    heads, tails = np.where(swap, tails, heads), np.where(swap, heads, tails)
    pair_keys = heads * n + tails
    positive_keys, inverse = np.unique(pair_keys, return_inverse=True)
    positive_types = np.zeros((len(positive_keys), num_types), dtype=np.float32)
    positive_types[inverse, rel_types] = 1.0
    positives = np.stack([positive_keys // n, positive_keys % n], axis=1)

    spans = np.array([(e.start, e.end) for e in doc.entities], dtype=np.int64)
    span_key = spans[:, 0] * (spans.max() + 1) + spans[:, 1]
    # Every ordered (head, tail) pair of entities, flattened row by row.
    grid_h, grid_t = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    hi, ti = grid_h.ravel(), grid_t.ravel()
    base = span_key.max() + 1
    pos_span_pairs = span_key[positives[:, 0]] * base + span_key[positives[:, 1]]
    all_span_pairs = span_key[hi] * base + span_key[ti]
    is_negative = (span_key[hi] != span_key[ti]) & ~np.isin(all_span_pairs, pos_span_pairs)
    neg_h, neg_t = hi[is_negative], ti[is_negative]
    count = min(neg_count, len(neg_h))
    chosen = (
        np.sort(rng.choice(len(neg_h), size=count, replace=False))
        if count
        else np.zeros(0, np.int64)
    )
    negatives = np.stack([neg_h[chosen], neg_t[chosen]], axis=1)
    pairs = np.concatenate([positives, negatives])
    types = np.concatenate([positive_types, np.zeros((count, num_types), dtype=np.float32)])
    return pairs, types


def _pad_stack(arrays: Sequence[np.ndarray], pad: float | int, dtype: torch.dtype) -> torch.Tensor:
    """Stack ``[N_i, ...]`` arrays into ``[B, max N_i, ...]`` padded with ``pad``."""
    longest = max((len(a) for a in arrays), default=0)
    tail_shape = arrays[0].shape[1:] if arrays else ()
    out = torch.full((len(arrays), longest, *tail_shape), pad, dtype=dtype)
    for i, a in enumerate(arrays):
        if len(a):
            out[i, : len(a)] = torch.from_numpy(np.ascontiguousarray(a))
    return out


def _lengths_mask(lengths: Sequence[int]) -> torch.Tensor:
    lengths_t = torch.tensor(list(lengths), dtype=torch.long)
    longest = int(lengths_t.max()) if len(lengths_t) else 0
    return torch.arange(longest)[None, :] < lengths_t[:, None]


def _encode_batch(prepared: Sequence[PreparedDocument], pad_id: int) -> dict[str, torch.Tensor]:
    num_pieces = [p.num_pieces for p in prepared]
    num_words = [p.num_words for p in prepared]
    max_words = max(num_words)
    input_ids = _pad_stack([p.encoded.input_ids for p in prepared], pad_id, torch.long)
    attention_mask = _lengths_mask(num_pieces).long()
    # Word index of each piece; pieces of no word (specials, padding) point at slot W,
    # a scratch row that pooling discards.
    piece_word = torch.full(input_ids.shape, max_words, dtype=torch.long)
    for i, p in enumerate(prepared):
        starts, ends = p.encoded.word_starts, p.encoded.word_ends
        widths = ends - starts
        positions = np.repeat(starts, widths) + (
            np.arange(widths.sum()) - np.repeat(np.cumsum(widths) - widths, widths)
        )
        piece_word[i, torch.from_numpy(positions)] = torch.from_numpy(
            np.repeat(np.arange(len(starts)), widths)
        )
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "piece_word": piece_word,
        "word_mask": _lengths_mask(num_words),
        "shapes": _pad_stack([p.shapes for p in prepared], SHAPE_PAD, torch.long),
    }


def training_batch(
    prepared: Sequence[PreparedDocument],
    docs: Sequence[Document],
    types: TypeSchema,
    config: ModelConfig,
    *,
    neg_entity_count: int,
    neg_relation_count: int,
    rng: np.random.Generator,
    pad_id: int = 0,
) -> tuple[Batch, Labels]:
    """Build one training batch with SpERT's samples and SpERT.MT's targets.

    Relations of a symmetric type are positives in SpERT's canonical order (head = the entity
    that starts first; equal starts keep the annotated order); the reversed pair is not a
    relation and can be sampled as a negative, as in SpERT (see :func:`_sample_pairs`).

    Args:
        prepared: Encoded documents (:func:`spertmt.encoding.features.prepare_documents`).
        docs: The same documents with their gold entities and relations.
        types: Type schema fixing class indices (entity class 0 = none).
        config: Model configuration (widest candidate span).
        neg_entity_count: Negative spans per document.
        neg_relation_count: Negative pairs per document.
        rng: Random generator; the only source of randomness, so a seed fixes the batch.
        pad_id: Padding piece id of the tokenizer.

    Returns:
        The batch (spans ``[B, S, 2]``, pairs ``[B, P, 2]``) and its labels.
    """
    relation_index = {name: i for i, name in enumerate(types.relation_names)}
    samples = _draw_samples(
        prepared, docs, types, config, neg_entity_count, neg_relation_count, rng
    )
    batch = Batch(
        **_encode_batch(prepared, pad_id),
        spans=_pad_stack([s.spans for s in samples], 0, torch.long),
        span_mask=_lengths_mask([len(s.spans) for s in samples]),
        pairs=_pad_stack([s.pairs for s in samples], 0, torch.long).reshape(len(samples), -1, 2),
        pair_mask=_lengths_mask([len(s.pairs) for s in samples]),
    )
    num_rel = len(relation_index)
    labels = Labels(
        span_types=_pad_stack([s.span_types for s in samples], 0, torch.long),
        span_iou=_pad_stack([s.span_iou for s in samples], 0.0, torch.float32),
        pair_types=_pad_stack([s.pair_types for s in samples], 0.0, torch.float32).reshape(
            len(samples), -1, num_rel
        ),
    )
    return batch, labels


def draw_training_samples(
    prepared: Sequence[PreparedDocument],
    docs: Sequence[Document],
    types: TypeSchema,
    config: ModelConfig,
    *,
    neg_entity_count: int,
    neg_relation_count: int,
    rng: np.random.Generator,
) -> None:
    """Draw from ``rng`` exactly what :func:`training_batch` draws for these documents.

    Nothing is built: a training process of several (``torchrun``) draws the samples of the
    batches the other processes train on, so that every process's generator stays where one
    process's would be.
    """
    _draw_samples(prepared, docs, types, config, neg_entity_count, neg_relation_count, rng)


def _draw_samples(
    prepared: Sequence[PreparedDocument],
    docs: Sequence[Document],
    types: TypeSchema,
    config: ModelConfig,
    neg_entity_count: int,
    neg_relation_count: int,
    rng: np.random.Generator,
) -> list[_DocSamples]:
    """Each document's positive and negative samples, drawn from ``rng`` in document order."""
    entity_index = {name: i + 1 for i, name in enumerate(types.entity_names)}
    relation_index = {name: i for i, name in enumerate(types.relation_names)}
    symmetric = np.array([t.symmetric for t in types.relation_types], dtype=bool)
    samples = []
    for prep, doc in zip(prepared, docs, strict=True):
        spans, span_types, ious = _sample_entities(
            doc, prep.num_words, entity_index, config, neg_entity_count, rng
        )
        pairs, pair_types = _sample_pairs(doc, relation_index, symmetric, neg_relation_count, rng)
        samples.append(_DocSamples(spans, span_types, ious, pairs, pair_types))
    return samples


def inference_batch(
    prepared: Sequence[PreparedDocument],
    config: ModelConfig,
    *,
    pad_id: int = 0,
    spans: Sequence[np.ndarray] | None = None,
) -> Batch:
    """Build an inference batch with every candidate span of width ≤ ``max_span_width``.

    Args:
        prepared: Encoded documents.
        config: Model configuration.
        pad_id: Padding piece id of the tokenizer.
        spans: Optional given spans per document (``[N_i, 2]``) instead of the candidates,
            for relation extraction over known entities.

    Returns:
        A batch with no pairs (``P = 0``); pairs are built from the predicted entities.
    """
    if spans is None:
        spans = [candidate_spans(p.num_words, config.max_span_width) for p in prepared]
    return Batch(
        **_encode_batch(prepared, pad_id),
        spans=_pad_stack(list(spans), 0, torch.long).reshape(len(prepared), -1, 2),
        span_mask=_lengths_mask([len(s) for s in spans]),
        pairs=torch.zeros((len(prepared), 0, 2), dtype=torch.long),
        pair_mask=torch.zeros((len(prepared), 0), dtype=torch.bool),
    )
