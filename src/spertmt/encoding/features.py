"""Documents encoded once for the model: sub-word pieces and word-shape features.

:func:`prepare_documents` runs the fast tokenizer once over all documents; sampling
(:mod:`spertmt.sampling`) builds batches from the result without tokenising again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spertmt.encoding.align import EncodedDocument, encode_words
from spertmt.schema import Document

# Word-shape classes (index 0 is padding). Uncased encoders lose the casing cue of NER;
# these classes give it back cheaply (method.md §6).
SHAPE_PAD, SHAPE_LOWER, SHAPE_TITLE, SHAPE_UPPER, SHAPE_MIXED, SHAPE_DIGIT, SHAPE_OTHER = range(7)
NUM_WORD_SHAPES = 7


def word_shape(word: str) -> int:
    """Return the shape class of one word.

    Example:
        >>> [word_shape(w) for w in ["paris", "Paris", "NATO", "iPhone", "1984", "."]]
        [1, 2, 3, 4, 5, 6]
    """
    if any(c.isdigit() for c in word):
        return SHAPE_DIGIT
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return SHAPE_OTHER
    if all(c.islower() for c in letters):
        return SHAPE_LOWER
    if all(c.isupper() for c in letters):
        return SHAPE_UPPER if len(letters) > 1 else SHAPE_TITLE
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPE_TITLE
    return SHAPE_MIXED


@dataclass(frozen=True)
class PreparedDocument:
    """A document encoded once for the model.

    Attributes:
        encoded: Sub-word pieces with the word ↔ piece alignment.
        shapes: Word-shape class of each word, ``[W]``.
    """

    encoded: EncodedDocument
    shapes: np.ndarray

    @property
    def num_words(self) -> int:
        """Number of words."""
        return int(self.shapes.shape[0])

    @property
    def num_pieces(self) -> int:
        """Number of sub-word pieces including special tokens (for length bucketing)."""
        return int(self.encoded.input_ids.shape[0])


def prepare_documents(docs: Sequence[Document], tokenizer) -> list[PreparedDocument]:
    """Encode documents once: one fast-tokenizer call for all of them.

    Args:
        docs: Documents (only ``tokens`` is used).
        tokenizer: A fast Hugging Face tokenizer (:func:`spertmt.encoding.encoders.load_tokenizer`).

    Returns:
        One :class:`PreparedDocument` per input document, in order.
    """
    encoded = encode_words(tokenizer, [d.tokens for d in docs])
    return [
        PreparedDocument(
            enc, np.fromiter((word_shape(w) for w in d.tokens), np.int64, len(d.tokens))
        )
        for enc, d in zip(encoded, docs, strict=True)
    ]


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's padding piece id (0 for tokenizers without one)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
