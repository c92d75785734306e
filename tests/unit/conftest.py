"""Fixtures shared by the unit tests of prediction: one eager tiny checkpoint and its model."""

import pytest
from samples import save_eager_checkpoint

from spertmt import SpertMT


@pytest.fixture(scope="session")
def eager_checkpoint(tiny_bert_dir, tmp_path_factory):
    """A tiny checkpoint that predicts entities everywhere (see ``save_eager_checkpoint``)."""
    return save_eager_checkpoint(tiny_bert_dir, tmp_path_factory.mktemp("eager") / "model")


@pytest.fixture(scope="session")
def eager_api(eager_checkpoint):
    """The eager checkpoint loaded on the CPU; per-call thresholds never change it."""
    return SpertMT.from_pretrained(eager_checkpoint, device="cpu")
