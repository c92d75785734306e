import math

import torch

from spertmt.training.optim import SpertAdamW


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


def run_both(lr, wd, correct_bias, steps=25):
    torch.manual_seed(0)
    start = torch.randn(5, 3)
    param = torch.nn.Parameter(start.clone())
    ref = start.clone()
    opt = SpertAdamW([param], lr=lr, weight_decay=wd, correct_bias=correct_bias)
    state = {"step": 0, "m": torch.zeros_like(ref), "v": torch.zeros_like(ref)}
    for _ in range(steps):
        grad = torch.randn_like(ref)
        param.grad = grad.clone()
        opt.step()
        reference_step(ref, grad, state, lr, (0.9, 0.999), 1e-6, wd, correct_bias)
    return (param.data - ref).abs().max().item()


def test_matches_legacy_adamw_update():
    for correct_bias in (False, True):
        for lr in (5e-5, 1e-2):
            for wd in (0.0, 0.01):
                assert run_both(lr, wd, correct_bias) < 5e-7, (correct_bias, lr, wd)


def test_groups_keep_their_own_settings_and_lr_is_restored():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = SpertAdamW(
        [{"params": [a], "weight_decay": 0.01}, {"params": [b], "weight_decay": 0.0}], lr=1e-3
    )
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-3]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    assert [g["eps"] for g in opt.param_groups] == [1e-6, 1e-6]
    assert (a < b).all()  # only the first group decays


def test_without_bias_correction_first_step_is_larger_than_torch_adamw():
    p1 = torch.nn.Parameter(torch.zeros(3))
    p2 = torch.nn.Parameter(torch.zeros(3))
    opt1, opt2 = SpertAdamW([p1], lr=0.1), torch.optim.AdamW([p2], lr=0.1, weight_decay=0.0)
    p1.grad = torch.ones(3)
    p2.grad = torch.ones(3)
    opt1.step()
    opt2.step()
    assert abs(p1.data[0].item()) > 3 * abs(p2.data[0].item())
