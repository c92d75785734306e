"""Choose inference thresholds of a trained model on the **dev** split (never on test).

Thresholds act only at inference, so one trained checkpoint is re-scored on the dev split for
every combination of the given values, and the combination with the best dev relation F1
(strict, micro) wins. The result (every combination's dev scores, the winner, the command) is
written as JSON to ``benchmarks/results/tuning/``.

Usage::

    python benchmarks/tune_thresholds.py runs/benchmarks/spertmt-seed1/model \
        --data conll04:dev \
        --grid model.entity_threshold=0.3,0.4,0.5,0.6 \
        --grid model.relation_binary_threshold=0.3,0.5,0.7
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "tuning"


def parse_grid(items: list[str]) -> dict[str, list]:
    from spertmt.config import ModelConfig, model_config_from_dict

    grid: dict[str, list] = {}
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    for item in items:
        key, _, values = item.partition("=")
        section, _, name = key.partition(".")
        if section != "model" or name not in names:
            raise SystemExit(f"--grid takes model.<field>=v1,v2,...; got {item!r}")
        parsed = []
        for value in values.split(","):
            # validate each value through the config's own type checks
            parsed.append(getattr(model_config_from_dict({name: value}), name))
        grid[name] = parsed
    return grid


def score_row(report: dict) -> dict:
    """The headline numbers of an evaluator report."""
    return {
        "entity_micro_f1": report["entity"]["micro"]["f1"],
        "relation_strict_micro_f1": report["relation_strict"]["micro"]["f1"],
        "relation_strict_macro_f1": report["relation_strict"]["macro"]["f1"],
        "relation_boundaries_micro_f1": report["relation_boundaries"]["micro"]["f1"],
    }


class _RememberedEncoder:
    """Stands in for ``model.encoder.forward`` while tuning: thresholds act after the encoder,
    so each batch is encoded once and its output reused for every combination (the encoder is
    ~85% of inference time). Keys are the batch's exact piece ids and mask."""

    def __init__(self, forward) -> None:
        self.forward = forward
        self.outputs: dict[tuple, tuple] = {}
        self.calls = 0

    def __call__(self, input_ids, attention_mask):
        key = (
            tuple(input_ids.shape),
            input_ids.cpu().numpy().tobytes(),
            attention_mask.cpu().numpy().tobytes(),
        )
        if key not in self.outputs:
            self.calls += 1
            self.outputs[key] = self.forward(input_ids, attention_mask)
        return self.outputs[key]


def tune(model, tokenizer, types, gold, grid: dict[str, list], *, verbose: bool = False):
    """Score every threshold combination of ``grid`` on ``gold`` (dev documents).

    The model's config is restored afterwards. The best row maximises dev relation strict
    micro F1, then entity micro F1. Each batch is encoded once (:class:`_RememberedEncoder`);
    the rows are those of scoring every combination from scratch.

    Returns:
        ``(rows, best)``: one row per combination (setting + scores) and the best row.
    """
    from spertmt.metrics import evaluate_documents
    from spertmt.prediction import predict_documents

    base_config = model.config
    rows = []
    model.encoder.forward = _RememberedEncoder(model.encoder.forward)
    try:
        for values in itertools.product(*grid.values()):
            setting = dict(zip(grid, values, strict=True))
            model.config = dataclasses.replace(base_config, **setting)
            start = time.perf_counter()
            predictions = predict_documents(model, tokenizer, gold)
            report = evaluate_documents(gold, predictions, types).to_dict()
            row = {"setting": setting, **score_row(report)}
            row["seconds"] = round(time.perf_counter() - start, 2)
            rows.append(row)
            if verbose:
                print(json.dumps(row))
    finally:
        model.config = base_config
        del model.encoder.forward  # back to the class's own forward
    best = max(rows, key=lambda r: (r["relation_strict_micro_f1"], r["entity_micro_f1"]))
    return rows, best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, help="checkpoint folder")
    parser.add_argument("--data", default="conll04:dev", help="dev split (never the test split)")
    parser.add_argument("--grid", action="append", default=[], metavar="model.KEY=V1,V2")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--name", default=None, help="result file name (default: from the model path)"
    )
    args = parser.parse_args()
    if args.data.endswith(":test") or "test" in Path(args.data).name:
        raise SystemExit("thresholds are chosen on dev data only; pass a dev split")

    from spertmt.checkpoint import load_checkpoint
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents

    grid = parse_grid(args.grid)
    model, tokenizer, types, _, _ = load_checkpoint(args.model)
    ref = resolve_dataset(args.data, data_dir=args.data_dir, types=args.model / "types.json")
    gold = read_documents(ref.path, types=types)
    rows, best = tune(model, tokenizer, types, gold, grid, verbose=True)
    record = {
        "model": str(args.model),
        "data": args.data,
        "base_config": dataclasses.asdict(model.config),
        "grid": grid,
        "rows": rows,
        "best": best,
        "command": " ".join(shlex.quote(a) for a in sys.argv),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    name = args.name or args.model.resolve().parent.name
    target = OUT / f"{name}_{args.data.replace(':', '-')}.json"
    target.write_text(json.dumps(record, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    print(f"best on {args.data}: {best}\nwrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
