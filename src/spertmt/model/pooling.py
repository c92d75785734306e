"""Vectorised max-pooling over word spans, without a ``[spans, tokens, hidden]`` tensor.

SpERT max-pools the encoder states over a span's sub-word pieces, and over the pieces strictly
between two spans for the relation context. Both are maxima over *contiguous word ranges*
(a word's pieces are contiguous, and a word-aligned span covers whole words), so we:

1. reduce pieces to words once with a segment max (:func:`word_max_pool`), ``[B, W, H]``;
2. build a sparse table of range maxima over words (:class:`RangeMax`), ``[L, B, W, H]`` with
   ``L = ⌊log2 W⌋ + 1``;
3. answer every span or context query with two gathers and one ``maximum``.

The result equals a direct max over the pieces of the range (a test proves it against a
reference loop); memory is ``O(B·W·log W·H)`` instead of ``O(B·S·T·H)``.
"""

from __future__ import annotations

import torch


def word_max_pool(hidden: torch.Tensor, piece_word: torch.Tensor, num_words: int) -> torch.Tensor:
    """Max-pool piece states into word states.

    Args:
        hidden: ``[B, T, H]`` encoder states.
        piece_word: ``[B, T]`` word index of each piece; ``num_words`` for pieces of no word.
        num_words: ``W``, the padded number of words.

    Returns:
        ``[B, W, H]`` word states; padding words hold ``-inf``.
    """
    batch, _, size = hidden.shape
    out = hidden.new_full((batch, num_words + 1, size), float("-inf"))
    index = piece_word.unsqueeze(-1).expand(-1, -1, size)
    out = out.scatter_reduce(1, index, hidden, reduce="amax", include_self=True)
    return out[:, :num_words]


class RangeMax:
    """Sparse table answering ``max(x[b, start:end])`` for many ranges at once.

    Args:
        x: ``[B, W, H]`` values over words.

    Example:
        >>> x = torch.tensor([[[1.0], [5.0], [2.0], [4.0]]])
        >>> RangeMax(x).query(torch.tensor([[[0, 2], [2, 4], [0, 4]]]))[..., 0].tolist()
        [[5.0, 4.0, 5.0]]
    """

    def __init__(self, x: torch.Tensor) -> None:
        self.batch, self.width, self.size = x.shape
        levels = [x]
        step = 1
        while 2 * step <= self.width:
            prev = levels[-1]
            shifted = torch.cat([prev[:, step:], prev[:, -1:].expand(-1, step, -1)], dim=1)
            levels.append(torch.maximum(prev, shifted))
            step *= 2
        self.table = torch.stack(levels)  # [L, B, W, H]

    @property
    def dtype(self) -> torch.dtype:
        """The type of the table's values."""
        return self.table.dtype

    def to(self, dtype: torch.dtype) -> RangeMax:
        """The same table with its values in ``dtype`` (itself if they already are)."""
        if dtype == self.table.dtype:
            return self
        converted = RangeMax.__new__(RangeMax)
        converted.batch, converted.width, converted.size = self.batch, self.width, self.size
        converted.table = self.table.to(dtype)
        return converted

    def query(self, ranges: torch.Tensor, empty_value: float = 0.0) -> torch.Tensor:
        """Maxima over word ranges.

        Args:
            ranges: ``[B, N, 2]`` ``(start, end)`` with ``end`` exclusive.
            empty_value: Value returned for empty ranges (``end <= start``).

        Returns:
            ``[B, N, H]`` range maxima.
        """
        start, end = ranges[..., 0], ranges[..., 1]
        length = (end - start).clamp(min=1)
        level = torch.floor(torch.log2(length.to(torch.float32))).long()
        level = level.clamp(max=self.table.shape[0] - 1)
        start = start.clamp(0, self.width - 1)
        second = (end - (1 << level)).clamp(0, self.width - 1)
        flat = self.table.reshape(-1, self.size)
        batch_idx = torch.arange(self.batch, device=ranges.device).unsqueeze(-1)
        base = (level * self.batch + batch_idx) * self.width
        # index_select on flat row indices: the same rows as flat[base + start], without
        # the overhead of advanced indexing (about twice as fast on the CPU).
        shape = (*ranges.shape[:-1], self.size)
        first_rows = flat.index_select(0, (base + start).reshape(-1)).view(shape)
        second_rows = flat.index_select(0, (base + second).reshape(-1)).view(shape)
        out = torch.maximum(first_rows, second_rows)
        empty = torch.nonzero((ranges[..., 1] <= ranges[..., 0]).reshape(-1)).squeeze(1)
        if len(empty):
            # Only the empty rows are written (padding spans, touching pairs), in place:
            # maximum's backward needs its inputs, not its output.
            out.view(-1, self.size).index_fill_(0, empty, empty_value)
        return out
