"""SpERT.MT readings that act where the abstract says: decoupled losses, IoU in the classifier."""

import numpy as np
import pytest
import torch
from samples import TYPES
from test_model import DOCS, build

from spertmt.config import ModelConfig, load_config
from spertmt.encoding.features import prepare_documents
from spertmt.errors import ConfigError
from spertmt.inference.predictor import Predictor
from spertmt.model.losses import compute_losses
from spertmt.model.outputs import EntityScores, PairScores, SpertMTOutput
from spertmt.sampling import Batch, Labels, training_batch


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from spertmt.encoding.encoders import load_tokenizer

    return load_tokenizer(str(tiny_bert_dir))


def _hand_made(binary_entity: list[float], binary_pair: list[float]):
    """One document: 4 spans (span 0 gold), 3 pairs (pair 0 related); chosen head logits."""
    span_types = torch.tensor([[1, 0, 0, 0]])
    logits = torch.tensor([[[0.0, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 4.0], [1.0, 1.0, 1.0]]])
    pair_types = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    pair_logits = torch.tensor([[[2.0, -1.0], [3.0, 3.0], [-2.0, -2.0]]])
    output = SpertMTOutput(
        entities=EntityScores(logits, torch.tensor([binary_entity]), None),
        pairs=PairScores(
            torch.zeros(1, 3, 2, dtype=torch.long),
            torch.ones(1, 3, dtype=torch.bool),
            pair_logits,
            torch.tensor([binary_pair]),
        ),
    )
    batch = Batch(
        **{
            name: None
            for name in Batch.__dataclass_fields__
            if name not in ("span_mask", "pair_mask")
        },
        span_mask=torch.ones(1, 4, dtype=torch.bool),
        pair_mask=torch.ones(1, 3, dtype=torch.bool),
    )
    labels = Labels(span_types, torch.zeros(1, 4), pair_types)
    return output, batch, labels, logits, span_types, pair_logits, pair_types


def test_decoupled_typed_losses_see_gold_and_let_through_negatives_only():
    # Head A lets span 2 through (logit 1 > 0), rejects spans 1 and 3; head C lets pair 1 through.
    output, batch, labels, logits, span_types, pair_logits, pair_types = _hand_made(
        [5.0, -3.0, 1.0, -2.0], [4.0, 0.5, -6.0]
    )
    config = ModelConfig(
        entity_binary_head=True,
        relation_binary_head=True,
        entity_type_loss="decoupled",
        relation_type_loss="decoupled",
    )
    terms = compute_losses(output, batch, labels, config)
    ce = torch.nn.functional.cross_entropy(logits[0], span_types[0], reduction="none")
    assert terms["entity_type"].item() == pytest.approx(ce[[0, 2]].mean().item())
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        pair_logits[0], pair_types[0], reduction="none"
    ).mean(-1)
    assert terms["relation"].item() == pytest.approx(bce[[0, 1]].mean().item())
    # The binary heads still learn from every negative.
    coupled = compute_losses(
        output, batch, labels, ModelConfig(entity_binary_head=True, relation_binary_head=True)
    )
    assert terms["entity_binary"].item() == pytest.approx(coupled["entity_binary"].item())
    assert coupled["entity_type"].item() == pytest.approx(ce.mean().item())
    assert coupled["relation"].item() == pytest.approx(bce.mean().item())


def test_the_hard_negative_threshold_decides_what_passes():
    output, batch, labels, logits, span_types, *_ = _hand_made(
        [5.0, -3.0, 1.0, -2.0], [0.0, 0.0, 0.0]
    )
    strict = ModelConfig(
        entity_binary_head=True, entity_type_loss="decoupled", hard_negative_threshold=0.9
    )
    ce = torch.nn.functional.cross_entropy(logits[0], span_types[0], reduction="none")
    terms = compute_losses(output, batch, labels, strict)
    assert terms["entity_type"].item() == pytest.approx(ce[0].item())  # sigmoid(1) < 0.9


@pytest.mark.parametrize(
    "switches",
    [
        dict(entity_binary_head=True, entity_type_loss="decoupled"),
        dict(relation_binary_head=True, relation_type_loss="decoupled"),
        dict(iou_mode="head", iou_in_classifier=True),
        dict(
            entity_binary_head=True,
            iou_mode="head",
            relation_binary_head=True,
            entity_logits_in_pair=True,
            entity_type_loss="decoupled",
            relation_type_loss="decoupled",
            iou_in_classifier=True,
        ),
    ],
)
def test_new_switches_train_and_their_inference_path_matches_training(
    tiny_bert_dir, tokenizer, switches
):
    model = build(tiny_bert_dir, dropout=0.0, **switches)  # two passes must see the same input
    prepared = prepare_documents(DOCS, tokenizer)
    batch, labels = training_batch(
        prepared,
        DOCS,
        TYPES,
        model.config,
        neg_entity_count=20,
        neg_relation_count=20,
        rng=np.random.default_rng(0),
    )
    out = model(batch, labels)
    out.loss.backward()
    assert np.isfinite(out.loss_terms["total"])
    if model.iou_to_type is not None:
        assert model.iou_to_type.weight.grad is not None
        # No gradient reaches head B1 through the classifier: only its own loss trains it.
        iou_grad = model.iou_head.weight.grad.clone()
        model.zero_grad()
        terms = compute_losses(model(batch, labels), batch, labels, model.config)
        terms["iou"].backward()
        assert torch.allclose(model.iou_head.weight.grad, iou_grad, atol=1e-6)
    model.eval()
    with torch.no_grad():
        train_form = model(batch).entities
        state = model.score_spans(batch)
    assert torch.allclose(train_form.logits, state.entities.logits, atol=1e-5)
    assert Predictor(model, tokenizer).predict(DOCS)


@pytest.mark.parametrize(
    "override, needed",
    [
        ("model.entity_type_loss=decoupled", "entity_binary_head"),
        ("model.relation_type_loss=decoupled", "relation_binary_head"),
        ("model.iou_in_classifier=true", "iou_mode"),
    ],
)
def test_a_switch_without_its_head_is_refused(override, needed):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides=[override])
    assert error.value.code == "E214" and needed in str(error.value)


def test_all_new_switches_off_is_the_default():
    config = ModelConfig()
    assert (config.entity_type_loss, config.relation_type_loss) == ("all", "all")
    assert not config.iou_in_classifier
