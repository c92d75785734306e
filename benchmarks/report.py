"""``docs/results.md`` from the records: ``python benchmarks/report.py``.

Every record in ``benchmarks/results/`` (one per run: seed, config, versions, commit, command)
becomes part of a row (mean ± sample std over seeds); variant descriptions come from the
experiment files (``benchmarks/experiments/*.toml``); the Speed section from ``speed.py``.

The Headline section at the top renders the experiment files' ``[[comparison]]`` tables in
file order: for each, both variants' test scores on the seeds both have (paired by seed, per
dataset, encoder, epochs and protocol), the per-seed differences (variant − baseline, from
unrounded scores) and their mean ± sample std, for the comparison's metric and its ``also``
metrics (entity micro F1 unless told otherwise).

The Figures section (``plots.py``) shows each dataset's main variants beside the published
numbers (``benchmarks/published.toml``), the ablations and the dev learning curves; the PNGs go
to ``docs/img/results/`` when matplotlib is installed (the ``bench`` extra; ``--no-plots``
keeps them as they are).

docs/results.md opens with the paper's table (``paper_table.py``: published numbers beside
ours), which the command also copies into the README (``--no-readme`` leaves it).

Besides ``docs/results.md`` it writes, beside the records:

- ``benchmarks/results/table.json``: the table as data (:func:`table_rows`);
- ``benchmarks/results/comparisons.json``: the Headline as data (:func:`comparison_rows`), a
  list in headline order of ``{"experiment", "dataset", "encoder", "epochs", "protocol",
  "name", "label", "note", "variant", "baseline", "seeds", "unpaired_seeds": {"variant",
  "baseline"}, "metrics": [{"metric", "variant", "baseline", "differences", "variant_mean",
  "baseline_mean", "mean", "std"}], "records": {"variant", "baseline"}}``; scores in percent,
  rounded to 2 decimals; ``std`` is ``null`` below two paired seeds, ``mean`` below one;
  ``bootstrap`` (micro metrics of records with ``document_counts``, else ``null``) is
  :class:`spertmt.evaluation.bootstrap.BootstrapResult` as a dict;
- ``benchmarks/results/headline.json``: per dataset, the comparison declared with
  ``headline = true`` (:func:`headline_entries`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paper_table import declared_runs, load_rows, paper_table, update_readme  # noqa: E402
from plots import figures_section, load_published  # noqa: E402
from records import RESULTS, ROOT, precision_setting, record_precision, shown, write_text  # noqa: E402

if TYPE_CHECKING:
    from run_experiments import Comparison, Experiment

SUMMARY = ROOT / "docs" / "results.md"
EXPERIMENTS = ROOT / "benchmarks" / "experiments"


METRICS = [
    ("entity", "micro", "Entity F1 (micro)"),
    ("relation_strict", "micro", "Rel. strict F1 (micro)"),
    ("relation_strict", "macro", "Rel. strict F1 (macro)"),
    ("relation_boundaries", "micro", "Rel. boundaries F1 (micro)"),
]


def load_experiments() -> list[Experiment]:
    """Every experiment file of ``EXPERIMENTS``, in name order (the Headline's order)."""
    from run_experiments import load_experiment

    return [load_experiment(path) for path in sorted(EXPERIMENTS.glob("*.toml"))]


def variant_descriptions() -> dict[str, str]:
    """What each variant name means, from the experiment files (printed under the table)."""
    descriptions = {}
    for experiment in load_experiments():
        path = experiment.path
        for variant in experiment.variants:
            text = variant.description
            if variant.removed:
                text += f"; removed from the library, {variant.removed}"
            if descriptions.get(variant.name, text) != text:
                raise SystemExit(
                    f"{path}: variant {variant.name!r} is described differently in another "
                    "experiment file; one name, one meaning"
                )
            descriptions[variant.name] = text
    return descriptions


def _fmt(values: list[float | None]) -> str:
    """Mean ± sample std of the values there are (a run without dev data has no dev score)."""
    values = [v for v in values if v is not None]
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


def _dev_relation_f1(record: dict) -> float | None:
    """Dev relation strict micro F1 at the thresholds the test scores use; None without dev
    data (ADE)."""
    tuning = record.get("threshold_tuning")
    if tuning:
        return tuning["chosen"]["relation_strict_micro_f1"]
    if not record.get("dev_metrics"):
        return None
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
        # same seed and same training data: a train+dev run (SpERT's final protocol) is another
        # protocol, not an ablation
        paired = [
            (full[r["seed"]], r)
            for r in records
            if r["seed"] in full and full[r["seed"]].get("train_data") == r.get("train_data")
        ]
        if not paired:
            continue

        def delta(value, pairs=paired):
            values = [(value(f), value(a)) for f, a in pairs]
            return _fmt([f - a for f, a in values if f is not None and a is not None])

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
            rows.append(
                f"| {dataset} | {variant} | {_runs(records)} | {setting} | {found[1]:.2f} |"
            )
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


PROTOCOL_METRICS = {
    # SpERT's protocol per dataset (method.md §4): the metrics its table reports
    "conll04": [
        ("relation_strict", "micro"),
        ("relation_strict", "macro"),
        ("entity", "micro"),
    ],
    "scierc": [
        ("relation_boundaries", "micro"),
        ("relation_strict", "micro"),
        ("entity", "micro"),
    ],
    "ade": [("relation_strict", "macro"), ("entity", "macro")],
}
TABLE_NAME = "table.json"
"""The table as data, beside the records: ``benchmarks/results/table.json``."""


def _protocol(record: dict) -> str:
    if "fold" in record:
        return f"{record.get('folds_declared', '?')}-fold"
    train = str(record.get("train_data") or "")
    return "train+dev->test" if train.endswith(("train_dev", "train+dev")) else "train->test"


def _pooled_folds(record: dict) -> dict:
    """A cross-validation record (``fold`` in it) joins its dataset's pooled rows: its dataset
    ``ade:3:test`` reads ``ade:10-fold``; the fold's own split stays in ``fold_data``."""
    if "fold" not in record:
        return record
    name = str(record["dataset"]).split(":", 1)[0]
    return {**record, "fold_data": record["dataset"], "dataset": f"{name}:{_protocol(record)}"}


def _runs(records: list[dict]) -> str:
    """The runs of a row: its seeds (``1,2,3``), or for cross-validation ``10 folds × seed 1``."""
    if any("fold" in r for r in records):
        folds = sorted({r["fold"] for r in records if "fold" in r})
        seeds = ",".join(str(s) for s in sorted({r["seed"] for r in records}))
        return f"{len(folds)} folds ({','.join(map(str, folds))}) × seed {seeds}"
    return ",".join(str(r["seed"]) for r in sorted(records, key=lambda r: r["seed"]))


def table_rows(groups: dict[tuple[str, str, str, int], list[dict]]) -> list[dict]:
    """Rows of benchmarks/results/table.json: one per dataset, encoder, variant, protocol and
    protocol metric, with mean, sample std, n and the record files."""
    rows = []
    for (dataset, encoder, variant, _), records in sorted(groups.items()):
        name = dataset.split(":", 1)[0]
        by_protocol: dict[str, list[dict]] = defaultdict(list)
        for record in records:
            by_protocol[_protocol(record)].append(record)
        scored = [(protocol, "metrics", chosen) for protocol, chosen in sorted(by_protocol.items())]
        # The no-overlap setting (ADE's second column) where the records hold it.
        scored += [
            (f"{protocol} no-overlap", "metrics_no_overlap", with_it)
            for protocol, chosen in sorted(by_protocol.items())
            if (with_it := [r for r in chosen if "metrics_no_overlap" in r])
        ]
        for protocol, field, chosen in scored:
            for setting, average in PROTOCOL_METRICS.get(name, PROTOCOL_METRICS["conll04"]):
                values = [r[field][setting][average]["f1"] for r in chosen]
                rows.append(
                    {
                        "dataset": name,
                        "encoder": encoder,
                        "preset": variant,
                        "protocol": protocol,
                        "metric": f"{setting} {average} F1",
                        "mean": round(statistics.fmean(values), 2),
                        "std": round(statistics.stdev(values), 2) if len(values) > 1 else None,
                        "n": len(values),
                        "records": sorted(Path(r["_path"]).name for r in chosen),
                    }
                )
    return rows


COMPARISONS_NAME = "comparisons.json"
"""The Headline as data, beside the records: ``benchmarks/results/comparisons.json``."""


def _score(record: dict, metric: tuple[str, str], split: str = "test") -> float:
    """A record's F1 for ``metric`` on ``split`` (a comparison's split, see
    :data:`run_experiments.COMPARISON_SPLITS`); a record without that split's scores is named."""
    from run_experiments import COMPARISON_SPLITS

    setting, average = metric
    scores = record.get(COMPARISON_SPLITS[split])
    if not scores:
        raise SystemExit(
            f"{Path(record.get('_path', '?')).name}: no {COMPARISON_SPLITS[split]} "
            f"to compare on {split}"
        )
    return float(scores[setting][average]["f1"])


FOLD_KEY = "fold {fold} seed {seed}"
"""How a cross-validation run is keyed where others are keyed by seed (pairing, the tables)."""


def _seeds_text(keys: list) -> str:
    """Seeds as the Headline table shows them; cross-validation keys (``fold F seed S``, see
    :func:`_by_seed`) grouped by seed.

    Example:
        >>> _seeds_text([11, 12, 13])
        '11,12,13'
        >>> _seeds_text(["fold 0 seed 1", "fold 1 seed 1", "fold 2 seed 1"])
        'folds 0,1,2 × seed 1'
    """
    folds: dict[str, list[str]] = {}
    for key in keys:
        match = re.fullmatch(FOLD_KEY.format(fold=r"(\d+)", seed=r"(\d+)"), str(key))
        if match is None:
            return ",".join(str(k) for k in keys)
        folds.setdefault(match[2], []).append(match[1])
    return "; ".join(
        f"fold{'s' if len(f) > 1 else ''} {','.join(f)} × seed {seed}" for seed, f in folds.items()
    )


def _by_seed(records: list[dict], name: str) -> dict[int, dict]:
    """``{seed: record}``; two records of one variant and seed in one group are an error."""
    found: dict[int, dict] = {}
    for record in records:
        # Cross-validation runs pair by fold and seed.
        seed = (
            record["seed"]
            if "fold" not in record
            else FOLD_KEY.format(fold=record["fold"], seed=record["seed"])
        )
        if seed in found:
            files = [Path(r.get("_path", "?")).name for r in (found[seed], record)]
            raise SystemExit(f"{name}: two records of seed {seed} in one group: {files}")
        found[seed] = record
    return found


def _rounded(values: list[float]) -> list[float]:
    return [round(value, 2) for value in values]


def paired_comparison(
    comparison: Comparison, variant_records: list[dict], baseline_records: list[dict]
) -> dict[str, Any]:
    """``comparison.variant`` minus ``comparison.baseline``, paired on the seeds both have.

    Args:
        comparison: The declared comparison (its metric comes first, then its ``also``).
        variant_records: The variant's records of one dataset, encoder, epochs and protocol.
        baseline_records: The baseline's records of the same group.

    Returns:
        One entry of ``comparisons.json`` without its group fields (see the module docstring):
        per metric the per-seed scores of both sides, the differences, their mean and sample
        std (computed from unrounded scores, then rounded to 2 decimals).

    Example:
        >>> from run_experiments import Comparison
        >>> def rec(seed, f1):
        ...     return {"seed": seed, "metrics": {"entity": {"micro": {"f1": f1}}}}
        >>> c = Comparison("c", "c", "a", "b", ("entity", "micro"), also=())
        >>> row = paired_comparison(c, [rec(1, 60.0), rec(2, 62.0)], [rec(2, 61.0)])
        >>> row["seeds"], row["metrics"][0]["differences"], row["unpaired_seeds"]
        ([2], [1.0], {'variant': [1], 'baseline': []})
    """
    variant = _by_seed(variant_records, comparison.variant)
    baseline = _by_seed(baseline_records, comparison.baseline)
    seeds = sorted(set(variant) & set(baseline))
    metrics = []
    for metric in (comparison.metric, *comparison.also):
        ours = [_score(variant[seed], metric, comparison.split) for seed in seeds]
        theirs = [_score(baseline[seed], metric, comparison.split) for seed in seeds]
        differences = [a - b for a, b in zip(ours, theirs, strict=True)]

        def mean(values: list[float]) -> float | None:
            return round(statistics.fmean(values), 2) if values else None

        metrics.append(
            {
                "metric": f"{metric[0]} {metric[1]} F1",
                "variant": _rounded(ours),
                "baseline": _rounded(theirs),
                "differences": _rounded(differences),
                "variant_mean": mean(ours),
                "baseline_mean": mean(theirs),
                "mean": mean(differences),
                "std": round(statistics.stdev(differences), 2) if len(seeds) > 1 else None,
                # per-document counts are recorded for the test split only
                "bootstrap": _bootstrap(
                    metric, [variant[s] for s in seeds], [baseline[s] for s in seeds]
                )
                if comparison.split == "test"
                else None,
            }
        )

    # "auto" precision resolves per machine: a pair whose two sides ask for the same precision
    # but trained in different arithmetic is named (a declared fp32-vs-auto pair is not)
    mixed = [
        f"{seed}: `{comparison.variant}` {record_precision(variant[seed])}, "
        f"`{comparison.baseline}` {record_precision(baseline[seed])}"
        for seed in seeds
        if precision_setting(variant[seed]) == precision_setting(baseline[seed])
        and _arithmetic(variant[seed]) != _arithmetic(baseline[seed])
    ]

    def files(records: dict[int, dict]) -> list[str]:
        return sorted(Path(r["_path"]).name for r in records.values() if "_path" in r)

    return {
        "name": comparison.name,
        "label": comparison.label,
        "note": comparison.note,
        "variant": comparison.variant,
        "baseline": comparison.baseline,
        "split": comparison.split,
        "seeds": seeds,
        "unpaired_seeds": {
            "variant": sorted(set(variant) - set(baseline)),
            "baseline": sorted(set(baseline) - set(variant)),
        },
        "metrics": metrics,
        "precision_differs": mixed,
        "records": {"variant": files(variant), "baseline": files(baseline)},
    }


def _arithmetic(record: dict) -> str:
    """:func:`records.record_precision` without its "(inferred)" mark."""
    return record_precision(record).removesuffix(" (inferred)")


BOOTSTRAP_RESAMPLES = 10_000


def _bootstrap(metric: tuple[str, str], ours: list[dict], theirs: list[dict]) -> dict | None:
    """The paired bootstrap over test documents of a micro metric's mean difference, or None.

    Needs every paired record's ``document_counts`` (written by ``run_experiments.py`` for
    tuned variants) over the same documents; a macro metric has none (its per-type parts are not
    recorded).
    """
    setting, average = metric
    if average != "micro" or not ours:
        return None
    counts = [
        [(record.get("document_counts") or {}).get(setting) for record in side]
        for side in (ours, theirs)
    ]
    flat = counts[0] + counts[1]
    if any(c is None for c in flat) or len({len(c) for c in flat}) != 1:
        return None
    from spertmt.evaluation.bootstrap import paired_bootstrap

    return paired_bootstrap(counts[0], counts[1], resamples=BOOTSTRAP_RESAMPLES).to_dict()


def _of_experiment(record: dict, experiment: Experiment) -> bool:
    """Whether a record belongs to ``experiment``: its ``experiment`` field names the file, or
    (records written before that field) its dataset is the experiment's (``conll04:test``)."""
    if record.get("experiment"):
        return record["experiment"] == shown(experiment.path)
    return str(record["dataset"]).split(":", 1)[0] == experiment.dataset


def comparison_rows(experiments: list[Experiment], records: list[dict]) -> list[dict[str, Any]]:
    """Every declared comparison with records, in file order: the rows of comparisons.json.

    A comparison gives one row per dataset, encoder, epochs and protocol that either of its
    variants has records of (a row with no common seed has empty ``seeds``).
    """
    rows = []
    for experiment in experiments:
        mine = [r for r in records if _of_experiment(r, experiment)]
        for comparison in experiment.comparisons:
            groups: dict[tuple, dict[str, list[dict]]] = defaultdict(
                lambda: {"variant": [], "baseline": []}
            )
            for record in mine:
                side = {comparison.variant: "variant", comparison.baseline: "baseline"}.get(
                    record["variant"]
                )
                if side:
                    key = (record["dataset"], record["encoder"], record["epochs"])
                    groups[(*key, _protocol(record))][side].append(record)
            for (dataset, encoder, epochs, protocol), sides in sorted(groups.items()):
                rows.append(
                    {
                        "experiment": shown(experiment.path),
                        "dataset": dataset,
                        "encoder": encoder,
                        "epochs": epochs,
                        "protocol": protocol,
                        **paired_comparison(comparison, sides["variant"], sides["baseline"]),
                        "headline": comparison.headline,
                    }
                )
    return rows


HEADLINE_NAME = "headline.json"
"""Issue 16's headline as data, beside the records: ``benchmarks/results/headline.json``."""


def headline_entries(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``headline.json``: per dataset, its ``headline = true`` comparison's paired scores.

    ``{"conll04": {"metric", "seeds", "spert", "spertmt", "differences", "mean", "std",
    "bootstrap", "entity": {...}, "comparison", "variant", "baseline", "encoder", "protocol",
    "records"}, ...}``: ``spert`` holds the baseline's per-seed scores and ``spertmt`` the
    variant's. Where the comparison has rows for several encoders or protocols, the one with the
    most paired seeds is the headline.
    """
    entries: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not row.get("headline") or not row["seeds"]:
            continue
        dataset = str(row["dataset"]).split(":", 1)[0]
        if dataset in entries and len(entries[dataset]["seeds"]) >= len(row["seeds"]):
            continue
        main, *also = row["metrics"]
        entry = {
            "metric": main["metric"],
            "seeds": row["seeds"],
            "spert": main["baseline"],
            "spertmt": main["variant"],
            "differences": main["differences"],
            "mean": main["mean"],
            "std": main["std"],
            "bootstrap": main["bootstrap"],
        }
        for other in also:
            entry[other["metric"].split(" ", 1)[0]] = {
                key: other[key]
                for key in ("metric", "baseline", "variant", "differences", "mean", "std")
            }
        entry.update(
            comparison=row["name"],
            variant=row["variant"],
            baseline=row["baseline"],
            encoder=row["encoder"],
            protocol=row["protocol"],
            records=row["records"],
        )
        entries[dataset] = entry
    return entries


_LABELS = {f"{setting} {average} F1": label for setting, average, label in METRICS}


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "\u2212")


def _mean_std(entry: dict) -> str:
    if entry["mean"] is None:
        return "–"
    text = _signed(entry["mean"]) + (f" ± {entry['std']:.2f}" if entry["std"] is not None else "")
    boot = entry.get("bootstrap")
    if boot:
        text += f" [{boot['confidence']:.0%} CI {_signed(boot['low'])}, {_signed(boot['high'])}]"
    return text


def _headline(rows: list[dict[str, Any]]) -> list[str]:
    """The Headline section: one table row per comparison row, then each comparison's note."""
    if not rows:
        return []
    lines = [
        "",
        "## Headline",
        "",
        "Declared as `[[comparison]]` in `benchmarks/experiments/` and paired by seed: both",
        "variants' test scores (dev scores where the data column says dev) on the seeds both have",
        "(mean in brackets), the differences variant − baseline per seed (from unrounded scores)",
        "and their mean ± sample std; for test rows whose records hold per-document counts, a",
        "paired bootstrap over test documents",
        f"({BOOTSTRAP_RESAMPLES:,} resamples, the same documents for both sides and every seed)",
        "gives the 95% interval of that mean.",
        "Positive: the variant is better. As data: `benchmarks/results/comparisons.json`.",
        "",
        "| # | comparison | data | metric | seeds | variant per seed (mean) "
        "| baseline per seed (mean) | Δ per seed | Δ mean ± std | also: Δ per seed → mean ± std |",
        "|---:|---|---|---|---|---|---|---|---:|---|",
    ]
    notes = []
    for number, row in enumerate(rows, start=1):
        main, *also = row["metrics"]
        seeds = _seeds_text(row["seeds"]) or "none in common"
        unpaired = [
            f"`{row[side]}` {_seeds_text(row['unpaired_seeds'][side])}"
            for side in ("variant", "baseline")
            if row["unpaired_seeds"][side]
        ]
        if unpaired:
            seeds += " (unpaired: " + "; ".join(unpaired) + ")"

        def per_seed(values: list[float], mean: float | None) -> str:
            if mean is None:
                return "–"
            return ", ".join(f"{v:.2f}" for v in values) + f" ({mean:.2f})"

        split = row.get("split", "test")

        def label(metric: str, split: str = split) -> str:
            return _LABELS.get(metric, metric) + ("" if split == "test" else f" ({split})")

        data = str(row["dataset"])
        if split != "test" and data.endswith(":test"):
            data = data[: -len("test")] + split
        others = "; ".join(
            f"{label(entry['metric'])}: "
            + ", ".join(_signed(d) for d in entry["differences"])
            + f" → {_mean_std(entry)}"
            for entry in also
            if entry["mean"] is not None
        )
        lines.append(
            f"| {number} | {row['label']} | {data}, {row['encoder']}, "
            f"{row['epochs']} epochs | {label(main['metric'])} | {seeds} "
            f"| `{row['variant']}`: {per_seed(main['variant'], main['variant_mean'])} "
            f"| `{row['baseline']}`: {per_seed(main['baseline'], main['baseline_mean'])} "
            f"| {', '.join(_signed(d) for d in main['differences']) or '–'} "
            f"| **{_mean_std(main)}** | {others or '–'} |"
        )
        if row["note"]:
            notes.append(f"{number}. `{row['variant']}` − `{row['baseline']}`: {row['note']}.")
        if row.get("precision_differs"):
            notes.append(
                f'{number}. Trained in different arithmetic (`train.precision = "auto"` '
                "resolves per machine): " + "; ".join(row["precision_differs"]) + "."
            )
    if notes:
        lines += ["", *notes]
    return lines


REQUIRED = ("dataset", "encoder", "variant", "epochs", "seed")
"""Fields every result record holds besides ``metrics``."""


def read_record(path: Path) -> dict | None:
    """A result record (``None`` for the other JSON files of the folder: speed, tables).

    Raises:
        SystemExit: For a file that is not JSON, or a record (it has ``metrics``) that lacks a
            field the report needs, naming the file: a table must not silently skip a run.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"{path}: not a readable JSON file ({error}); fix or remove it") from None
    if not isinstance(record, dict) or "metrics" not in record:
        return None
    missing = [key for key in REQUIRED if key not in record]
    settings = record["metrics"]
    if not isinstance(settings, dict) or not all(
        isinstance(settings.get(name), dict) for name in ("entity", "relation_strict")
    ):
        missing.append("metrics.entity/relation_strict")
    if missing:
        raise SystemExit(f"{path}: a result record without {', '.join(missing)}; fix or remove it")
    return record


def dirty_section(groups: dict[tuple[str, str, str, int], list[dict]]) -> list[str]:
    """The report's list of records written from a tree with uncommitted changes.

    Their ``git_commit`` ends in ``-dirty``: the code that produced them was that commit plus
    changes that are not recorded (``changed_files`` names the files, where the record has
    it). They count in the tables like the others; this list says which they are.
    """
    dirty = sorted(
        (Path(r["_path"]).name, str(r["git_commit"]), r.get("changed_files"))
        for rs in groups.values()
        for r in rs
        if str(r.get("git_commit", "")).endswith("-dirty")
    )
    if not dirty:
        return []
    lines = [
        "",
        "## Records from a working tree with uncommitted changes",
        "",
        f"{len(dirty)} of the records were written from a tree with uncommitted changes"
        " (their `git_commit` ends in `-dirty`): the code was that commit plus changes the record"
        " does not hold, except where it lists `changed_files` or a note above says what they"
        " were. They are counted in the tables above; rerun one with"
        " `python benchmarks/run_experiments.py ... --force --only VARIANT` from a clean tree to"
        " replace it.",
        "",
    ]
    for name, commit, changed in dirty:
        files = f" (changed: {', '.join(changed)})" if changed else ""
        lines.append(f"- `{name}`: {commit}{files}")
    return lines


def write_report(*, plots: bool = True, readme: bool = False) -> None:
    """Regenerate docs/results.md and benchmarks/results/table.json from every result file.

    With ``plots`` (and matplotlib importable) the figures are redrawn into ``img/results/``
    beside docs/results.md (``plots.py``); without, the PNGs that exist are embedded. With
    ``readme`` (the command line's default), the README's copy of the paper's table
    (``paper_table.py``) is rewritten too.
    """
    groups: dict[tuple[str, str, str, int], list[dict]] = defaultdict(list)
    every: list[dict] = []
    for path in sorted(RESULTS.glob("*.json")):
        record = read_record(path)
        if record is None:
            continue
        record = _pooled_folds(record)
        record["_path"] = str(path)
        key = (record["dataset"], record["encoder"], record["variant"], record["epochs"])
        groups[key].append(record)
        every.append(record)
    experiments = load_experiments()
    compared = comparison_rows(experiments, every)
    rows = table_rows(groups)
    paper = paper_table(rows, load_published(), load_rows(), declared_runs(experiments))
    if readme:
        update_readme(paper)
    lines = [
        "# Measured results",
        "",
        "Generated by `python benchmarks/report.py` from the JSON files in",
        "`benchmarks/results/` (one file per run: seed, config, versions, commit, command)",
        "and the experiment files in `benchmarks/experiments/`.",
        "",
        "## The paper's table",
        "",
        "Published numbers (the papers' encoders) beside ours (MiniLM, the only small encoder",
        "installable here), test split, each dataset's published metric; ours are mean ± sample",
        "std over seeds (ADE: over folds). Rows: `benchmarks/paper_table.toml`; published:",
        "`benchmarks/published.toml`. The README carries the same table.",
        "",
        *paper,
        *_headline(compared),
        *figures_section(every, experiments, SUMMARY, draw=plots),
        "",
        "## Every variant",
        "",
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
        seeds = _runs(records)
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
    descriptions = variant_descriptions()
    named = sorted({variant for _, _, variant, _ in groups} & set(descriptions))
    if named:
        lines += ["", "Variants (declared in `benchmarks/experiments/`):", ""]
        lines += [f"- `{variant}`: {descriptions[variant]}" for variant in named]
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
    lines += dirty_section(groups)
    lines += [
        "",
        "## Commands",
        "",
        "As run, with the config files of each record's `git_commit`. Today's code reruns every"
        " variant the library still has from its declaration:"
        " `python benchmarks/run_experiments.py benchmarks/experiments/conll04.toml --force"
        " --only VARIANT` (its overrides pin the settings of the time).",
        "",
    ]
    commands = sorted({r["command"] for rs in groups.values() for r in rs})
    lines += [f"- `{c}`" for c in commands]
    # The Speed section (benchmarks/speed.py) follows; regenerating the accuracy part keeps it.
    from speed import speed_section

    lines += ["", *speed_section()]
    write_text(SUMMARY, "\n".join(lines) + "\n")
    write_text(RESULTS / TABLE_NAME, json.dumps(rows, indent=1) + "\n")
    write_text(
        RESULTS / COMPARISONS_NAME, json.dumps(compared, indent=1, ensure_ascii=False) + "\n"
    )
    headline = headline_entries(compared)
    if headline:
        write_text(
            RESULTS / HEADLINE_NAME, json.dumps(headline, indent=1, ensure_ascii=False) + "\n"
        )
    print(f"wrote {shown(SUMMARY)}")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, then regenerate the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="keep the PNGs as they are (do not redraw them)"
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="leave the README's copy of the paper's table"
    )
    args = parser.parse_args(argv)
    write_report(plots=not args.no_plots, readme=not args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
