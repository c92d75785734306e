"""CPU runtimes: int8 dynamic quantisation and the ONNX-exported encoder (spertmt export)."""

import json

import numpy as np
import pytest
import torch
from samples import TYPES, build_model, save_eager_checkpoint
from torch import nn

from spertmt import SpertMT
from spertmt.cli import main
from spertmt.errors import CheckpointError, ConfigError
from spertmt.model.checkpoint import save_checkpoint
from spertmt.runtime.devices import check_cpu
from spertmt.runtime.engines import ONNX_FILE, runtime_of
from spertmt.runtime.export import DEFAULT_OPSET, ONNX_ATOL, SCORE_TOLERANCE, export_onnx

pytest.importorskip("onnxruntime", reason="the onnx extra is part of the dev install")

SENTENCES = [
    "John Smith lives in Paris and works for Acme Corp .".split(),
    "Rome is old .".split(),
    "Anna moved to Rome . She likes it a lot , says Bob Jones of New York .".split(),
    ["Tokyo"],
]
SCORE_ATOL = 1e-4
"""Scores through ONNX Runtime must match PyTorch's this closely (docs/speed.md)."""


@pytest.fixture(scope="module")
def onnx_file(eager_checkpoint, tmp_path_factory):
    return export_onnx(eager_checkpoint, tmp_path_factory.mktemp("onnx") / "encoder.onnx").path


def _spans(doc):
    return [(e.type, e.start, e.end) for e in doc.entities]


def _relations(doc):
    return [(r.type, r.head, r.tail) for r in doc.relations]


# ---------------------------------------------------------------------------- quantisation
def test_quantize_replaces_the_encoder_linears_but_the_feed_forward_outputs(eager_checkpoint):
    quantized = SpertMT.from_pretrained(eager_checkpoint, quantize=True)
    assert quantized.runtime == "torch-int8"
    assert quantized.device == torch.device("cpu")
    encoder = quantized.model.encoder.model
    linears = {n: m for n, m in encoder.named_modules() if type(m).__name__ == "Linear"}
    dynamic = {
        n for n, m in linears.items() if type(m).__module__.startswith("torch.ao.nn.quantized")
    }
    float_ = {n for n, m in linears.items() if type(m) is nn.Linear}
    # BERT's layer.N.output.dense (the feed-forward output projection) stays float, its
    # attention.output.dense and every other linear layer is int8.
    assert float_ and all(n.endswith(".output.dense") and "attention" not in n for n in float_)
    assert len(float_) == encoder.config.num_hidden_layers
    assert any(n.endswith("attention.output.dense") for n in dynamic)
    assert any(n.endswith("intermediate.dense") for n in dynamic)
    assert dynamic | float_ == set(linears)
    # The heads stay float nn.Linear.
    assert type(quantized.model.entity_classifier) is nn.Linear
    assert type(quantized.model.relation_classifier) is nn.Linear
    assert quantized.model.entity_classifier.weight.dtype == torch.float32


def test_quantized_model_predicts_the_same_entities(eager_api, eager_checkpoint):
    quantized = SpertMT.from_pretrained(eager_checkpoint, quantize=True)
    expected = eager_api.predict(SENTENCES)
    actual = quantized.predict(SENTENCES)
    for want, got in zip(expected, actual, strict=True):
        assert _spans(got) == _spans(want)
        # int8 weights move scores a little, never far.
        scores = np.array([e.score for e in got.entities]) - [e.score for e in want.entities]
        assert np.abs(scores).max() < 0.02


def test_int8_with_bf16_puts_only_the_feed_forward_outputs_in_bf16(eager_checkpoint, native_bf16):
    from spertmt.runtime.engines import Bf16Linear

    native_bf16(True)
    mixed = SpertMT.from_pretrained(eager_checkpoint, quantize=True, precision="bf16")
    assert mixed.runtime == "torch-int8-bf16"
    assert mixed.precision == "fp32"  # no autocast around the int8 encoder
    encoder = mixed.model.encoder.model
    bf16 = {n: m for n, m in encoder.named_modules() if isinstance(m, Bf16Linear)}
    assert len(bf16) == encoder.config.num_hidden_layers
    assert all(n.endswith(".output.dense") and "attention" not in n for n in bf16)
    assert all(m.weight.dtype == m.bias.dtype == torch.bfloat16 for m in bf16.values())
    assert not any(type(m) is nn.Linear for m in encoder.modules())  # nothing left in fp32
    quantized = {n for n, m in encoder.named_modules() if "quantized" in type(m).__module__}
    assert any(n.endswith("attention.output.dense") for n in quantized)
    assert mixed.model.entity_classifier.weight.dtype == torch.float32  # the heads stay fp32


def test_int8_with_bf16_predicts_the_entities_of_int8(eager_checkpoint, native_bf16):
    native_bf16(True)  # bf16 runs everywhere (emulated where the CPU lacks it: only slower)
    int8 = SpertMT.from_pretrained(eager_checkpoint, quantize=True).predict(SENTENCES)
    mixed = SpertMT.from_pretrained(eager_checkpoint, quantize=True, precision="bf16")
    for want, got in zip(int8, mixed.predict(SENTENCES), strict=True):
        assert _spans(got) == _spans(want)
        scores = np.array([e.score for e in got.entities]) - [e.score for e in want.entities]
        assert np.abs(scores).max() < 0.02
        assert all(isinstance(e.score, float) for e in got.entities)


@pytest.mark.parametrize(
    "has_bf16, precision, runtime",
    [
        (True, "auto", "torch-int8-bf16"),
        (False, "auto", "torch-int8"),
        (True, "fp32", "torch-int8"),
    ],
)
def test_int8_projections_follow_the_precision(
    eager_checkpoint, native_bf16, has_bf16, precision, runtime
):
    native_bf16(has_bf16)
    model = SpertMT.from_pretrained(eager_checkpoint, quantize=True, precision=precision)
    assert model.runtime == runtime


def test_int8_with_bf16_is_refused_where_bf16_is_not_native(eager_checkpoint, native_bf16):
    native_bf16(False)
    with pytest.raises(ConfigError) as error:
        SpertMT.from_pretrained(eager_checkpoint, quantize=True, precision="bf16")
    assert error.value.code == "E234" and "AVX512-BF16" in str(error.value)
    with pytest.raises(ConfigError) as error:
        SpertMT.from_pretrained(eager_checkpoint, quantize=True, precision="fp16")
    assert error.value.code == "E234" and "CUDA" in str(error.value)


def test_cli_predicts_with_int8_and_bf16(eager_checkpoint, native_bf16, tmp_path, capsys):
    native_bf16(True)
    source = tmp_path / "news.txt"
    source.write_text("John Smith lives in Paris.\nAnna moved to Rome.\n", encoding="utf-8")
    outputs = {}
    for name, extra in (("int8", []), ("mixed", ["--precision", "bf16"])):
        out = tmp_path / f"{name}.jsonl"
        argv = ["predict", "--model", str(eager_checkpoint), "-q", str(source), "-o", str(out)]
        assert main([*argv, "--quantize", *extra]) == 0
        outputs[name] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [[(e["start"], e["end"]) for e in d["entities"]] for d in outputs["mixed"]] == [
        [(e["start"], e["end"]) for e in d["entities"]] for d in outputs["int8"]
    ]
    native_bf16(False)
    capsys.readouterr()
    argv = ["predict", "--model", str(eager_checkpoint), "-q", str(source), "--quantize"]
    assert main([*argv, "--precision", "bf16", "-o", str(tmp_path / "no.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: [E234]") and "Traceback" not in err
    assert not (tmp_path / "no.jsonl").exists()


def test_quantize_and_onnx_are_cpu_only_and_exclusive(eager_checkpoint, onnx_file):
    with pytest.raises(ConfigError) as error:
        SpertMT.from_pretrained(eager_checkpoint, device=torch.device("cuda"), quantize=True)
    assert error.value.code == "E230" and "CPU only" in str(error.value)
    with pytest.raises(ConfigError) as error:
        check_cpu(torch.device("cuda", 0), quantize=False, onnx=onnx_file)
    assert error.value.code == "E230"
    with pytest.raises(ConfigError) as error:
        SpertMT.from_pretrained(eager_checkpoint, quantize=True, onnx=onnx_file)
    assert error.value.code == "E231"


def test_a_quantized_or_onnx_model_cannot_be_saved(eager_checkpoint, onnx_file, tmp_path):
    for options in ({"quantize": True}, {"onnx": onnx_file}):
        model = SpertMT.from_pretrained(eager_checkpoint, **options)
        with pytest.raises(CheckpointError) as error:
            model.save_pretrained(tmp_path / "copy")
        assert error.value.code == "E322"
        assert not (tmp_path / "copy").exists()


# ---------------------------------------------------------------------------- ONNX export
def test_onnx_encoder_matches_pytorch_on_a_padded_batch(eager_api, eager_checkpoint, onnx_file):
    from spertmt.encoding.features import prepare_documents
    from spertmt.sampling import inference_batch
    from spertmt.schema import Document

    onnx = SpertMT.from_pretrained(eager_checkpoint, onnx=onnx_file)
    assert onnx.runtime == "onnxruntime"
    prepared = prepare_documents([Document(tokens=s) for s in SENTENCES], eager_api.tokenizer)
    batch = inference_batch(prepared, eager_api.config, pad_id=0)
    assert (batch.attention_mask == 0).any(), "the batch must hold padding"
    with torch.inference_mode():
        expected, expected_cls = eager_api.model.encoder(batch.input_ids, batch.attention_mask)
        actual, actual_cls = onnx.model.encoder(batch.input_ids, batch.attention_mask)
    assert actual.shape == expected.shape  # dynamic batch and sequence axes
    real = batch.attention_mask.bool()
    assert (actual[real] - expected[real]).abs().max() < ONNX_ATOL
    assert (actual_cls - expected_cls).abs().max() < ONNX_ATOL


def test_predictions_through_onnx_match_pytorch(eager_api, eager_checkpoint, onnx_file):
    onnx = SpertMT.from_pretrained(eager_checkpoint, onnx=onnx_file.parent)  # a folder works
    texts = [*SENTENCES, "Ann met Bob in Rome. They stayed."]
    expected = eager_api.predict(texts, batch_size=2)
    actual = onnx.predict(texts, batch_size=2)
    for want, got in zip(expected, actual, strict=True):
        assert _spans(got) == _spans(want)
        assert _relations(got) == _relations(want)
        assert got.relations or len(got.entities) < 2, "the eager checkpoint predicts relations"
        for a, b in zip(got.entities, want.entities, strict=True):
            assert a.score == pytest.approx(b.score, abs=SCORE_ATOL)
        for a, b in zip(got.relations, want.relations, strict=True):
            assert a.score == pytest.approx(b.score, abs=SCORE_ATOL)


def test_onnx_encoder_runs_the_windows_of_long_inputs(tiny_bert_dir, tmp_path):
    checkpoint = save_eager_checkpoint(tiny_bert_dir, tmp_path / "model", max_length=12)
    exported = export_onnx(checkpoint, tmp_path)  # an existing folder gets encoder.onnx
    assert exported.path == tmp_path / ONNX_FILE
    tokens = ("Anna moved to Rome and Bob stayed in Paris with Carol for a year .").split()
    torch_model = SpertMT.from_pretrained(checkpoint, device="cpu")
    onnx = SpertMT.from_pretrained(checkpoint, onnx=exported.path)
    want = torch_model.predict([tokens])[0]
    got = onnx.predict([tokens])[0]
    assert _spans(got) == _spans(want) and _relations(got) == _relations(want)
    assert [e.score for e in got.entities] == pytest.approx(
        [e.score for e in want.entities], abs=SCORE_ATOL
    )


def test_export_records_the_checkpoint_and_checks_parity(eager_checkpoint, tmp_path):
    import onnxruntime

    result = export_onnx(eager_checkpoint, tmp_path / "out" / "enc.onnx")
    assert result.path.is_file() and result.opset == DEFAULT_OPSET
    assert 0 <= result.max_abs_diff < result.atol == ONNX_ATOL
    # end to end through the Predictor: the heads see (almost) the same encoder states
    assert 0 <= result.score_max_abs_diff <= SCORE_TOLERANCE * ONNX_ATOL
    session = onnxruntime.InferenceSession(str(result.path))
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["spertmt.weights_sha256"] == result.weights_sha256
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask"]
    shapes = [i.shape for i in session.get_inputs()]
    assert all(isinstance(dim, str) for shape in shapes for dim in shape)  # dynamic axes
    assert [p.name for p in tmp_path.joinpath("out").iterdir()] == ["enc.onnx"]


def test_a_failed_parity_check_writes_nothing(eager_checkpoint, tmp_path, monkeypatch):
    import spertmt.runtime.export as export

    class Off(export.OnnxEncoder):
        def forward(self, input_ids, attention_mask):
            output = super().forward(input_ids, attention_mask)
            output.last_hidden_state = output.last_hidden_state + 1e-3
            return output

    monkeypatch.setattr(export, "OnnxEncoder", Off)
    with pytest.raises(CheckpointError) as error:
        export_onnx(eager_checkpoint, tmp_path / "enc.onnx")
    assert error.value.code == "E323" and "tolerance" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_an_export_of_other_weights_is_refused(tiny_bert_dir, onnx_file, tmp_path):
    model, tokenizer = build_model(tiny_bert_dir)
    with torch.no_grad():
        model.entity_classifier.bias[0] += 1.0
    other = save_checkpoint(
        tmp_path / "other", model, tokenizer, types=TYPES, model_config=model.config
    )
    with pytest.raises(CheckpointError) as error:
        SpertMT.from_pretrained(other, onnx=onnx_file)
    assert error.value.code == "E321" and "spertmt export" in str(error.value)


def test_bad_onnx_files_are_named(eager_checkpoint, tmp_path):
    with pytest.raises(CheckpointError) as error:
        SpertMT.from_pretrained(eager_checkpoint, onnx=tmp_path / "missing.onnx")
    assert error.value.code == "E320" and "missing.onnx" in str(error.value)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(CheckpointError) as error:
        SpertMT.from_pretrained(eager_checkpoint, onnx=junk)
    assert error.value.code == "E320"
    with pytest.raises(ConfigError) as error:
        export_onnx(eager_checkpoint, tmp_path / "model.bin")
    assert error.value.code == "E233"


def test_a_missing_extra_is_one_clear_error(eager_checkpoint, onnx_file, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    with pytest.raises(ConfigError) as error:
        SpertMT.from_pretrained(eager_checkpoint, onnx=onnx_file)
    assert error.value.code == "E232"
    assert "pip install 'spertmt[onnx]'" in str(error.value)


# ---------------------------------------------------------------------------- command line
def test_cli_export_then_predict_with_onnx_and_quantize(eager_checkpoint, tmp_path, capsys):
    source = tmp_path / "news.txt"
    source.write_text("John Smith lives in Paris.\nAnna moved to Rome.\n", encoding="utf-8")
    target = tmp_path / "exported" / "encoder.onnx"
    assert main(["export", "--model", str(eager_checkpoint), "--onnx", str(target)]) == 0
    assert target.is_file()
    assert "predict with: spertmt predict" in capsys.readouterr().out

    outputs = {}
    for name, extra in (
        ("torch", []),
        ("onnx", ["--onnx", str(target)]),
        ("int8", ["--quantize"]),
    ):
        out = tmp_path / f"{name}.jsonl"
        argv = ["predict", "--model", str(eager_checkpoint), "-q", str(source), "-o", str(out)]
        assert main([*argv, *extra]) == 0
        outputs[name] = [json.loads(line) for line in out.read_text().splitlines()]
    for want, got in zip(outputs["torch"], outputs["onnx"], strict=True):
        assert [(e["start"], e["end"]) for e in got["entities"]] == [
            (e["start"], e["end"]) for e in want["entities"]
        ]
        assert len(got["relations"]) == len(want["relations"])
        for a, b in zip(got["entities"], want["entities"], strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=SCORE_ATOL)
    for want, got in zip(outputs["torch"], outputs["int8"], strict=True):
        assert [(e["start"], e["end"]) for e in got["entities"]] == [
            (e["start"], e["end"]) for e in want["entities"]
        ]


def test_cli_evaluate_with_quantize_and_onnx(eager_checkpoint, onnx_file, tmp_path, capsys):
    gold = tmp_path / "gold.json"
    docs = [
        {"tokens": s, "entities": [{"type": "Peop", "start": 0, "end": 1}], "relations": []}
        for s in SENTENCES
    ]
    gold.write_text(json.dumps(docs), encoding="utf-8")
    reports = {}
    for name, extra in (("torch", []), ("int8", ["--quantize"]), ("onnx", ["--onnx", onnx_file])):
        out = tmp_path / f"{name}.json"
        argv = ["evaluate", "--model", str(eager_checkpoint), "--data", str(gold)]
        assert main([*argv, "--json", str(out), *map(str, extra)]) == 0
        reports[name] = json.loads(out.read_text())
    f1 = {name: r["entity"]["micro"]["f1"] for name, r in reports.items()}
    assert f1["onnx"] == pytest.approx(f1["torch"]) and f1["int8"] == pytest.approx(f1["torch"])
    assert main(["evaluate", "--gold", str(gold), "--pred", str(gold), "--quantize"]) == 2
    assert "--quantize, --onnx, --precision and the decision-rule options go with --model" in (
        capsys.readouterr().err
    )


def test_cli_errors_are_one_line(eager_checkpoint, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("Rome is old.\n", encoding="utf-8")
    argv = ["predict", "--model", str(eager_checkpoint), "-q", str(source)]
    assert main([*argv, "--quantize", "--onnx", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: [E231]") and err.count("\n") == 1
    assert main(["export", "--model", str(tmp_path / "nope"), "--onnx", "out.onnx"]) == 1
    assert "[E301]" in capsys.readouterr().err


def test_help_defaults_match_the_library():
    from spertmt.cli import export_command

    assert export_command.HELP_OPSET == DEFAULT_OPSET
    assert export_command.HELP_ATOL == ONNX_ATOL


def test_runtime_of_a_plain_model(tiny_bert_dir):
    model, _ = build_model(tiny_bert_dir)
    assert runtime_of(model) == "torch"


def test_export_into_a_path_that_cannot_be_written_says_so(eager_checkpoint, tmp_path):
    from spertmt.errors import DataError

    blocker = tmp_path / "a file"
    blocker.write_text("x")
    with pytest.raises(DataError, match=r"\[E115\].*cannot be written") as info:
        export_onnx(eager_checkpoint, blocker / "enc.onnx")
    assert "opset" not in str(info.value)
