"""Short real-encoder runs: MiniLM trains on a slice of CoNLL04, saves, reloads and predicts."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from spertmt.config import load_config
from spertmt.data.io import read_documents, write_documents
from spertmt.inference.predictor import Predictor
from spertmt.model.checkpoint import load_checkpoint
from spertmt.training import train

pytestmark = pytest.mark.integration

SHARED = Path(
    os.environ.get("SPERTMT_DATA_DIR", Path(__file__).parents[2] / ".." / "shared" / "data")
)


@pytest.fixture(scope="module")
def conll04_slice(tmp_path_factory, minilm_dir):
    folder = SHARED / "conll04"
    if not (folder / "conll04_train.json").is_file():
        pytest.skip("CoNLL04 not available (set SPERTMT_DATA_DIR)")
    out = tmp_path_factory.mktemp("conll04_slice")
    write_documents(out / "train.json", read_documents(folder / "conll04_train.json")[:24])
    write_documents(out / "test.json", read_documents(folder / "conll04_test.json")[:12])
    (out / "types.json").write_bytes((folder / "conll04_types.json").read_bytes())
    return out


@pytest.mark.parametrize("variant", ["spert", "spertmt-all"])
def test_minilm_trains_saves_reloads_and_predicts(conll04_slice, tmp_path, variant):
    overrides = [
        f"data.train={conll04_slice / 'train.json'}",
        "data.dev=none",
        f"data.test={conll04_slice / 'test.json'}",
        f"data.types={conll04_slice / 'types.json'}",
        "train.epochs=1",
        "train.checkpoint_every=0",
    ]
    if variant == "spertmt-all":
        overrides += [
            "model.entity_binary_head=true",
            "model.iou_mode='head'",
            "model.relation_binary_head=true",
            "model.entity_logits_in_pair=true",
            "model.word_shape=true",
        ]
    config = load_config(None, overrides=overrides)
    result = train(config, output_dir=tmp_path / "run", progress=False)

    metrics_lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    log = [json.loads(line) for line in metrics_lines]
    losses = [entry["loss"] for entry in log if entry.get("event") == "train"]
    assert losses and all(math.isfinite(x) for x in losses)
    assert result.test is not None and 0.0 <= result.test["entity"]["micro"]["f1"] <= 100.0

    checkpoint = load_checkpoint(result.model_dir)
    assert checkpoint.config == config.model and checkpoint.rule == config.decision
    assert checkpoint.types.entity_names == ("Loc", "Org", "Peop", "Other")
    docs = read_documents(conll04_slice / "test.json")
    predictor = Predictor(checkpoint.model, checkpoint.tokenizer, checkpoint.rule)
    again = [d.to_dict() for d in predictor.predict(docs)]
    written = json.loads((tmp_path / "run" / "predictions_test.json").read_text())
    assert again == written  # the reloaded checkpoint predicts exactly what training wrote
