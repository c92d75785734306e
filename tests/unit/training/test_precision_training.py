"""Training under train.precision: bf16/fp16 autocast with fp32 weights, loss scaling, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_training import crash_after_first_checkpoint, final_weights, tiny_config, tiny_data  # noqa: F401 (fixture)

from spertmt.runtime import precision as precision_module
from spertmt.runtime.precision import Precision
from spertmt.training import run, train


def _events(folder: Path) -> list[dict]:
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def native(monkeypatch):
    def set_native(value: bool) -> None:
        monkeypatch.setattr(precision_module, "cpu_bf16_native", lambda: (value, "test"))

    return set_native


@pytest.fixture(scope="module")
def fp32_run(tiny_bert_dir, tiny_data, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("fp32") / "run"
    train(tiny_config(tiny_bert_dir, tiny_data), output_dir=out, progress=False)
    return out


def test_auto_without_native_bf16_is_exactly_fp32_and_logs_why(
    tiny_bert_dir,
    tiny_data,  # noqa: F811
    fp32_run,
    tmp_path,
    native,
):
    native(False)
    out = tmp_path / "auto"
    train(
        tiny_config(tiny_bert_dir, tiny_data, **{"train.precision": '"auto"'}),
        output_dir=out,
        progress=False,
    )
    start = _events(out)[0]
    assert start["precision"] == "fp32" and start["precision_note"].startswith("auto: fp32")
    expected, actual = final_weights(fp32_run), final_weights(out)
    assert all(torch.equal(expected[k], actual[k]) for k in expected)


def test_bf16_trains_with_fp32_weights_and_optimiser_state(
    tiny_bert_dir,
    tiny_data,  # noqa: F811
    fp32_run,
    tmp_path,
    native,
):
    native(True)
    out = tmp_path / "bf16"
    result = train(
        tiny_config(tiny_bert_dir, tiny_data, **{"train.precision": '"bf16"'}),
        output_dir=out,
        progress=False,
    )
    assert _events(out)[0]["precision"] == "bf16"
    weights = final_weights(out)
    assert all(w.dtype == torch.float32 and torch.isfinite(w).all() for w in weights.values())
    from safetensors.torch import load_file

    optimiser = load_file(out / "checkpoint" / "optimizer.safetensors")
    assert {t.dtype for t in optimiser.values() if t.is_floating_point()} == {torch.float32}
    # bf16 arithmetic moves the weights, but only a little in two epochs.
    reference = final_weights(fp32_run)
    changed = [k for k in weights if not torch.equal(weights[k], reference[k])]
    assert changed
    assert all(torch.allclose(weights[k], reference[k], atol=0.05) for k in weights)
    assert result.test is not None


def test_fp16_loss_scaling_resumes_to_the_uninterrupted_weights(
    tiny_bert_dir,
    tiny_data,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    # fp16 autocast is CUDA's; the CPU runs the same code path (autocast + GradScaler), slowly.
    monkeypatch.setattr(run, "resolve_precision", lambda *a, **k: Precision("fp16", "cpu"))
    # A scale that changes every step, so a resume that forgot it would end elsewhere.
    real_scaler = torch.amp.GradScaler
    monkeypatch.setattr(
        torch.amp,
        "GradScaler",
        lambda device: real_scaler(device, init_scale=4.0, growth_interval=1),
    )
    config = tiny_config(tiny_bert_dir, tiny_data, **{"train.precision": '"fp16"'})
    straight = tmp_path / "straight"
    train(config, output_dir=straight, progress=False)
    state = json.loads((straight / "checkpoint" / "trainer_state.json").read_text())
    assert state["trainer"]["grad_scaler"]["scale"] > 4.0

    out = tmp_path / "resumed"
    crash_after_first_checkpoint(config, out, monkeypatch)
    train(config, output_dir=out, resume=True, progress=False)
    expected, actual = final_weights(straight), final_weights(out)
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
