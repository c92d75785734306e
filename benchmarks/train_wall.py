"""The wall time of one whole training run, from ``spertmt train`` starting to its test scores.

``benchmarks/train_speed.py`` times steps; a user waits for the whole run: loading the encoder,
every epoch with its sampling, the dev scoring after each epoch, the checkpoints, the final
model and the test scores. This runs ``spertmt train CONFIG`` once, in a process of its own on
``--threads`` threads, and records its wall time, its peak resident memory (``wait4``), the
precision it trained in, the time the run itself logged (``metrics.jsonl``), and its dev and
test scores (``results.json``): the issue's "a 20-epoch CoNLL04 run under 10 minutes" is
``wall_s`` here with the fast recipe.

Writes ``benchmarks/results/train_wall_<cpu>_threads<T>.json`` (command, commit, CPU model and
flags, threads, load average before and after, versions, the run's config file and overrides)
and prints one line. The run folder is a temporary one unless ``--run-dir`` is given.

Usage::

    SPERTMT_DATA_DIR=../shared/data python benchmarks/train_wall.py --threads 2
    python benchmarks/train_wall.py configs/spert.toml --threads 1 --set train.epochs=2
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from records import (  # noqa: E402
    RESULTS,
    ROOT,
    cpu_slug,
    dev_history,
    git_commit,
    hardware,
    load_average,
    offline_environment,
    shown,
    training_precisions,
    training_seconds,
    versions,
    write_json,
)

DEFAULT_CONFIG = ROOT / "configs" / "spert_fast.toml"


def _f1(report: dict[str, Any] | None, setting: str, average: str = "micro") -> float | None:
    """One F1 (percent) of an ``EvalReport.to_dict()``, or None where the run has no such split."""
    if not report or setting not in report:
        return None
    return round(float(report[setting][average]["f1"]), 2)


def train_once(
    config: Path, run_dir: Path, threads: int, overrides: Sequence[str]
) -> dict[str, Any]:
    """Run ``spertmt train`` once into ``run_dir``; its wall time, peak memory and scores.

    Raises:
        SystemExit: when the training fails, with the end of its error output.
    """
    command = [
        sys.executable, "-m", "spertmt", "train", str(config), "--output", str(run_dir),
        "--quiet", "--set", f"train.threads={threads}",
    ]  # fmt: skip
    for override in overrides:
        command += ["--set", override]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    err = process.stderr.read().decode("utf-8", "replace")  # read as it comes: no pipe stall
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"spertmt train failed (exit {code}):\n{err.strip()[-3000:]}")
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    metrics = run_dir / "metrics.jsonl"
    history = dev_history(metrics) or []
    return {
        "wall_s": round(wall, 1),
        "wall_minutes": round(wall / 60, 2),
        "logged_train_seconds": training_seconds(metrics),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "precisions": training_precisions(metrics),
        "epochs": results["epochs"],
        "dev_evaluations": len(history),
        "dev": {
            "relation_strict_micro_f1": _f1(results["dev"], "relation_strict"),
            "entity_micro_f1": _f1(results["dev"], "entity"),
        },
        "test": {
            "relation_strict_micro_f1": _f1(results["test"], "relation_strict"),
            "relation_strict_macro_f1": _f1(results["test"], "relation_strict", "macro"),
            "entity_micro_f1": _f1(results["test"], "entity"),
        },
    }


def run(args: argparse.Namespace) -> Path:
    """Train once, write the record, print its line; return the record's path."""
    offline_environment()
    record: dict[str, Any] = {
        "benchmark": "train_wall",
        "command": "python benchmarks/"
        + " ".join(map(shlex.quote, [Path(__file__).name, *args.argv])),
        "commit": git_commit(),
        "hardware": dict(hardware(), torch_threads=args.threads),
        "threads": args.threads,
        "versions": versions(),
        "config": shown(args.config),
        "overrides": list(args.set),
        "load_average_before": load_average(),
    }
    if args.run_dir is not None:
        record.update(train_once(args.config, args.run_dir, args.threads, args.set))
    else:
        with tempfile.TemporaryDirectory(prefix="train_wall_") as folder:
            run_dir = Path(folder) / "run"
            record.update(train_once(args.config, run_dir, args.threads, args.set))
    record["load_average_after"] = load_average()
    out = args.output or RESULTS / (
        f"train_wall_{cpu_slug(record['hardware']['cpu'])}_threads{args.threads}.json"
    )
    write_json(out, record)
    print(
        f"{shown(args.config)}: {record['epochs']} epochs in {record['wall_minutes']:.2f} min "
        f"({record['precisions']}, {args.threads} thread(s), peak {record['peak_rss_mb']:.0f} MB); "
        f"test relation strict micro F1 {record['test']['relation_strict_micro_f1']}"
    )
    print(f"wrote {shown(out)}", file=sys.stderr)
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "config",
        type=Path,
        nargs="?",
        default=DEFAULT_CONFIG,
        help="the training config (default configs/spert_fast.toml)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config override"
    )
    parser.add_argument(
        "--run-dir", type=Path, help="keep the run in this folder (else a temporary)"
    )
    parser.add_argument("--output", type=Path, help="the JSON file to write")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if not args.config.is_file():
        parser.error(f"{args.config}: no such config file")
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    run(parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
