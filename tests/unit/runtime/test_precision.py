"""Precision: what each device accepts, and that 16-bit autocast keeps scores and state fp32."""

from __future__ import annotations

import pytest
import torch

from spertmt.errors import ConfigError
from spertmt.model.outputs import EntityScores, PairScores, full_precision
from spertmt.runtime.precision import Precision, resolve_precision

CPU = torch.device("cpu")


@pytest.fixture
def native(native_bf16):
    """Pretend the CPU has (True) or lacks (False) native bf16 (tests/unit/conftest.py)."""
    return native_bf16


def test_fp32_is_no_autocast():
    chosen = resolve_precision("fp32", CPU)
    assert chosen.dtype is None and not chosen.needs_loss_scaling
    with chosen.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_bf16_on_a_cpu_with_native_bf16(native):
    native(True)
    chosen = resolve_precision("bf16", CPU)
    assert chosen.name == "bf16" and chosen.dtype == torch.bfloat16 and chosen.note == ""
    with chosen.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_bf16_without_native_support_is_refused_not_emulated(native):
    native(False)
    with pytest.raises(ConfigError) as error:
        resolve_precision("bf16", CPU, key="train.precision")
    assert error.value.code == "E234"
    assert "train.precision" in str(error.value) and "AVX512-BF16" in str(error.value)


@pytest.mark.parametrize("has_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_takes_bf16_only_where_native_and_says_why(native, has_bf16, expected):
    native(has_bf16)
    chosen = resolve_precision("auto", CPU)
    assert chosen.name == expected
    assert chosen.note.startswith(f"auto: {expected}")


def test_fp16_is_cuda_only():
    with pytest.raises(ConfigError) as error:
        resolve_precision("fp16", CPU)
    assert error.value.code == "E234" and "CUDA" in str(error.value)


@pytest.mark.parametrize("runtime", [{"quantize": True}, {"onnx": "model.onnx"}])
def test_16_bit_with_int8_or_onnx_is_refused_and_auto_falls_back(native, runtime):
    native(True)
    with pytest.raises(ConfigError) as error:
        resolve_precision("bf16", CPU, **runtime)
    assert error.value.code == "E235"
    assert resolve_precision("auto", CPU, **runtime).name == "fp32"


@pytest.mark.parametrize(
    ("capability", "auto", "bf16_ok"), [((7, 0), "fp32", False), ((8, 0), "bf16", True)]
)
def test_a_gpu_runs_bf16_only_from_compute_capability_8(monkeypatch, capability, auto, bf16_ok):
    # torch.cuda.is_bf16_supported() would count a V100's emulated bf16; this check does not
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    gpu = torch.device("cuda")
    assert resolve_precision("auto", gpu).name == auto
    assert resolve_precision("fp16", gpu).needs_loss_scaling
    if bf16_ok:
        assert resolve_precision("bf16", gpu).name == "bf16"
    else:
        with pytest.raises(ConfigError) as error:
            resolve_precision("bf16", gpu, key="train.precision")
        assert error.value.code == "E234" and "does not support bf16" in str(error.value)


def test_unknown_precision():
    with pytest.raises(ConfigError) as error:
        resolve_precision("fp8", CPU)
    assert error.value.code == "E203"


def test_scores_are_widened_to_fp32_but_float64_stays():
    low = torch.zeros(1, 3, 4, dtype=torch.bfloat16)
    scores = EntityScores(low, low[..., 0], None)
    assert scores.logits.dtype == torch.float32 and scores.binary_logits.dtype == torch.float32
    pairs = PairScores(torch.zeros(1, 2, 2), torch.ones(1, 2), low, None)
    assert pairs.logits.dtype == torch.float32
    assert full_precision(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64
    assert full_precision(None) is None


def test_the_config_key_is_checked():
    from spertmt.config import load_config

    assert load_config(None, overrides=["train.precision=auto"]).train.precision == "auto"
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides=["train.precision=half"])
    assert error.value.code == "E203"


def test_precision_is_a_value():
    chosen = Precision("bf16", "cpu", "auto: bf16, this CPU has AMX")
    assert chosen == Precision("bf16", "cpu", "auto: bf16, this CPU has AMX")
    with pytest.raises(AttributeError):
        chosen.name = "fp32"  # type: ignore[misc]


# ------------------------------------------------------------------ prediction
def test_bf16_prediction_keeps_fp32_scores_and_matches_fp32(eager_checkpoint, native):
    from spertmt import SpertMT

    native(True)  # bf16 runs (emulated where the CPU lacks it: correct, only slower)
    fp32 = SpertMT.from_pretrained(eager_checkpoint, device="cpu")
    bf16 = SpertMT.from_pretrained(eager_checkpoint, device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    text = ["John Smith lives in Paris .".split(), "Anna works for Acme in Rome .".split()]
    a, b = fp32.predict(text), bf16.predict(text)
    per_call = fp32.predict(text, precision="bf16")
    assert [d.to_dict() for d in per_call] == [d.to_dict() for d in b]
    for x, y in zip(a, b, strict=True):
        scores_a = {(e.start, e.end, e.type): e.score for e in x.entities}
        scores_b = {(e.start, e.end, e.type): e.score for e in y.entities}
        shared = scores_a.keys() & scores_b.keys()
        assert len(shared) >= 0.8 * max(len(scores_a), 1)
        assert all(abs(scores_a[k] - scores_b[k]) < 0.05 for k in shared)
    assert fp32.precision == "fp32"  # a per-call precision does not stick


def test_a_precision_the_model_cannot_run_is_a_coded_error(eager_checkpoint, eager_api):
    from spertmt import SpertMT

    with pytest.raises(ConfigError) as error:
        SpertMT.from_pretrained(eager_checkpoint, device="cpu", precision="fp16")
    assert error.value.code == "E234"
    with pytest.raises(ConfigError) as error:
        eager_api.predict("John lives in Paris.", precision="fp16")
    assert error.value.code == "E234"
    quantized = SpertMT.from_pretrained(eager_checkpoint, quantize=True)
    with pytest.raises(ConfigError) as error:
        quantized.predict("John lives in Paris.", precision="bf16")
    assert error.value.code == "E235" and "--quantize --precision bf16" in str(error.value)


def test_predict_command_refuses_fp16_on_the_cpu_in_one_line(eager_checkpoint, tmp_path, capsys):
    from spertmt.cli import main

    source = tmp_path / "in.txt"
    source.write_text("John lives in Paris.\n")
    argv = ["predict", "--model", str(eager_checkpoint), str(source), "--device", "cpu"]
    assert main([*argv, "--precision", "fp16", "-o", str(tmp_path / "out.jsonl")]) != 0
    err = capsys.readouterr().err
    assert "[E234] fp16 runs on CUDA only" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


def test_bf16_pools_rounded_states_and_scores_exactly_what_fp32_pooling_scores(
    eager_checkpoint, native, monkeypatch
):
    from spertmt import SpertMT
    from spertmt.model import spert as spert_module

    native(True)
    bf16 = SpertMT.from_pretrained(eager_checkpoint, device="cpu", precision="bf16")
    text = [
        "John Smith lives in Paris .".split(),
        "Anna works for Acme in Rome near Milan .".split(),
    ]
    rounded = [d.to_dict() for d in bf16.predict(text)]
    # The path before: word states pooled in fp32, rounded by each linear layer instead.
    monkeypatch.setattr(spert_module, "_inference_autocast_dtype", lambda device_type: None)
    pooled_in_fp32 = [d.to_dict() for d in bf16.predict(text)]
    assert rounded == pooled_in_fp32
    assert sum(len(d["relations"]) for d in rounded) > 0  # the pair stage took part


def test_a_span_stage_under_autocast_keeps_16_bit_pools_and_pairs_outside_it_work(eager_api):
    from spertmt.encoding.features import pad_id, prepare_documents
    from spertmt.sampling import inference_batch
    from spertmt.schema import Document

    model = eager_api.model
    words = ("Anna", "works", "in", "Rome")
    prepared = prepare_documents([Document(tokens=words)], eager_api.tokenizer)
    batch = inference_batch(prepared, model.config, pad_id=pad_id(eager_api.tokenizer))
    keep = batch.span_mask.clone()
    with torch.inference_mode():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            state = model.score_spans(batch)
            inside = model.score_pairs(state, keep)
        assert state.pooled.dtype == torch.bfloat16 and state.words.dtype == torch.bfloat16
        outside = model.score_pairs(state, keep)
        fp32 = model.score_spans(batch)
    assert fp32.pooled.dtype == torch.float32
    assert outside.logits.dtype == torch.float32
    assert torch.allclose(outside.logits, inside.logits, atol=0.05)


# ------------------------------------------------------------------ cached 16-bit weights
def test_a_cached_linear_answers_bit_for_bit_as_autocast_and_follows_weight_updates():
    from torch import nn

    from spertmt.runtime.engines import AutocastCachedLinear, cache_autocast_casts

    torch.manual_seed(0)
    plain = nn.Linear(16, 8)
    cached = cache_autocast_casts(nn.Sequential(nn.Linear(16, 8)))[0]
    cached.load_state_dict(plain.state_dict())
    assert type(cached) is AutocastCachedLinear
    x = torch.randn(5, 16)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = plain(x), cached(x)
        again = cached(x)
    assert got.dtype == torch.bfloat16 and torch.equal(got, expected) and torch.equal(again, got)
    with torch.no_grad():
        cached.weight.mul_(2.0)  # an in-place update (an optimiser step) bumps the version
        plain.weight.mul_(2.0)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(cached(x), plain(x))
    with torch.inference_mode():  # no autocast: nn.Linear in fp32
        assert torch.equal(cached(x), plain(x)) and cached(x).dtype == torch.float32
    out = cached(x.requires_grad_())  # with autograd: nn.Linear, gradients flow
    out.sum().backward()
    assert cached.weight.grad is not None


def test_a_float_checkpoint_caches_casts_and_quantising_it_later_still_converts(eager_checkpoint):
    from spertmt import SpertMT
    from spertmt.runtime.engines import AutocastCachedLinear, quantize_encoder, runtime_of

    loaded = SpertMT.from_pretrained(eager_checkpoint, device="cpu")
    layers = [m for m in loaded.model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert layers and all(type(m) is AutocastCachedLinear for m in layers)
    assert runtime_of(loaded.model) == "torch"
    quantize_encoder(loaded.model)
    assert runtime_of(loaded.model) == "torch-int8"
    left = [m for m in loaded.model.encoder.modules() if type(m) is AutocastCachedLinear]
    assert left == []
