import math

import torch

from spertmt.optim import SpertAdamW


def reference_step(p, grad, state, lr, betas, eps, wd, correct_bias):
    """transformers' legacy AdamW update, one tensor at a time."""
    beta1, beta2 = betas
    state["step"] += 1
    state["m"].mul_(beta1).add_(grad, alpha=1 - beta1)
    state["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = state["v"].sqrt().add_(eps)
    step_size = lr
    if correct_bias:
        step_size = lr * math.sqrt(1 - beta2 ** state["step"]) / (1 - beta1 ** state["step"])
    p.addcdiv_(state["m"], denom, value=-step_size)
    if wd > 0:
        p.add_(p, alpha=-lr * wd)


def test_matches_legacy_adamw_update_for_many_steps():
    torch.manual_seed(0)
    for correct_bias in (False, True):
        a = [torch.randn(5, 3), torch.randn(4)]
        b = [t.clone() for t in a]
        params = [torch.nn.Parameter(t) for t in a]
        opt = SpertAdamW([{"params": params[:1], "weight_decay": 0.01}, {"params": params[1:], "weight_decay": 0.0}],
                         lr=1e-2, correct_bias=correct_bias)
        states = [{"step": 0, "m": torch.zeros_like(t), "v": torch.zeros_like(t)} for t in b]
        for _ in range(25):
            grads = [torch.randn_like(t) for t in b]
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
            for t, g, s, wd in zip(b, grads, states, (0.01, 0.0)):
                reference_step(t, g, s, 1e-2, (0.9, 0.999), 1e-6, wd, correct_bias)
        for p, t in zip(params, b):
            assert torch.allclose(p.data, t, atol=1e-6)


def test_without_bias_correction_first_step_is_larger_than_torch_adamw():
    p1 = torch.nn.Parameter(torch.zeros(3))
    p2 = torch.nn.Parameter(torch.zeros(3))
    SpertAdamW([p1], lr=0.1)
    opt1, opt2 = SpertAdamW([p1], lr=0.1), torch.optim.AdamW([p2], lr=0.1, weight_decay=0.0)
    p1.grad = torch.ones(3)
    p2.grad = torch.ones(3)
    opt1.step()
    opt2.step()
    assert abs(p1.data[0].item()) > 3 * abs(p2.data[0].item())
