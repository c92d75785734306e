"""Golden guard: a tiny fixed-seed model trained a few steps gives the recorded numbers.

Written before the code was reorganised into stage folders (architecture issue), so that moving
code cannot change behaviour unnoticed. The model runs in float64, which keeps the numbers equal
across CPUs (no kernel's rounding reaches 1e-9). ``tests/data/golden/golden.json`` holds, per
model variant, the loss terms of every training step, a checksum of every trained weight and the
predictions (with scores) under two decision rules.

Regenerate only for an intended change of behaviour, and say so in the commit:
``python tests/unit/model/test_golden.py --write``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "golden.json"
TOLERANCE = 1e-9

VARIANTS = {
    "spert": {},
    "spertmt": {
        "entity_binary_head": True,
        "iou_mode": "head",
        "relation_binary_head": True,
        "entity_logits_in_pair": True,
        "word_shape": True,
    },
}
RULES = {
    "default": {},
    "resolve": {"entity_overlap": "resolve", "relation_threshold": 0.3},
}
STEPS = 12


def _documents():
    from spertmt.schema import Document, Entity, Relation

    names = ["John", "Anna", "Paul", "Mary", "Omar", "Lena"]
    cities = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bonn"]
    docs = []
    for i in range(6):
        filler = ("and", "often", "walks") * (i % 3)
        tokens = (names[i], "Smith", "lives", "in", cities[(3 * i) % 6], *filler, ".")
        docs.append(
            Document(
                tokens,
                (Entity("Peop", 0, 2), Entity("Loc", 4, 5)),
                (Relation("Live_In", 0, 1),),
                orig_id=i,
            )
        )
    return docs


def _types():
    from spertmt.schema import EntityType, RelationType, TypeSchema

    return TypeSchema(
        (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
        (RelationType("Live_In", "LI", "Live in"), RelationType("Work_For", "WF", "Work for")),
    )


def run_variant(encoder_dir: Path, switches: dict) -> dict:
    """Train one variant for ``STEPS`` steps in float64 and predict under every rule."""
    from golden_support import build, predict, train_steps

    types, docs = _types(), _documents()
    with torch.random.fork_rng():
        torch.manual_seed(3)
        model, tokenizer = build(encoder_dir, types, switches)
        losses = train_steps(model, tokenizer, docs, types, steps=STEPS, seed=5)
    weights = {
        name: [float(p.sum()), float(p.abs().sum())] for name, p in model.state_dict().items()
    }
    predictions = {
        rule: [d.to_dict() for d in predict(model, tokenizer, docs, overrides)]
        for rule, overrides in RULES.items()
    }
    return {"losses": losses, "weights": weights, "predictions": predictions}


def run_training(encoder_dir: Path, folder: Path) -> dict:
    """``spertmt.train`` end to end (float32) on the golden documents: the epoch loop's guard."""
    from golden_support import train_run

    types, docs = _types(), _documents()
    return train_run(encoder_dir, types, docs, folder)


def _close(actual, expected, where: str) -> None:
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            _close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _close(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert np.isclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE), (
            f"{where}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_training_and_prediction_match_the_golden_record(tiny_bert_dir, variant):
    expected = json.loads(GOLDEN.read_text())[variant]
    actual = json.loads(json.dumps(run_variant(tiny_bert_dir, VARIANTS[variant])))
    _close(actual, expected, variant)


def test_the_training_loop_matches_the_golden_record(tiny_bert_dir, tmp_path):
    # float32 through the whole loop: a looser bound than the float64 records above.
    expected = json.loads(GOLDEN.read_text())["train"]
    actual = json.loads(json.dumps(run_training(tiny_bert_dir, tmp_path / "run")))
    assert set(actual) == set(expected)
    for key in ("dev", "weights"):
        for name, value in expected[key].items():
            assert np.allclose(actual[key][name], value, rtol=1e-4, atol=1e-5), (key, name)


def test_the_golden_record_predicts_something():
    """A record of empty predictions would guard nothing."""
    golden = json.loads(GOLDEN.read_text())
    for variant in VARIANTS:
        record = golden[variant]
        for rule, docs in record["predictions"].items():
            assert any(d["entities"] for d in docs), (variant, rule)
        assert len(record["losses"]) == STEPS


if __name__ == "__main__":  # pragma: no cover - regenerates the record
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/unit/model/test_golden.py --write")
    sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).parent)]
    import tempfile

    from conftest import TINY, _minilm_folder  # noqa: F401

    folder = Path(tempfile.mkdtemp())
    from transformers import BertConfig, BertModel

    minilm = _minilm_folder()
    assert minilm is not None
    import shutil

    from conftest import MINILM_TOKENIZER_FILES

    for name in MINILM_TOKENIZER_FILES:
        if (minilm / name).is_file():
            shutil.copy(minilm / name, folder / name)
    vocab = sum(1 for _ in (minilm / "vocab.txt").open(encoding="utf-8"))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(
            BertConfig(vocab_size=vocab, max_position_embeddings=512, pad_token_id=0, **TINY)
        ).save_pretrained(folder)
    record = {name: run_variant(folder, switches) for name, switches in VARIANTS.items()}
    record["train"] = run_training(folder, Path(tempfile.mkdtemp()) / "run")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
