"""SpERT's optimiser: AdamW as in transformers' legacy ``AdamW`` (``correct_bias=False``).

SpERT trains with ``transformers.AdamW(..., correct_bias=False)`` (eps ``1e-6``), which that
library has since removed. Its update differs from :class:`torch.optim.AdamW` in two ways:
without bias correction, the first updates are larger (by up to ``√(1-β2^t)/(1-β1^t)``, about
3× at step 1, fading over a few thousand steps), and weight decay is applied after the Adam
step with the plain learning rate. :class:`SpertAdamW` reproduces that update exactly, with
``torch._foreach`` operations so one step costs a few fused passes over all parameters
instead of a Python loop per tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


class SpertAdamW(torch.optim.Optimizer):
    """AdamW with optional bias correction, weight decay after the step (SpERT's optimiser).

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate.
        betas: Moment decay rates.
        eps: Added to the square root of the second moment (SpERT: 1e-6).
        weight_decay: Decoupled weight decay.
        correct_bias: Bias-correct the moments (SpERT: ``False``).

    Example:
        >>> p = torch.nn.Parameter(torch.ones(2))
        >>> opt = SpertAdamW([p], lr=0.1)
        >>> p.grad = torch.ones(2)
        >>> opt.step()  # no bias correction: 1 - 0.1 · 0.1 / (√0.001 + 1e-6)
        >>> round(p.item() if p.numel() == 1 else p[0].item(), 4)
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
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, correct_bias=correct_bias)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """Perform one optimisation step."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            beta1, beta2 = group["betas"]
            exp_avgs, exp_avg_sqs = [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                exp_avgs.append(state["exp_avg"])
                exp_avg_sqs.append(state["exp_avg_sq"])
            torch._foreach_mul_(exp_avgs, beta1)
            torch._foreach_add_(exp_avgs, grads, alpha=1.0 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
            denoms = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_add_(denoms, group["eps"])
            if group["correct_bias"]:
                # Each tensor may have its own step count (parameters that got no gradient).
                step_sizes = []
                for p in params:
                    t = self.state[p]["step"]
                    step_sizes.append(-group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t))
                updates = torch._foreach_div(exp_avgs, denoms)
                torch._foreach_mul_(updates, step_sizes)
                torch._foreach_add_(params, updates)
            else:
                torch._foreach_addcdiv_(params, exp_avgs, denoms, value=-group["lr"])
            if group["weight_decay"] > 0.0:
                torch._foreach_add_(params, params, alpha=-group["lr"] * group["weight_decay"])
        return loss
