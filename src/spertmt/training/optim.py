"""SpERT's optimiser: AdamW as in transformers' legacy ``AdamW`` (``correct_bias=False``).

SpERT trains with ``transformers.AdamW(..., correct_bias=False)`` (eps ``1e-6``), an optimiser
that library has since removed. Its update is

    p ← p − lr · m_t / (√v_t + eps),   then   p ← p − lr · wd · p

with no bias correction: the first updates are larger than :class:`torch.optim.AdamW`'s (by
``√(1−β2^t) / (1−β1^t)``, about 3× at step 1, fading over a few thousand steps).

:class:`SpertAdamW` gets exactly that update out of PyTorch's fused AdamW kernel (several
times faster on CPU than a per-tensor loop) by rescaling, at each step ``t``, the kernel's
learning rate to ``lr·(1−β1^t)/√(1−β2^t)``, its epsilon to ``eps/√(1−β2^t)`` and its weight
decay so that ``lr·wd`` is unchanged. The one remaining difference is that PyTorch decays the
weights just before the Adam step instead of just after it, a relative change of ``lr·wd``
(5e-7 with SpERT's settings) in the size of the decay term.

:func:`build_optimizer` sets up a run's optimisation as SpERT does: :class:`SpertAdamW` over
:func:`optimizer_groups` (no weight decay on biases and normalisation weights), with a linear
warm-up over ``train.warmup_fraction`` of all optimiser steps, then linear decay to zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from spertmt.config import TrainConfig


class SpertAdamW(torch.optim.AdamW):
    """AdamW with SpERT's update rule (bias correction optional, off by default).

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate.
        betas: Moment decay rates.
        eps: Added to ``√v`` (SpERT: 1e-6).
        weight_decay: Decoupled weight decay.
        correct_bias: Bias-correct the moments as transformers' legacy AdamW did with
            ``correct_bias=True`` (SpERT: ``False``).

    Example:
        >>> p = torch.nn.Parameter(torch.ones(1))
        >>> opt = SpertAdamW([p], lr=0.1)
        >>> p.grad = torch.ones(1)
        >>> _ = opt.step()  # no bias correction: 1 − 0.1 · 0.1 / (√0.001 + 1e-6)
        >>> round(p.item(), 4)
        0.6838
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        correct_bias: bool = False,
    ) -> None:
        params = list(params)
        try:
            super().__init__(
                params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=True
            )
        except RuntimeError:  # a device or dtype without a fused kernel
            super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        for group in self.param_groups:
            group.setdefault("correct_bias", correct_bias)

    def _next_step(self, group: dict[str, Any]) -> int:
        for p in group["params"]:
            state = self.state.get(p)
            if state and "step" in state:
                return int(state["step"]) + 1
        return 1

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """Perform one optimisation step with SpERT's update."""
        saved = []
        for group in self.param_groups:
            saved.append((group["lr"], group["eps"], group["weight_decay"]))
            t = self._next_step(group)
            beta1, beta2 = group["betas"]
            bc1, root_bc2 = 1.0 - beta1**t, math.sqrt(1.0 - beta2**t)
            group["eps"] = group["eps"] / root_bc2
            group["weight_decay"] = 0.0
            if not group["correct_bias"]:
                group["lr"] = group["lr"] * bc1 / root_bc2
        try:
            loss = super().step(closure)
        finally:
            for group, (lr, eps, weight_decay) in zip(self.param_groups, saved, strict=True):
                group["lr"], group["eps"], group["weight_decay"] = lr, eps, weight_decay
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params and group["weight_decay"] > 0.0:
                torch._foreach_add_(params, params, alpha=-group["lr"] * group["weight_decay"])
        return loss


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Split parameters as SpERT does: no weight decay on biases and normalisation weights.

    SpERT matches the names ``bias``/``LayerNorm.weight``; matching normalisation modules by
    type gives the same groups for BERT and also covers encoders that name them otherwise.

    Args:
        model: The model.
        weight_decay: Decay of the other parameters.

    Returns:
        Two parameter groups for :class:`torch.optim.AdamW`.

    """
    no_decay: set[str] = set()
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) or (
            "norm" in type(module).__name__.lower()
        )
        for param_name, _ in module.named_parameters(recurse=False):
            if is_norm or param_name == "bias":
                no_decay.add(f"{module_name}.{param_name}" if module_name else param_name)
    decay_params: list[torch.nn.Parameter] = []
    plain_params: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (plain_params if name in no_decay else decay_params).append(param)
    return [
        {"params": decay_params, "weight_decay": weight_decay},
        {"params": plain_params, "weight_decay": 0.0},
    ]


def optimizer_steps_per_epoch(num_documents: int, train: TrainConfig, world_size: int = 1) -> int:
    """Optimiser steps in one epoch (the last accumulation group may be short).

    With several training processes a step takes ``gradient_accumulation × world_size``
    batches: the schedule counts these global steps.

    Example:
        >>> optimizer_steps_per_epoch(922, TrainConfig(batch_size=2, gradient_accumulation=4))
        116
        >>> optimizer_steps_per_epoch(922, TrainConfig(batch_size=2), world_size=4)
        116

    """
    batches = math.ceil(num_documents / train.batch_size)
    return math.ceil(batches / (train.gradient_accumulation * world_size))


def build_optimizer(
    model: torch.nn.Module, train: TrainConfig, total_steps: int
) -> tuple[SpertAdamW, torch.optim.lr_scheduler.LambdaLR]:
    """Return the optimiser of a run and its learning-rate schedule.

    Args:
        model: The model to train.
        train: The ``[train]`` section: ``lr``, ``weight_decay``, ``adam_eps``,
            ``adam_bias_correction`` and ``warmup_fraction``.
        total_steps: Optimiser steps of the whole run (all epochs).

    Returns:
        :class:`SpertAdamW` over :func:`optimizer_groups`, and a schedule warming up linearly
        over ``int(warmup_fraction * total_steps)`` steps, then decaying linearly to zero.

    """
    import transformers

    optimizer = SpertAdamW(
        optimizer_groups(model, train.weight_decay),
        lr=train.lr,
        eps=train.adam_eps,
        correct_bias=train.adam_bias_correction,
    )
    scheduler = transformers.get_linear_schedule_with_warmup(
        optimizer,
        num_warmup_steps=int(train.warmup_fraction * total_steps),
        num_training_steps=total_steps,
    )
    return optimizer, scheduler
