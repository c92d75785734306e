"""The encoder's word embedding with a gradient that is added in place, row by row.

Backpropagating through ``nn.Embedding`` builds a dense ``[vocabulary, hidden]`` gradient on
every backward pass (30,522 × 384 floats, 47 MB, for MiniLM), almost all zeros: a batch uses a
few hundred rows. On the CPU a fresh buffer that large comes straight from the kernel, so
each step pays for zero-filling and page-faulting it: ``torch.profiler`` showed that fill
taking 50-75 ms of a 190-350 ms training step of the fast recipe (``benchmarks/train_speed.py
--profile``, docs/speed.md).

:class:`RowGradientEmbedding` computes the same gradient as only the rows the batch used (a
sparse tensor) whenever the weight already holds a dense gradient, which autograd then adds
into it in place; the training loop (:func:`spertmt.training.loop.clear_gradients`) keeps that
gradient and zeroes it instead of dropping it. The first backward pass, and any use outside
that loop, gets the dense gradient as before. The optimiser, clipping and the summing across
processes see the same dense ``.grad`` as with ``nn.Embedding`` (equal up to the order of float
additions). Forward results are ``nn.Embedding``'s exactly; without autograd (prediction) it
is ``nn.Embedding``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["RowGradientEmbedding", "kept_gradients", "use_row_gradients"]


class _Lookup(torch.autograd.Function):
    """``weight[ids]`` whose weight gradient is sparse when a dense one is already there."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, weight: torch.Tensor, ids: torch.Tensor, padding_idx: int | None
    ) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.weight = weight
        ctx.padding_idx = padding_idx
        return nn.functional.embedding(ids, weight, padding_idx)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (ids,) = ctx.saved_tensors
        weight: torch.Tensor = ctx.weight
        rows = grad.reshape(-1, grad.shape[-1])
        index = ids.reshape(-1)
        if ctx.padding_idx is not None:  # nn.Embedding gives the padding row no gradient
            used = index != ctx.padding_idx
            rows, index = rows[used], index[used]
        rows = rows.to(weight.dtype)
        held = weight.grad
        if held is not None and held.layout == torch.strided and not held.requires_grad:
            sparse = torch.sparse_coo_tensor(
                index.unsqueeze(0), rows, weight.shape, check_invariants=False
            )
            return sparse, None, None  # autograd adds it into the held gradient, in place
        return torch.zeros_like(weight).index_add_(0, index, rows), None, None


class RowGradientEmbedding(nn.Embedding):
    """``nn.Embedding`` whose training gradient is added into the kept dense one row by row.

    Made from an ``nn.Embedding`` in place by :func:`use_row_gradients` (same parameters,
    same state dict). Only plain lookups qualify (no ``max_norm``, ``scale_grad_by_freq`` or
    ``sparse``).

    Example:
        >>> table = nn.Embedding(10, 4)
        >>> use_row_gradients(table) is table, type(table).__name__
        (True, 'RowGradientEmbedding')
    """

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``nn.Embedding``'s lookup; in training, through :class:`_Lookup`."""
        if not (self.training and torch.is_grad_enabled() and self.weight.requires_grad):
            return super().forward(ids)
        return _Lookup.apply(self.weight, ids, self.padding_idx)


def use_row_gradients(embedding: nn.Module) -> nn.Module:
    """Turn a plain ``nn.Embedding`` into a :class:`RowGradientEmbedding`, in place.

    Anything else (another module type, or an embedding with ``max_norm``,
    ``scale_grad_by_freq`` or ``sparse``) is returned unchanged.
    """
    plain = (
        type(embedding) is nn.Embedding
        and embedding.max_norm is None
        and not embedding.scale_grad_by_freq
        and not embedding.sparse
    )
    if plain:
        embedding.__class__ = RowGradientEmbedding
    return embedding


def kept_gradients(model: nn.Module) -> set[int]:
    """``id()`` of the parameters whose gradient the training loop zeroes instead of dropping."""
    return {id(m.weight) for m in model.modules() if isinstance(m, RowGradientEmbedding)}
