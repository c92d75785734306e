"""The real MiniLM encoder through ONNX Runtime and int8 quantisation (an untrained model)."""

import pytest
import torch

from spertmt import SpertMT
from spertmt.config import ModelConfig
from spertmt.encoding.encoders import load_tokenizer
from spertmt.model.checkpoint import save_checkpoint
from spertmt.model.spert import SpertMTModel
from spertmt.runtime.export import ONNX_ATOL, SCORE_TOLERANCE, export_onnx
from spertmt.schema import EntityType, RelationType, TypeSchema

pytestmark = pytest.mark.integration
pytest.importorskip("onnxruntime", reason="the onnx extra is part of the dev install")

TYPES = TypeSchema(
    (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
    (RelationType("Live_In", "LI", "Live in"),),
)
TEXTS = [
    "John Smith , the president of Acme Corp. , moved from Paris to New York in 1984 .".split(),
    "Rome is old .".split(),
    "Anna lives in Lyon . Bob lives in Rome .",
]


@pytest.fixture(scope="module")
def minilm_checkpoint(minilm_dir, tmp_path_factory):
    """An untrained SpERT head over the real MiniLM, biased to predict a few entities."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = SpertMTModel.build(ModelConfig(encoder=str(minilm_dir)), TYPES).eval()
    with torch.no_grad():
        model.entity_classifier.bias[0] += 0.3
        model.relation_classifier.bias += 0.5  # scores near the 0.4 threshold and above
    folder = tmp_path_factory.mktemp("minilm") / "model"
    return save_checkpoint(
        folder, model, load_tokenizer(str(minilm_dir)), types=TYPES, model_config=model.config
    )


def test_minilm_onnx_matches_pytorch(minilm_checkpoint, tmp_path):
    exported = export_onnx(minilm_checkpoint, tmp_path / "encoder.onnx")
    assert exported.max_abs_diff < ONNX_ATOL
    assert exported.score_max_abs_diff <= SCORE_TOLERANCE * ONNX_ATOL
    reference = SpertMT.from_pretrained(minilm_checkpoint, device="cpu")
    onnx = SpertMT.from_pretrained(minilm_checkpoint, onnx=exported.path)
    want = reference.predict(TEXTS, batch_size=2)
    got = onnx.predict(TEXTS, batch_size=2)
    assert any(doc.relations for doc in want)
    for a, b in zip(got, want, strict=True):
        assert [(e.type, e.start, e.end) for e in a.entities] == [
            (e.type, e.start, e.end) for e in b.entities
        ]
        assert [(r.head, r.tail, r.type) for r in a.relations] == [
            (r.head, r.tail, r.type) for r in b.relations
        ]
        for x, y in zip(a.entities + a.relations, b.entities + b.relations, strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-4)


def test_minilm_quantized_stays_close(minilm_checkpoint):
    reference = SpertMT.from_pretrained(minilm_checkpoint, device="cpu")
    quantized = SpertMT.from_pretrained(minilm_checkpoint, quantize=True)
    assert quantized.runtime == "torch-int8"
    from spertmt.encoding.features import prepare_documents
    from spertmt.sampling import inference_batch
    from spertmt.schema import Document

    prepared = prepare_documents([Document(tokens=t) for t in TEXTS[:2]], reference.tokenizer)
    batch = inference_batch(prepared, reference.config, pad_id=0)
    with torch.inference_mode():
        want = reference.model.score_spans(batch).entities.logits.softmax(-1)
        got = quantized.model.score_spans(batch).entities.logits.softmax(-1)
    # int8 weights: probabilities move by a little, not by a lot.
    assert (got - want)[batch.span_mask].abs().max() < 0.05
