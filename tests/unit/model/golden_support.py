"""The calls the golden test makes into the library, in one place.

When code moves, only this file follows it; ``test_golden.py`` and its record stay as they are.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from spertmt.config import DecisionRule, ModelConfig
from spertmt.encoding.encoders import load_encoder, load_tokenizer
from spertmt.encoding.features import prepare_documents
from spertmt.inference.predictor import Predictor
from spertmt.model.spert import SpertMTModel
from spertmt.sampling import training_batch
from spertmt.training.optim import SpertAdamW, optimizer_groups


def build(encoder_dir: Path, types, switches: dict):
    config = ModelConfig(encoder=str(encoder_dir), max_span_width=4, **switches)
    model = SpertMTModel(config, types, load_encoder(str(encoder_dir))).double()
    return model, load_tokenizer(str(encoder_dir))


def train_steps(model, tokenizer, docs, types, *, steps: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    prepared = prepare_documents(docs, tokenizer)
    optimizer = SpertAdamW(optimizer_groups(model, 0.01), lr=5e-3, eps=1e-6)
    model.train()
    losses = []
    for step in range(steps):
        chosen = [(2 * step) % len(docs), (2 * step + 1) % len(docs)]
        batch, labels = training_batch(
            [prepared[i] for i in chosen],
            [docs[i] for i in chosen],
            types,
            model.config,
            neg_entity_count=8,
            neg_relation_count=4,
            rng=rng,
        )
        labels = dataclasses.replace(
            labels,
            span_iou=labels.span_iou.double(),
            pair_types=labels.pair_types.double(),
        )
        output = model(batch, labels)
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(dict(sorted(output.loss_terms.items())))
    model.eval()
    return losses


def predict(model, tokenizer, docs, overrides: dict):
    rule = DecisionRule().replace(**overrides)
    return Predictor(model, tokenizer).predict(docs, rule=rule, batch_size=4)


def train_run(encoder_dir: Path, types, docs, folder: Path) -> dict:
    import json

    from safetensors.torch import load_file

    from spertmt.config import load_config
    from spertmt.training import train

    folder.mkdir(parents=True)
    (folder / "types.json").write_text(json.dumps(types.to_dict()))
    (folder / "train.json").write_text(json.dumps([d.to_dict() for d in docs]))
    overrides = {
        "model.encoder": str(encoder_dir),
        "model.max_span_width": 4,
        "model.entity_binary_head": True,
        "model.iou_mode": "head",
        "model.relation_binary_head": True,
        "data.train": str(folder / "train.json"),
        "data.dev": str(folder / "train.json"),
        "data.test": "none",
        "data.types": str(folder / "types.json"),
        "train.epochs": 3,
        "train.lr": 5e-3,
        "train.neg_entity_count": 8,
        "train.neg_relation_count": 4,
        "train.length_bucketing": True,
        "train.device": "cpu",
    }
    assignments = [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    config = load_config(None, overrides=[a.replace('"none"', "none") for a in assignments])
    result = train(config, output_dir=folder / "run", progress=False)
    weights = load_file(folder / "run" / "model" / "model.safetensors")
    dev = result.dev or {}
    return {
        "dev": {
            "entity_f1": dev["entity"]["micro"]["f1"],
            "relation_f1": dev["relation_strict"]["micro"]["f1"],
        },
        "weights": {
            name: [float(w.sum()), float(w.abs().sum())]
            for name, w in sorted(weights.items())
            if not name.startswith("encoder.")
        },
    }
