"""How much F1 the faster prediction arithmetics cost, over several trained models.

One model's F1 moves by about a point between arithmetics in either direction (a handful of
relations near the threshold flip), so a single model cannot tell a real loss from noise.
This benchmark scores every model given in fp32, bf16 (where the CPU runs it natively), int8
(dynamic quantisation of the encoder, ``--quantize``) and int8+bf16 (the same with the
feed-forward output projections in bf16, ``--quantize --precision bf16``; where bf16 is native),
on dev and test, each with the decision rule saved in the model, and reports the change against
fp32 per model and its mean ± sample std over the models. ``--arithmetics`` scores only some
(fp32 is always scored: the differences are taken against it).

Usage::

    SPERTMT_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/precision_accuracy.py \\
        runs/benchmarks/conll04/headline-spert-seed1{1,2,3}/model --threads 1

writes ``benchmarks/results/precision_accuracy.json`` (``--output`` to change): per model and
arithmetic the entity, relation strict and relation boundaries micro F1 of both splits, the
differences, their mean ± std, plus command, commit, hardware and versions. Speed is not
measured here (``benchmarks/train_speed.py --model`` does, in one quiet run).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import RESULTS, git_commit, hardware, shown, versions, write_json  # noqa: E402

SETTINGS = ("entity", "relation_strict", "relation_boundaries")
"""The micro F1 scores recorded per split."""


ARITHMETICS = ("fp32", "bf16", "int8", "int8+bf16")
"""Every arithmetic's label, in the order they are scored."""


def arithmetics(chosen: Sequence[str] = ARITHMETICS) -> list[tuple[str, dict[str, Any]]]:
    """The ``chosen`` arithmetics this machine runs, fp32 first: ``(label, from_pretrained
    options)``; the bf16 ones only where the CPU has native bf16."""
    from spertmt.runtime.precision import cpu_bf16_native

    native, _ = cpu_bf16_native()
    options: dict[str, dict[str, Any]] = {
        "fp32": {"precision": "fp32"},
        "bf16": {"precision": "bf16"},
        "int8": {"quantize": True},
        "int8+bf16": {"quantize": True, "precision": "bf16"},
    }
    return [
        (label, options[label])
        for label in ARITHMETICS
        if (label == "fp32" or label in chosen) and (native or "bf16" not in label)
    ]


def score_model(
    model: Path,
    splits: Sequence[str],
    data_dir: str | None,
    chosen: Sequence[str] = ARITHMETICS,
) -> dict[str, Any]:
    """The micro F1 of each arithmetic (``chosen``, and fp32) on every split for one model,
    with the seconds it took."""
    from spertmt import SpertMT
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents

    scores: dict[str, Any] = {}
    for label, options in arithmetics(chosen):
        api = SpertMT.from_pretrained(model, device="cpu", **options)
        scores[label] = {}
        for split in splits:
            gold = read_documents(resolve_dataset(split, data_dir=data_dir).path, types=api.types)
            started = time.perf_counter()
            report = api.evaluate(gold, batch_size=32)
            scores[label][split] = {
                **{s: round(getattr(report, s).micro.f1, 2) for s in SETTINGS},
                "seconds": round(time.perf_counter() - started, 2),
            }
    return scores


def differences(models: dict[str, dict[str, Any]], splits: Sequence[str]) -> dict[str, Any]:
    """Per arithmetic, split and setting: the change against fp32 per model, mean and std.

    Example:
        >>> m = {"a": {"fp32": {"dev": {"entity": 80.0}}, "int8": {"dev": {"entity": 79.0}}},
        ...      "b": {"fp32": {"dev": {"entity": 82.0}}, "int8": {"dev": {"entity": 82.0}}}}
        >>> differences(m, ["dev"])["int8"]["dev"]["entity"]
        {'per_model': [-1.0, 0.0], 'mean': -0.5, 'std': 0.71}
    """
    labels = [label for label in next(iter(models.values())) if label != "fp32"]
    summary: dict[str, Any] = {}
    for label in labels:
        summary[label] = {}
        for split in splits:
            summary[label][split] = {}
            for setting in next(iter(models.values()))["fp32"][split]:
                if setting == "seconds":
                    continue
                deltas = [
                    round(scores[label][split][setting] - scores["fp32"][split][setting], 2)
                    for scores in models.values()
                ]
                summary[label][split][setting] = {
                    "per_model": deltas,
                    "mean": round(statistics.fmean(deltas), 2),
                    "std": round(statistics.stdev(deltas), 2) if len(deltas) > 1 else None,
                }
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", type=Path, help="model folders (spertmt train)")
    parser.add_argument(
        "--splits", nargs="+", default=["conll04:dev", "conll04:test"], help="data to score"
    )
    parser.add_argument("--data-dir", default=None, help="the datasets' folder")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--arithmetics",
        nargs="+",
        choices=ARITHMETICS,
        default=list(ARITHMETICS),
        help="what to score beside fp32 (default: all this CPU runs)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "precision_accuracy.json")
    args = parser.parse_args(argv)
    missing = [str(m) for m in args.models if not (m / "config.json").is_file()]
    if missing:
        parser.error(f"not a model folder (no config.json): {', '.join(missing)}")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    command = shlex.join(
        [
            "python",
            "benchmarks/precision_accuracy.py",
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    commit = git_commit()
    models: dict[str, dict[str, Any]] = {}
    for number, model in enumerate(args.models, start=1):
        print(f"[{number}/{len(args.models)}] {model}", flush=True)
        models[str(model)] = score_model(model, args.splits, args.data_dir, args.arithmetics)
        for label, by_split in models[str(model)].items():
            shown_scores = "; ".join(
                f"{split} rel {s['relation_strict']:.2f} ent {s['entity']:.2f}"
                for split, s in by_split.items()
            )
            print(f"  {label}: {shown_scores}", flush=True)
    record = {
        "command": command,
        "git_commit": commit,
        "threads": torch.get_num_threads(),
        "splits": list(args.splits),
        "models": models,
        "differences": differences(models, args.splits),
        "hardware": hardware(),
        "versions": versions(),
    }
    write_json(args.output, record)
    print(f"wrote {shown(args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
