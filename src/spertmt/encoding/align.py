"""Word ↔ sub-word alignment for any Hugging Face fast tokenizer.

SpERT works on words; the encoder works on sub-word pieces. :func:`encode_words` tokenises
pre-split words in one fast-tokenizer call and records, for every word, the contiguous range
of its pieces. Guarantees (for every document):

- every word has at least one piece: a word the tokenizer turns into nothing (a lone
  zero-width space, a control character, an empty string, whitespace) gets the tokenizer's
  unknown token, so no word is ever dropped and word indices never shift;
- a word's pieces are contiguous and words follow each other in order, so
  ``word_ends[i] == word_starts[i + 1]``;
- ``input_ids`` are wrapped in the tokenizer's own special tokens (``[CLS] … [SEP]`` for BERT,
  ``<s> … </s>`` for RoBERTa), with no truncation: long documents are windowed by
  :class:`spertmt.encoding.encoders.WindowedEncoder`.

Error code raised here: ``E407`` (a word with no piece and a tokenizer with no unknown token),
and ``E406`` (a slow tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from spertmt.errors import EncoderError

__all__ = ["EncodedDocument", "collate", "encode_words"]


@dataclass(frozen=True)
class EncodedDocument:
    """One document as sub-word pieces, with the word ↔ piece alignment.

    Attributes:
        input_ids: ``[T]`` int64 piece ids, special tokens included.
        word_starts: ``[W]`` int64 index in ``input_ids`` of word ``i``'s first piece.
        word_ends: ``[W]`` int64 exclusive end: word ``i`` is ``input_ids[start:end]``.

    """

    input_ids: np.ndarray
    word_starts: np.ndarray
    word_ends: np.ndarray

    @property
    def num_words(self) -> int:
        """Number of words ``W``."""
        return int(self.word_starts.shape[0])

    @property
    def num_pieces(self) -> int:
        """Number of pieces ``T``, special tokens included."""
        return int(self.input_ids.shape[0])


def encode_words(
    tokenizer: PreTrainedTokenizerFast, docs: Sequence[Sequence[str]]
) -> list[EncodedDocument]:
    """Tokenise pre-split documents and align every word with its pieces.

    One fast-tokenizer call covers the whole list (``is_split_into_words=True``, special
    tokens added, no truncation, no padding); the alignment comes from ``word_ids()``.

    Args:
        tokenizer: A fast tokenizer (:func:`spertmt.encoding.encoders.load_tokenizer`;
            byte-level BPE tokenizers need ``add_prefix_space``, which that function sets).
        docs: Documents as lists of words.

    Returns:
        One :class:`EncodedDocument` per document, in order.

    Raises:
        EncoderError: ``E406`` for a slow tokenizer; ``E407`` when a word yields no piece and
            the tokenizer has no unknown token to stand for it, or when the tokenizer does not
            keep each word's pieces together and in order.

    Example:
        >>> doc = encode_words(tokenizer, [["John", "lives", "in", "Paris"]])[0]
        ...  # doctest: +SKIP
        >>> doc.word_starts.tolist(), doc.word_ends.tolist()  # doctest: +SKIP
        ([1, 2, 3, 4], [2, 3, 4, 5])

    """
    if not getattr(tokenizer, "is_fast", False):
        raise EncoderError(
            f"{type(tokenizer).__name__} is a slow tokenizer; word alignment needs a fast "
            "tokenizer (load it with spertmt.encoding.encoders.load_tokenizer)",
            code="E406",
        )
    words = [list(doc) for doc in docs]
    if not words:
        return []
    batch = tokenizer(
        words,
        is_split_into_words=True,
        add_special_tokens=True,
        truncation=False,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,  # long documents are expected: they are windowed, not truncated
    )
    prefix_length: list[int] = []  # computed once, only if a document needs it
    out = []
    for index, (doc, encoding) in enumerate(zip(words, batch.encodings, strict=True)):
        ids = np.asarray(encoding.ids, dtype=np.int64)
        word_ids = np.fromiter(
            (-1 if w is None else w for w in encoding.word_ids), dtype=np.int64, count=len(ids)
        )
        ids, word_ids = _fill_missing_words(tokenizer, doc, index, ids, word_ids, prefix_length)
        starts, ends = _word_ranges(word_ids, len(doc), tokenizer, index)
        out.append(EncodedDocument(ids, starts, ends))
    return out


def _fill_missing_words(
    tokenizer: PreTrainedTokenizerFast,
    doc: list[str],
    doc_index: int,
    ids: np.ndarray,
    word_ids: np.ndarray,
    prefix_length: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Insert the unknown token for every word that produced no piece, in its place."""
    counts = np.bincount(word_ids[word_ids >= 0], minlength=len(doc))
    missing = np.flatnonzero(counts == 0)
    if len(missing) == 0:
        return ids, word_ids
    unk_id = tokenizer.unk_token_id
    if unk_id is None:
        word = doc[int(missing[0])]
        raise EncoderError(
            f"document {doc_index}, word {int(missing[0])} ({word!r}) yields no sub-word piece "
            f"and the tokenizer ({type(tokenizer).__name__}) has no unknown token to stand for "
            "it; remove or replace such words, or use a tokenizer with an unknown token",
            code="E407",
        )
    present = np.flatnonzero(word_ids >= 0)
    present_words = word_ids[present]
    # A missing word goes right before the first piece of the next word that has pieces, or
    # after the last word's pieces, or (no word has pieces) after the leading special tokens.
    nxt = np.searchsorted(present_words, missing, side="left")
    if len(present):
        after_last = present[-1] + 1
        padded = np.append(present, after_last)
        positions = padded[nxt]
    else:
        if not prefix_length:
            prefix_length.append(_leading_specials(tokenizer))
        positions = np.full(len(missing), prefix_length[0], dtype=np.int64)
    return np.insert(ids, positions, unk_id), np.insert(word_ids, positions, missing)


def _leading_specials(tokenizer: PreTrainedTokenizerFast) -> int:
    # The unknown token is a special token, hence always exactly one piece: its position in a
    # one-word document is the number of special tokens the tokenizer puts before the words.
    probe = tokenizer([[tokenizer.unk_token]], is_split_into_words=True, add_special_tokens=True)
    return probe.encodings[0].word_ids.index(0)


def _word_ranges(
    word_ids: np.ndarray, num_words: int, tokenizer: PreTrainedTokenizerFast, doc_index: int
) -> tuple[np.ndarray, np.ndarray]:
    positions = np.flatnonzero(word_ids >= 0)
    words = word_ids[positions]
    order_ok = bool(np.all(np.diff(words) >= 0))
    word_range = np.arange(num_words)
    first = np.searchsorted(words, word_range, side="left")
    last = np.searchsorted(words, word_range, side="right") - 1
    starts, ends = positions[first], positions[last] + 1
    if not order_ok or not np.array_equal(ends - starts, last - first + 1):
        raise EncoderError(
            f"document {doc_index}: the tokenizer ({type(tokenizer).__name__}) does not keep "
            "each word's pieces together and in word order, which span pooling needs; use "
            "another tokenizer",
            code="E407",
        )
    return starts.astype(np.int64), ends.astype(np.int64)


def collate(
    encoded: Sequence[EncodedDocument], *, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad encoded documents into batch tensors.

    Args:
        encoded: The documents (:func:`encode_words`).
        pad_id: The tokenizer's padding id.

    Returns:
        ``input_ids`` ``[B, T]`` long (``pad_id`` after each row's end), ``attention_mask``
        ``[B, T]`` long (1 for real pieces), ``word_starts`` ``[B, W]`` long, ``word_ends``
        ``[B, W]`` long (0 for padding words), ``word_mask`` ``[B, W]`` bool.

    Example:
        >>> ids, mask, starts, ends, words = collate(encode_words(tok, docs), pad_id=0)
        ...  # doctest: +SKIP

    """
    batch = len(encoded)
    length = max((d.num_pieces for d in encoded), default=0)
    num_words = max((d.num_words for d in encoded), default=0)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, length), dtype=torch.long)
    word_starts = torch.zeros((batch, num_words), dtype=torch.long)
    word_ends = torch.zeros((batch, num_words), dtype=torch.long)
    word_mask = torch.zeros((batch, num_words), dtype=torch.bool)
    for i, doc in enumerate(encoded):
        t, w = doc.num_pieces, doc.num_words
        input_ids[i, :t] = torch.from_numpy(doc.input_ids)
        attention_mask[i, :t] = 1
        word_starts[i, :w] = torch.from_numpy(doc.word_starts)
        word_ends[i, :w] = torch.from_numpy(doc.word_ends)
        word_mask[i, :w] = True
    return input_ids, attention_mask, word_starts, word_ends, word_mask
