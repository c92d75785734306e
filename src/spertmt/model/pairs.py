"""Pairs of kept spans by index arithmetic: which spans may form relations, in what order."""

from __future__ import annotations

import torch


def kept_spans(keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The kept span indices of each document, in span order, padded to the largest count.

    Args:
        keep: ``[B, S]`` kept spans.

    Returns:
        ``order [B, k]`` span indices and ``valid [B, k]`` (``k`` = most kept spans in a
        document); padding entries point at some span and are not valid.

    Example:
        >>> order, valid = kept_spans(torch.tensor([[True, False, True], [False, True, False]]))
        >>> order.tolist(), valid.tolist()
        ([[0, 2], [1, 0]], [[True, True], [True, False]])
    """
    counts = keep.sum(-1)
    k = int(counts.max()) if keep.shape[0] else 0
    # Kept span indices first, in their original order (stable sort on "not kept").
    order = torch.sort((~keep).to(torch.int8), dim=-1, stable=True).indices[:, :k]
    valid = torch.arange(k, device=keep.device)[None, :] < counts[:, None]
    return order, valid


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
    batch = keep.shape[0]
    order, valid = kept_spans(keep)
    k = order.shape[1]
    # Pair p = i·k + j is (order[i], order[j]): row-major over the k × k grid.
    head = order.unsqueeze(2).expand(-1, -1, k)
    tail = order.unsqueeze(1).expand(-1, k, -1)
    mask = (
        valid.unsqueeze(2)
        & valid.unsqueeze(1)
        & ~torch.eye(k, dtype=torch.bool, device=keep.device)
    )
    pairs = torch.stack([head, tail], dim=-1).reshape(batch, k * k, 2)
    return pairs, mask.reshape(batch, k * k)
