"""Accuracy benchmark: train a config for several seeds, score the test split, record everything.

Each run writes one JSON file to ``benchmarks/results/`` (dataset, split, variant, encoder, seed,
every evaluator metric, epochs, wall time, package versions, git commit, the exact command and
the resolved config), so an experiment can span several sessions. After each run the summary
table ``docs/results.md`` is regenerated from *all* result files (mean ± sample std over seeds).

Usage::

    python benchmarks/accuracy.py configs/spert.toml --variant spert --seeds 1 2 3
    python benchmarks/accuracy.py configs/spertmt.toml --variant spertmt --seeds 1 2 3 \
        --set model.iou_mode=off            # ablations: any --set override
    python benchmarks/accuracy.py --summary-only   # only rebuild docs/results.md

A run whose result file already exists is skipped (``--force`` reruns it). With
``--tune-grid model.KEY=V1,V2 ...`` the inference thresholds are chosen per run on that run's
**dev** split (``benchmarks/tune_thresholds.py``) and the test split is scored with the chosen
values; the record keeps the default-threshold test scores and every dev row as well. A run
folder that already holds a finished run is reused (only tuning and scoring are redone).
``--run-of VARIANT`` scores another variant's finished runs under a new name, e.g. the SpERT
baseline with its relation threshold tuned on dev like SpERT.MT's::

    python benchmarks/accuracy.py configs/spert.toml --variant spert-dev-tuned --run-of spert \
        --seeds 1 2 3 --tune-grid model.relation_threshold=0.3,0.4,0.5,0.6,0.7,0.8,0.9
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SUMMARY = ROOT / "docs" / "results.md"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    import spertmt

    return {
        "python": platform.python_version(),
        "spertmt": spertmt.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "threads": str(torch.get_num_threads()),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def _tune_and_score(model_dir: Path, config, grid: dict[str, list]) -> dict:
    """Choose thresholds on the run's dev split, then score its test split with them."""
    from tune_thresholds import score_row, tune

    from spertmt.checkpoint import load_checkpoint
    from spertmt.config import DECISION_FIELDS
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents
    from spertmt.metrics import evaluate_documents
    from spertmt.prediction import predict_documents

    if config.data.dev is None:
        raise SystemExit("--tune-grid needs a dev split (data.dev) to choose thresholds on")
    model, tokenizer, types, _, _ = load_checkpoint(model_dir)
    # The run's own inference settings, not those saved with the checkpoint: with --run-of the
    # run may set other thresholds or decision rules (--set) than the run it re-scores.
    inference = {key: getattr(config.model, key) for key in sorted(DECISION_FIELDS)}
    model.config = dataclasses.replace(model.config, **inference)

    def load(name: str):
        ref = resolve_dataset(name, data_dir=config.data.data_dir, types=model_dir / "types.json")
        return read_documents(ref.path, types=types)

    rows, best = tune(model, tokenizer, types, load(config.data.dev), grid)
    model.config = dataclasses.replace(model.config, **best["setting"])
    test_gold = load(config.data.test)
    report = evaluate_documents(test_gold, predict_documents(model, tokenizer, test_gold), types)
    return {
        "grid": grid,
        "dev_rows": rows,
        "chosen": best,
        "test": report.to_dict(),
        "test_summary": score_row(report.to_dict()),
    }


def _slug(dataset: str) -> str:
    """A file-name part for a dataset: ``conll04:test`` → ``conll04-test``; a data file
    ``/data/my set/test.json`` → ``test`` (never a path: results stay in RESULTS)."""
    if "/" in dataset or "\\" in dataset or dataset.endswith((".json", ".jsonl")):
        dataset = Path(dataset.replace("\\", "/")).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.replace(":", "-")).strip("-") or "data"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _check_same_training(config, out_dir: Path, run_of: str) -> None:
    """Refuse ``--run-of`` unless that run is finished and was trained with this config."""
    from spertmt.config import DECISION_FIELDS

    if not ((out_dir / "results.json").exists() and (out_dir / "model").is_dir()):
        raise SystemExit(f"--run-of {run_of}: no finished run in {out_dir}; train it first")
    trained = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    ours = config.to_dict()
    differ = sorted(
        f"{section}.{key}"
        for section in ("model", "train", "data")
        for key in set(trained[section]) | set(ours[section])
        if trained[section].get(key) != ours[section].get(key)
        and not (section == "model" and key in DECISION_FIELDS)
        and not (section == "train" and key == "threads")
    )
    if differ:
        raise SystemExit(
            f"--run-of {run_of}: {out_dir} was trained with other settings ({', '.join(differ)});"
            " only inference settings may differ"
        )


def run_one(
    config_path: str | None,
    variant: str,
    seed: int,
    overrides: list[str],
    *,
    force: bool,
    workdir: Path,
    threads: int | None,
    tune_grid: dict[str, list] | None = None,
    run_of: str | None = None,
) -> Path | None:
    from spertmt.config import load_config
    from spertmt.training import train

    all_overrides = [*overrides, f"train.seed={seed}"]
    if threads:
        all_overrides.append(f"train.threads={threads}")
    config = load_config(config_path, overrides=all_overrides)
    dataset = config.data.test or config.data.train
    encoder = config.model.encoder
    name = f"{_slug(dataset)}_{variant}_{Path(encoder).name}_seed{seed}.json"
    target = RESULTS / name
    if target.exists() and not force:
        print(f"skip {name}: result exists (use --force to rerun)")
        return None
    out_dir = workdir / f"{run_of or variant}-seed{seed}"
    commit = _git_commit()  # the code that runs, not what HEAD is when the run ends
    source = RESULTS / name.replace(f"_{variant}_", f"_{run_of}_", 1) if run_of else target
    previous = json.loads(source.read_text(encoding="utf-8")) if source.exists() else {}
    start = time.perf_counter()
    finished = out_dir / "results.json"
    if run_of:
        _check_same_training(config, out_dir, run_of)
    if finished.exists() and (out_dir / "model").is_dir():
        saved = json.loads(finished.read_text(encoding="utf-8"))
        test_metrics, dev_metrics = saved["test"], saved["dev"]
        wall = float(saved["wall_time_s"])
        print(f"reusing the finished run in {out_dir}")
        reused = True
    else:
        reused = False
        if out_dir.exists() and not (out_dir / "checkpoint").exists():
            # Killed before its first checkpoint: nothing to resume, and train() refuses to
            # start over in a folder that holds a run.
            shutil.rmtree(out_dir)
        result = train(config, output_dir=out_dir, resume=(out_dir / "checkpoint").exists())
        test_metrics, dev_metrics = result.test, result.dev
        wall = time.perf_counter() - start
    if run_of and tune_grid is None:
        tune_grid = {}  # no grid: one row, the run's own inference settings, re-scored
    tuning = (
        _tune_and_score(out_dir / "model", config, tune_grid) if tune_grid is not None else None
    )
    record = {
        "dataset": dataset,
        "train_data": config.data.train,
        "split": "test",
        "variant": variant,
        "trained_as": run_of or variant,
        "encoder": encoder,
        "seed": seed,
        "epochs": config.train.epochs,
        "metrics": tuning["test"] if tuning else test_metrics,
        "metrics_default_thresholds": test_metrics,
        "dev_metrics": dev_metrics,
        "threshold_tuning": tuning and {k: v for k, v in tuning.items() if k != "test"},
        "wall_seconds": round(wall, 1),
        "train_seconds": round(wall, 1),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "overrides": all_overrides,
        "config": config.to_dict(),
        "versions": _versions(),
        "git_commit": commit,
        # a reused run was trained by the code of the earlier record, if there is one
        "train_git_commit": (
            previous.get("train_git_commit", previous.get("git_commit", "unknown"))
            if reused
            else commit
        ),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    print(f"wrote {_shown(target)}")
    return target


METRICS = [
    ("entity", "micro", "Entity F1 (micro)"),
    ("relation_strict", "micro", "Rel. strict F1 (micro)"),
    ("relation_strict", "macro", "Rel. strict F1 (macro)"),
    ("relation_boundaries", "micro", "Rel. boundaries F1 (micro)"),
]


# What each variant name of benchmarks/conll04_plan.sh means (printed under the table).
VARIANTS = {
    "spert": "the `spert` preset: SpERT exactly, its own thresholds",
    "spert-dev-tuned": "the `spert` runs, relation threshold chosen on dev per run",
    "spert-flat": "the `spert` runs with overlapping entities resolved (`entity_overlap = "
    '"resolve"`), relation threshold chosen on dev per run',
    "spertmt": "the `spertmt` preset's runs, every threshold chosen on dev per run (entity "
    "gate rule, overlapping entities kept, as for the ablations)",
    "spertmt-preset-thresholds": "the `spertmt` runs at the preset's one setting (configs/"
    "spertmt.toml: decision rules and thresholds with the best dev score averaged over the runs)",
    "spertmt-score-modes": "the `spertmt` runs, every threshold and the entity decision rule "
    "(`entity_score`: gate or product) chosen on dev per run",
    "spertmt-rel-product": "the `spertmt` runs with C's product rule (`relation_score`: "
    "p_type·p_pair ≥ relation threshold), every threshold and the entity rule chosen on dev "
    "per run",
    "spertmt-flat": "the `spertmt` runs with overlapping entities resolved (`entity_overlap = "
    '"resolve"`), every threshold and the entity rule chosen on dev per run',
    "spertmt-no-AC": "`spertmt` without the binary entity and relation heads (A, C)",
    "spertmt-no-B": "`spertmt` without the IoU head (B)",
    "spertmt-no-D": "`spertmt` without entity logits in the pair representation (D)",
    "spertmt-B2": "`spertmt` with IoU as the soft label of head A (B2) instead of the IoU head",
    "spertmt-B3": "`spertmt` with IoU-weighted, hard-first negatives (B3) instead of the IoU head",
    "spertmt-no-shape": "`spertmt` without the word-shape feature",
    "spertmt-lambda-rel2": "`spertmt` with C's loss weight λ_C = 2 (preset: 1)",
    "spertmt-lambda-rel0.5": "`spertmt` with C's loss weight λ_C = 0.5 (preset: 1)",
    "spertmt-lambda-iou0.5": "`spertmt` with B1's loss weight λ_B = 0.5 (preset: 1)",
    "spertmt-lambda-iou2": "`spertmt` with B1's loss weight λ_B = 2 (preset: 1)",
    "spertmt-lambda-ent0.5": "`spertmt` with A's loss weight λ_A = 0.5 (preset: 1)",
    "spertmt-lambda-ent2": "`spertmt` with A's loss weight λ_A = 2 (preset: 1)",
    "spertmt-neg-half": "`spertmt` with negative spans weighted 0.5 in the typed entity loss "
    "(preset: 1)",
    "spertmt-iou-mse": "`spertmt` with B1's IoU loss as mean squared error (preset: BCE)",
    "spertmt-pair-probs": "`spertmt` with D's entity softmax probabilities in the pair "
    "representation (preset: logits)",
}


def _fmt(values: list[float]) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {statistics.stdev(values):.2f}"


def _chosen(records: list[dict]) -> str:
    """The dev-chosen thresholds of each run, and the test score at the default ones."""
    parts = []
    for r in sorted(records, key=lambda r: r["seed"]):
        tuning = r.get("threshold_tuning")
        if not tuning:
            continue
        chosen = tuning["chosen"]["setting"].items()
        setting = ", ".join(f"{k}={v}" for k, v in chosen) or "the config's settings"
        default = r["metrics_default_thresholds"]["relation_strict"]["micro"]["f1"]
        parts.append(f"seed {r['seed']}: {setting} (rel. strict micro at defaults: {default:.2f})")
    return "; ".join(parts) if parts else "defaults"


def _dev_relation_f1(record: dict) -> float:
    """Dev relation strict micro F1 at the thresholds the test scores use."""
    tuning = record.get("threshold_tuning")
    if tuning:
        return tuning["chosen"]["relation_strict_micro_f1"]
    return record["dev_metrics"]["relation_strict"]["micro"]["f1"]


def _effects(groups: dict[tuple[str, str, str, int], list[dict]]) -> list[str]:
    """What each component buys: full preset minus ablation, paired by seed.

    Every ``spertmt-*`` variant trained on its own (ablations and candidate settings) is
    paired; variants that re-score the ``spertmt`` runs (``--run-of``) trained nothing.
    """
    rows = []
    for (dataset, encoder, variant, epochs), records in sorted(groups.items()):
        trained = all(r.get("trained_as", variant) == variant for r in records)
        if not (variant.startswith("spertmt-") and trained):
            continue
        full = {r["seed"]: r for r in groups.get((dataset, encoder, "spertmt", epochs), [])}
        paired = [(full[r["seed"]], r) for r in records if r["seed"] in full]
        if not paired:
            continue

        def delta(value, pairs=paired):
            return _fmt([value(f) - value(a) for f, a in pairs])

        rows.append(
            f"| {dataset} | {variant} | {','.join(str(a['seed']) for _, a in paired)} | "
            + delta(lambda r: r["metrics"]["relation_strict"]["micro"]["f1"])
            + " | "
            + delta(lambda r: r["metrics"]["entity"]["micro"]["f1"])
            + " | "
            + delta(_dev_relation_f1)
            + " |"
        )
    if not rows:
        return []
    return [
        "",
        "## What each component buys",
        "",
        "`spertmt` minus the variant (an ablation or a candidate setting), paired by seed",
        "(mean ± std of the per-seed differences;",
        "both with thresholds chosen on dev per run). Positive: the full preset is better.",
        "",
        "| dataset | variant | seeds | Δ test rel. strict F1 (micro) | Δ test entity F1 (micro) "
        "| Δ dev rel. strict F1 (micro) |",
        "|---|---|---|---:|---:|---:|",
        *rows,
    ]


def preset_setting(records: list[dict]) -> tuple[dict, float] | None:
    """One threshold setting for every seed: the best mean dev relation F1 over the runs.

    This is how a preset's thresholds are chosen (dev only). Only settings that every run scored
    count; ties go to the setting scored first. ``None`` when no run was tuned.
    """
    tuned = [r["threshold_tuning"]["dev_rows"] for r in records if r.get("threshold_tuning")]
    if not tuned or len(tuned) < len(records):
        return None
    scores: dict[str, list[float]] = defaultdict(list)
    for rows in tuned:
        for row in rows:
            scores[json.dumps(row["setting"])].append(row["relation_strict_micro_f1"])
    complete = {k: v for k, v in scores.items() if len(v) == len(tuned)}
    if not complete:
        return None
    best = max(complete, key=lambda k: statistics.fmean(complete[k]))
    return json.loads(best), statistics.fmean(complete[best])


def _presets(groups: dict[tuple[str, str, str, int], list[dict]]) -> list[str]:
    rows = []
    for (dataset, _, variant, _), records in sorted(groups.items()):
        # One seed: the setting is the one its row of the table already shows. A one-setting
        # grid (e.g. the preset's own thresholds) chose nothing.
        found = preset_setting(records) if len(records) > 1 else None
        grid_size = len((records[0].get("threshold_tuning") or {}).get("dev_rows", []))
        if found and grid_size > 1:
            setting = ", ".join(f"{k}={v}" for k, v in found[0].items())
            seeds = ",".join(str(r["seed"]) for r in sorted(records, key=lambda r: r["seed"]))
            rows.append(f"| {dataset} | {variant} | {seeds} | {setting} | {found[1]:.2f} |")
    if not rows:
        return []
    return [
        "",
        "## One threshold setting per variant",
        "",
        "The setting of the tuning grid with the best dev relation strict F1 (micro) averaged",
        "over the seeds: what a preset of that variant would ship (chosen on dev only; of tied",
        "settings the first in grid order is shown).",
        "",
        "| dataset | variant | seeds | setting | mean dev rel. strict F1 (micro) |",
        "|---|---|---|---|---:|",
        *rows,
    ]


def write_summary() -> None:
    """Regenerate docs/results.md from every result file."""
    groups: dict[tuple[str, str, str, int], list[dict]] = defaultdict(list)
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if "metrics" not in record:
            continue
        record["_path"] = str(path)
        key = (record["dataset"], record["encoder"], record["variant"], record["epochs"])
        groups[key].append(record)
    lines = [
        "# Measured results",
        "",
        "Generated by `python benchmarks/accuracy.py --summary-only` from the JSON files in",
        "`benchmarks/results/` (one file per run: seed, config, versions, commit, command).",
        "F1 in percent on the **test split**, mean ± sample standard deviation over seeds.",
        "Thresholds and switches were chosen on the dev split only; the dev column is the dev",
        "score they were chosen by (the final epoch's dev score for runs without tuning).",
        "",
        "| dataset | encoder | variant | epochs | seeds | "
        + " | ".join(m[2] for m in METRICS)
        + " | dev rel. strict F1 (micro) | train time / run"
        + " | thresholds chosen on dev (per seed) |",
        "|---|---|---|---:|---|" + "---:|" * (len(METRICS) + 1) + "---:|---|",
    ]
    for (dataset, encoder, variant, epochs), records in sorted(groups.items()):
        seeds = ",".join(str(r["seed"]) for r in sorted(records, key=lambda r: r["seed"]))
        cells = [
            _fmt([r["metrics"][setting][avg]["f1"] for r in records]) for setting, avg, _ in METRICS
        ]
        cells.append(_fmt([_dev_relation_f1(r) for r in records]))
        minutes = statistics.fmean(r["train_seconds"] for r in records) / 60
        lines.append(
            f"| {dataset} | {encoder} | {variant} | {epochs} | {seeds} | "
            + " | ".join(cells)
            + f" | {minutes:.1f} min | {_chosen(records)} |"
        )
    named = sorted({variant for _, _, variant, _ in groups} & set(VARIANTS))
    if named:
        lines += ["", "Variants:", ""]
        lines += [f"- `{variant}`: {VARIANTS[variant]}" for variant in named]
    lines += _effects(groups)
    lines += _presets(groups)
    lines += [
        "",
        "Reference, not produced by this script: SpERT's original implementation run on this",
        "machine with the same encoder (minilm), data and hyper-parameters, seed 1, as reported in",
        "the project's model issue: entity F1 83.62 (micro), relation strict F1 59.16 micro /",
        "60.56 macro, relation boundaries F1 59.64 micro, 37.5 minutes of training, 1.5 GB peak",
        "memory.",
    ]
    notes = [
        (Path(r["_path"]).name, r["notes"]) for rs in groups.values() for r in rs if r.get("notes")
    ]
    if notes:
        lines += ["", "## Notes on individual runs", ""]
        lines += [f"- `{name}`: {text}" for name, text in notes]
    lines += [
        "",
        "## Commands",
        "",
        "As run, with the config files of each record's `git_commit`; where a preset changed since,"
        " `benchmarks/conll04_plan.sh` repeats the run with today's files (its `--set` pins the"
        " earlier value).",
        "",
    ]
    commands = sorted({r["command"] for rs in groups.values() for r in rs})
    lines += [f"- `{c}`" for c in commands]
    # The Speed section (benchmarks/speed.py) follows; regenerating the accuracy part keeps it.
    from speed import speed_section

    lines += ["", *speed_section()]
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {_shown(SUMMARY)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", nargs="?", help="TOML config (default: SpERT on CoNLL04)")
    parser.add_argument("--variant", default="spert", help="name of this variant in the table")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "benchmarks")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument(
        "--tune-grid",
        action="append",
        default=[],
        metavar="model.KEY=V1,V2",
        help="choose these inference thresholds on the dev split, per run",
    )
    parser.add_argument(
        "--run-of",
        metavar="VARIANT",
        help="score the finished runs of another variant (same training, other inference "
        "settings, e.g. thresholds tuned on dev) instead of training",
    )
    args = parser.parse_args()
    if not args.summary_only:
        from tune_thresholds import parse_grid

        grid = parse_grid(args.tune_grid) if args.tune_grid else None
        for seed in args.seeds:
            run_one(
                args.config,
                args.variant,
                seed,
                args.overrides,
                force=args.force,
                workdir=args.workdir,
                threads=args.threads,
                tune_grid=grid,
                run_of=args.run_of,
            )
            write_summary()
    write_summary()


if __name__ == "__main__":
    main()
