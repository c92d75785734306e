"""Small shared test data: a type schema with one asymmetric and one symmetric relation, a
tiny checkpoint whose predictions are never empty, and a tiny training config on files."""

import json
from pathlib import Path

import torch

from spertmt.config import DecisionRule, ModelConfig
from spertmt.schema import Document, Entity, EntityType, Relation, RelationType, TypeSchema

TYPES = TypeSchema(
    (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
    (RelationType("Live_In", "LI", "Live in"), RelationType("Near", "N", "Near", symmetric=True)),
)


def lives_in(count: int) -> list[Document]:
    """``count`` sentences "<name> lives in <city> ." with their two entities and relation."""
    names, cities = ["John", "Anna", "Paul"], ["Paris", "Rome", "Oslo", "Lima"]
    return [
        Document(
            (names[i % 3], "lives", "in", cities[i % 4], "."),
            (Entity("Peop", 0, 1), Entity("Loc", 3, 4)),
            (Relation("Live_In", 0, 1),),
        )
        for i in range(count)
    ]


def write_training_config(
    folder: Path, encoder: Path, train: str, *, model: str = "", sizes=(4, 3, 3)
) -> Path:
    """Write ``TYPES``, train/dev/test files of :func:`lives_in` sentences (``sizes``) and a
    config over them into ``folder``; ``train`` and ``model`` are extra TOML lines of those
    sections. Returns the config file."""
    (folder / "types.json").write_text(json.dumps(TYPES.to_dict()))
    for split, count in zip(("train", "dev", "test"), sizes, strict=True):
        (folder / f"{split}.json").write_text(json.dumps([d.to_dict() for d in lives_in(count)]))
    config = folder / "tiny.toml"
    config.write_text(
        f"""
[model]
encoder = "{encoder}"
{model}

[data]
train = "{folder / "train.json"}"
dev = "{folder / "dev.json"}"
test = "{folder / "test.json"}"
types = "{folder / "types.json"}"

[train]
device = "cpu"
{train}
"""
    )
    return config


def build_model(tiny_bert_dir, **config):
    """A seeded tiny random model over ``TYPES`` and its tokenizer."""
    from spertmt.encoding.encoders import load_encoder, load_tokenizer
    from spertmt.model.spert import SpertMTModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model_config = ModelConfig(encoder=str(tiny_bert_dir), max_span_width=4, **config)
        model = SpertMTModel(model_config, TYPES, load_encoder(str(tiny_bert_dir))).eval()
    return model, load_tokenizer(str(tiny_bert_dir))


def save_eager_checkpoint(
    tiny_bert_dir, path: Path, *, rule: DecisionRule | None = None, **config
) -> Path:
    """Save a tiny checkpoint that predicts entities everywhere.

    The binary entity head and the IoU head are biased to keep every span and the first
    entity type is favoured; relation scores stay near 0.5 (random), so thresholds decide.
    ``config`` are :class:`ModelConfig` fields; ``rule`` is saved with it (default: SpERT's).
    """
    from spertmt.model.checkpoint import save_checkpoint

    model, tokenizer = build_model(
        tiny_bert_dir, entity_binary_head=True, iou_mode="head", **config
    )
    with torch.no_grad():
        model.entity_binary.bias.fill_(5.0)
        model.iou_head.bias.fill_(5.0)
        model.entity_classifier.bias[1] += 3.0
    save_checkpoint(
        path,
        model,
        tokenizer,
        types=TYPES,
        model_config=model.config,
        rule=rule,
        training={"seed": 7},
    )
    return path


def run_with_ctrl_c_at_line(work, line: int | None) -> int:
    """Call ``work()``; a real SIGINT arrives at the ``line``-th line run in spertmt's own
    code or contextlib (None: no signal). Returns how many such lines it ran.

    The signal is real (``os.kill``), so code that defers signals defers it; use the
    ``ctrl_c_raises`` fixture so that SIGINT raises even where the suite runs with it ignored.
    Calling it for every line from 1 to the returned count tries a Ctrl-C everywhere."""
    import os
    import signal
    import sys

    import spertmt

    watched = (str(Path(spertmt.__file__).parent), "contextlib.py")
    seen = 0

    def trace(frame, event, arg):
        nonlocal seen
        if not frame.f_code.co_filename.startswith(watched[0]) and not (
            frame.f_code.co_filename.endswith(watched[1])
        ):
            return None
        if event == "line":
            seen += 1
            if seen == line:
                os.kill(os.getpid(), signal.SIGINT)  # handled at the next line, as in life
        return trace

    sys.settrace(trace)
    try:
        work()
    finally:
        sys.settrace(None)
    return seen
