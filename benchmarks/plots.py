"""The figures of ``docs/results.md``, drawn from the run records.

``python benchmarks/report.py`` calls :func:`figures_section`, which plans the figures of every
dataset that has records, draws them into ``img/results/`` beside ``docs/results.md`` when
matplotlib is importable (``pip install -e '.[bench]'``; without it, or with ``report.py
--no-plots``, it keeps the PNGs it finds, and says so) and returns the Markdown that embeds
them:

- ``<dataset>_scores.png``: the test score of the dataset's headline metric (SpERT's protocol,
  ``benchmarks/published.toml``) of our main variants, mean ± sample std over runs with every
  run as a dot, beside the published SpERT and SpERT.MT numbers. The main variants are the
  presets (``spert``, ``spertmt``) and every variant a ``[[comparison]]`` of the dataset's
  experiment file names, in file order, grouped by model (SpERT or SpERT.MT, from each
  record's model switches); screening variants stay in the report's table.
- ``<dataset>_ablations.png``: every ``<base>-no-<part>`` variant minus its ``<base>``, paired
  by seed (test: the headline metric; dev: relation strict micro at the thresholds chosen).
- ``<dataset>_dev_curves.png``: dev F1 per epoch of the trained runs whose records hold
  ``dev_history`` (``run_experiments.py`` stores it from the run folder's ``metrics.jsonl``).

Planning (which bars, which runs, the Markdown) needs only the standard library. The PNGs are
deterministic: matplotlib's default style with fixed sizes, no ``Software`` metadata.

Records written before ``dev_history`` existed get it from their run folders, where these
still exist (the run folder's configuration must match the record's training)::

    python benchmarks/plots.py --add-dev-history [--workdir runs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import RESULTS, ROOT, dev_history, shown, write_json  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from run_experiments import Experiment

PUBLISHED = ROOT / "benchmarks" / "published.toml"
WORKDIR = ROOT / "runs" / "benchmarks"

PRESETS = ("spert", "spertmt")
"""Always among a dataset's main variants when they have records."""
MAX_CURVE_VARIANTS = 8
DPI = 110
COLOURS = {"spert": "#4C72B0", "spertmt": "#DD8452"}
NEUTRAL = "#9AA5B1"
FAMILY_NAMES = {"spert": "SpERT", "spertmt": "SpERT.MT"}
COMPONENTS = {
    "A": "A: binary entity head",
    "AC": "A+C: binary entity and relation heads",
    "B": "B: IoU head",
    "C": "C: binary relation head",
    "D": "D: entity logits in the pair",
    "shape": "the word-shape feature",
    "iou-cls": "the predicted IoU in the entity classifier",
}
"""What an ablation's ``-no-<part>`` removes (method.md §3), for the chart's labels."""
# The base is everything before the first "-no-": a part may hold hyphens (``-no-iou-cls``).
_ABLATION = re.compile(r"^(?P<base>.+?)-no-(?P<part>.+)$")
_MT_SWITCHES = ("entity_binary_head", "relation_binary_head", "entity_logits_in_pair")


# ------------------------------------------------------------------------------ published numbers


@dataclass(frozen=True)
class Published:
    """One published number: a system's score on a dataset (``benchmarks/published.toml``)."""

    name: str
    family: str
    encoder: str
    value: float
    source: str
    note: str = ""


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's name in titles, its headline metric and the published numbers for it."""

    name: str
    label: str
    metric: tuple[str, str]
    systems: tuple[Published, ...] = ()


def load_published(path: Path = PUBLISHED) -> dict[str, DatasetInfo]:
    """The published numbers per dataset; a bad entry names the file and the dataset."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    found = {}
    for name, table in data.items():
        where = f"{shown(path)}, [{name}]"
        setting, _, average = str(table.get("metric", "")).partition(".")
        if not setting or average not in ("micro", "macro"):
            raise SystemExit(f"{where}: metric is SETTING.AVERAGE, e.g. relation_strict.micro")
        systems = []
        for raw in table.get("system", []):
            missing = {"name", "family", "encoder", "value", "source"} - set(raw)
            if missing or raw.get("family") not in COLOURS:
                raise SystemExit(
                    f"{where}: a system needs name, family (spert or spertmt), encoder, value "
                    f"and source; missing or wrong: {sorted(missing) or 'family'}"
                )
            systems.append(Published(**{k: raw[k] for k in raw if k in Published.__annotations__}))
        found[name] = DatasetInfo(
            name, table.get("label", name), (setting, average), tuple(systems)
        )
    return found


def dataset_info(name: str, published: dict[str, DatasetInfo]) -> DatasetInfo:
    """The dataset's entry, or relation strict micro and no published numbers."""
    return published.get(name) or DatasetInfo(name, name, ("relation_strict", "micro"))


def metric_label(metric: tuple[str, str]) -> str:
    """``("relation_strict", "micro")`` → ``"relation F1 (strict, micro)"``."""
    setting, average = metric
    kind, _, rule = setting.partition("_")
    return f"{kind} F1 ({rule}, {average})" if rule else f"{kind} F1 ({average})"


# ------------------------------------------------------------------------------------- records


def dataset_of(record: dict) -> str:
    """``conll04:test`` → ``conll04`` (ADE's ``ade:3:test`` → ``ade``), as table.json names it."""
    return str(record["dataset"]).split(":", 1)[0]


def family_of(record: dict) -> str:
    """``"spertmt"`` when any SpERT.MT switch of the record's model is on, else ``"spert"``."""
    model = (record.get("config") or {}).get("model")
    if model is None:
        name = str(record["variant"])
        return "spertmt" if "spertmt" in name or name.startswith("mt-") else "spert"
    on = any(model.get(key) for key in _MT_SWITCHES) or model.get("iou_mode", "off") != "off"
    return "spertmt" if on else "spert"


def score(record: dict, metric: tuple[str, str]) -> float:
    """A record's test F1 for ``metric``."""
    setting, average = metric
    return float(record["metrics"][setting][average]["f1"])


def run_label(record: dict) -> str:
    """``seed 1``, or ``fold 3 seed 1`` for a cross-validation run."""
    fold = record.get("fold")
    return f"seed {record['seed']}" if fold is None else f"fold {fold} seed {record['seed']}"


def _run_key(record: dict) -> tuple[Any, int]:
    return (record.get("fold", -1), int(record["seed"]))


def _setting(record: dict) -> tuple[str, int, str]:
    """What must be equal for two records to be compared: encoder, epochs, protocol."""
    from report import _protocol

    return (str(record["encoder"]), int(record["epochs"]), _protocol(record))


def _suffixes(settings: Iterable[tuple[str, int, str]]) -> dict[tuple[str, int, str], str]:
    """A label suffix per setting that names only the parts that differ between them."""
    settings = sorted(set(settings))
    varies = [len({s[i] for s in settings}) > 1 for i in range(3)]
    shown_parts = {}
    for setting in settings:
        encoder, epochs, protocol = setting
        parts = [
            text
            for text, differs in zip(
                (encoder, f"{epochs} epochs", protocol.replace("->", "→")), varies, strict=True
            )
            if differs
        ]
        shown_parts[setting] = f" [{', '.join(parts)}]" if parts else ""
    return shown_parts


def _describe(settings: Iterable[tuple[str, int, str]]) -> str:
    """``minilm, 20 epochs, train→test`` (each part once, joined with "/" where they differ)."""
    settings = list(settings)
    parts = [sorted({str(s[i]) for s in settings}) for i in range(3)]
    encoder, epochs, protocol = ("/".join(p) for p in parts)
    return f"{encoder} encoder, {epochs} epochs, {protocol.replace('->', '→')}"


def main_variants(experiments: Sequence[Experiment], dataset: str) -> list[str]:
    """The presets and every variant a comparison of the dataset's experiment files names, in
    file order."""
    names: list[str] = []
    for experiment in experiments:
        if experiment.dataset != dataset:
            continue
        compared = {c.variant for c in experiment.comparisons} | {
            c.baseline for c in experiment.comparisons
        }
        names += [
            v.name
            for v in experiment.variants
            if (v.name in compared or v.name in PRESETS) and v.name not in names
        ]
    return names


# --------------------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Bar:
    """One bar: our variant's runs (``values`` per run) or a published number (``published``)."""

    label: str
    family: str
    values: tuple[float, ...]
    runs: tuple[str, ...] = ()
    published: Published | None = None
    name: str = ""
    """The variant (with what tells its setting apart), for the text under the chart."""

    @property
    def mean(self) -> float:
        """The mean over the runs."""
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        """The sample standard deviation over the runs (``None`` below two)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None


@dataclass(frozen=True)
class ScoreChart:
    """``<dataset>_scores.png``: bars per family, the published number first."""

    dataset: DatasetInfo
    bars: tuple[Bar, ...]
    settings: str

    @property
    def file(self) -> str:
        """The PNG's name."""
        return f"{self.dataset.name}_scores.png"


@dataclass(frozen=True)
class Ablation:
    """One ablation against its full model, paired by run (the same seed and fold)."""

    base: str
    variant: str
    label: str
    runs: tuple[str, ...]
    test: tuple[float, ...]
    dev: tuple[float, ...]


@dataclass(frozen=True)
class AblationChart:
    """``<dataset>_ablations.png``: each ablation minus its full model."""

    dataset: DatasetInfo
    rows: tuple[Ablation, ...]
    settings: str

    @property
    def file(self) -> str:
        """The PNG's name."""
        return f"{self.dataset.name}_ablations.png"


@dataclass(frozen=True)
class Curve:
    """One run's dev score per epoch."""

    variant: str
    family: str
    run: str
    epochs: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class CurveChart:
    """``<dataset>_dev_curves.png``: dev F1 per epoch, one line per run."""

    dataset: DatasetInfo
    curves: tuple[Curve, ...]
    settings: str

    @property
    def file(self) -> str:
        """The PNG's name."""
        return f"{self.dataset.name}_dev_curves.png"

    def variants(self) -> list[str]:
        """The variants with curves, in chart order."""
        return list(dict.fromkeys(curve.variant for curve in self.curves))


def _by_dataset(records: Iterable[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        found[dataset_of(record)].append(record)
    return dict(sorted(found.items()))


def score_chart(
    info: DatasetInfo, records: Sequence[dict], main: Sequence[str]
) -> ScoreChart | None:
    """The bars of one dataset: its main variants with records, beside the published numbers.

    Args:
        info: The dataset (its headline metric and published numbers).
        records: The dataset's records.
        main: The main variants, in order (see :func:`plan_figures`).

    Returns:
        The chart, or ``None`` when no main variant has records.
    """
    wanted = list(main)
    groups: dict[tuple[str, tuple[str, int, str]], list[dict]] = defaultdict(list)
    for record in records:
        if record["variant"] in wanted:
            groups[(record["variant"], _setting(record))].append(record)
    if not groups:
        return None
    suffix = _suffixes(setting for _, setting in groups)
    order = sorted(groups, key=lambda key: (wanted.index(key[0]), key[1]))
    bars = []
    for family in COLOURS:
        bars += [
            Bar(f"{p.name}, published ({p.encoder})", family, (float(p.value),), published=p)
            for p in info.systems
            if p.family == family
        ]
        for variant, setting in order:
            chosen = sorted(groups[(variant, setting)], key=_run_key)
            if family_of(chosen[0]) != family:
                continue
            bars.append(
                Bar(
                    f"{variant}{suffix[setting]} (n={len(chosen)})",
                    family,
                    tuple(score(r, info.metric) for r in chosen),
                    tuple(run_label(r) for r in chosen),
                    name=f"{variant}{suffix[setting]}",
                )
            )
    return ScoreChart(info, tuple(bars), _describe(setting for _, setting in groups))


def dev_score(record: dict) -> float | None:
    """Dev relation strict micro F1 at the thresholds the test scores use (as report.py);
    ``None`` for a run without dev data."""
    from report import _dev_relation_f1

    value = _dev_relation_f1(record)
    return None if value is None else float(value)


def _dev_deltas(runs: dict, full: dict, paired: Sequence) -> tuple[float, ...]:
    """Dev score differences of the paired runs that both have one."""
    deltas = []
    for key in paired:
        ours, theirs = dev_score(runs[key]), dev_score(full[key])
        if ours is not None and theirs is not None:
            deltas.append(ours - theirs)
    return tuple(deltas)


def ablation_chart(info: DatasetInfo, records: Sequence[dict]) -> AblationChart | None:
    """Every ``<base>-no-<part>`` variant minus ``<base>`` (same setting, paired by run).

    Rows are ordered by base, then ablation; a row whose setting (encoder, epochs, protocol)
    is not the only one says which it is.
    """
    groups: dict[tuple[str, tuple[str, int, str]], dict[tuple[Any, int], dict]] = defaultdict(dict)
    for record in records:
        groups[(record["variant"], _setting(record))][_run_key(record)] = record
    found = []
    for (variant, setting), runs in groups.items():
        match = _ABLATION.match(variant)
        full = groups.get((match["base"], setting)) if match else None
        paired = sorted(set(runs) & set(full)) if match and full else []
        if paired:
            found.append((match["base"], variant, setting, match["part"], runs, full, paired))
    if not found:
        return None
    suffix = _suffixes(setting for _, _, setting, *_ in found)
    rows = [
        Ablation(
            base=base,
            variant=f"{variant}{suffix[setting]}",
            label=COMPONENTS.get(part, part),
            runs=tuple(run_label(runs[key]) for key in paired),
            test=tuple(score(runs[k], info.metric) - score(full[k], info.metric) for k in paired),
            dev=_dev_deltas(runs, full, paired),
        )
        for base, variant, setting, part, runs, full, paired in sorted(
            found, key=lambda item: item[:3]
        )
    ]
    return AblationChart(info, tuple(rows), _describe(setting for _, _, setting, *_ in found))


def _trained(record: dict) -> str:
    """The variant whose training run a record scores (a ``run_of`` variant's base)."""
    return str(record.get("trained_as", record["variant"]))


def without_history(
    records: Sequence[dict], main: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The trained runs behind the main variants without curves: those whose records predate
    ``dev_history``, and those whose runs evaluated no dev split (an empty history)."""
    behind = dict.fromkeys(_trained(r) for r in records if r["variant"] in main)
    have = {_trained(r) for r in records if r.get("dev_history")}
    recorded = {_trained(r) for r in records if "dev_history" in r}
    missing = [v for v in behind if v not in have]
    return (
        tuple(v for v in missing if v not in recorded),
        tuple(v for v in missing if v in recorded),
    )


def curve_chart(
    info: DatasetInfo, records: Sequence[dict], main: Sequence[str]
) -> CurveChart | None:
    """Dev F1 per epoch of the training runs whose records hold ``dev_history``.

    One curve per training run: the records of a run and of the ``run_of`` variants that
    re-decide it share its history. The runs behind the main variants are shown when any of
    them has a history, else every run that has one; at most :data:`MAX_CURVE_VARIANTS`
    variants.
    """
    runs: dict[str, dict[tuple, dict]] = defaultdict(dict)
    # The run's own record first (a run_of record holds the same history, or none).
    for record in sorted(records, key=lambda r: r["variant"] != _trained(r)):
        if record.get("dev_history"):
            key = (_setting(record), _run_key(record))
            runs[_trained(record)].setdefault(key, record)
    behind_main = dict.fromkeys(_trained(r) for r in records if r["variant"] in main)
    chosen = [v for v in behind_main if v in runs] or sorted(runs)
    chosen = chosen[:MAX_CURVE_VARIANTS]
    suffix = _suffixes(setting for v in chosen for setting, _ in runs[v])
    setting_name, average = info.metric
    curves, settings = [], []
    for variant in chosen:
        for (setting, _), record in sorted(runs[variant].items(), key=lambda item: item[0]):
            points = [
                (int(entry["epoch"]), float(entry[setting_name][average]))
                for entry in record["dev_history"]
                if average in entry.get(setting_name, {})
            ]
            if points:
                settings.append(setting)
                curves.append(
                    Curve(
                        f"{variant}{suffix[setting]}",
                        family_of(record),
                        run_label(record),
                        tuple(epoch for epoch, _ in points),
                        tuple(value for _, value in points),
                    )
                )
    if not curves:
        return None
    return CurveChart(info, tuple(curves), _describe(settings))


@dataclass(frozen=True)
class DatasetFigures:
    """The charts of one dataset (each ``None`` when it has nothing to show)."""

    info: DatasetInfo
    scores: ScoreChart | None
    ablations: AblationChart | None
    curves: CurveChart | None
    without_history: tuple[str, ...] = ()
    """The trained runs behind the main variants whose records predate ``dev_history``."""
    without_dev: tuple[str, ...] = ()
    """The trained runs behind the main variants that evaluated no dev split while training."""

    def charts(self) -> list[ScoreChart | AblationChart | CurveChart]:
        """The charts that exist, in page order."""
        return [c for c in (self.scores, self.ablations, self.curves) if c is not None]


def plan_figures(
    records: Sequence[dict],
    experiments: Sequence[Experiment],
    published: dict[str, DatasetInfo] | None = None,
) -> list[DatasetFigures]:
    """The figures of every dataset that has records, in dataset order.

    A dataset's main variants are :func:`main_variants` of its experiment files, or the presets
    where these name none.
    """
    published = load_published() if published is None else published
    planned = []
    for name, mine in _by_dataset(records).items():
        info = dataset_info(name, published)
        main = main_variants(experiments, name) or list(PRESETS)
        planned.append(
            DatasetFigures(
                info,
                score_chart(info, mine, main),
                ablation_chart(info, mine),
                curve_chart(info, mine, main),
                *without_history(mine, main),
            )
        )
    return planned


# ------------------------------------------------------------------------------------- drawing


def _style() -> dict[str, Any]:
    return {
        "font.family": "DejaVu Sans",
        "font.size": 10.5,
        "axes.titlesize": 12.5,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10.5,
        "legend.fontsize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.grid.axis": "x",
        "grid.alpha": 0.35,
        "axes.axisbelow": True,
        "svg.hashsalt": "spertmt",
        "path.simplify": True,
    }


def _save(fig: Any, path: Path) -> None:
    """The PNG, replaced whole (two campaign workers may draw the same figure at once)."""
    import io

    from spertmt.data.io import write_bytes_atomic

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    write_bytes_atomic(path, buffer.getvalue())


def _spread(count: int, width: float = 0.36) -> list[float]:
    """Offsets of ``count`` dots across a bar, so that equal values stay visible."""
    if count < 2:
        return [0.0] * count
    return [-width / 2 + width * i / (count - 1) for i in range(count)]


def _pm(mean: float, std: float | None, *, signed: bool = False) -> str:
    text = f"{mean:+.2f}".replace("-", "\u2212") if signed else f"{mean:.2f}"
    return text + (f" ± {std:.2f}" if std is not None else "")


def draw_scores(chart: ScoreChart, path: Path) -> None:
    """Horizontal bars per family (published number first), error bars, a dot per run."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    positions, y = [], 0.0
    for index, bar in enumerate(chart.bars):
        if index and bar.family != chart.bars[index - 1].family:
            y += 0.6  # a gap between the two models
        positions.append(y)
        y += 1.0
    fig = Figure(figsize=(9.6, 1.9 + 0.44 * y), layout="constrained")
    ax = fig.add_subplot()
    ends = []
    for bar, pos in zip(chart.bars, positions, strict=True):
        colour = COLOURS[bar.family]
        if bar.published:
            ax.barh(
                pos,
                bar.mean,
                height=0.7,
                color=colour,
                alpha=0.28,
                edgecolor=colour,
                hatch="///",
                linewidth=1.2,
            )
        else:
            ax.barh(pos, bar.mean, height=0.7, color=colour)
        end = bar.mean
        if bar.std is not None:
            ax.errorbar(
                bar.mean,
                pos,
                xerr=bar.std,
                fmt="none",
                ecolor="black",
                elinewidth=1.3,
                capsize=5,
                capthick=1.3,
                zorder=3,
            )
            end = bar.mean + bar.std
        if len(bar.values) > 1:
            ax.scatter(
                bar.values,
                [pos + d for d in _spread(len(bar.values))],
                s=16,
                color="black",
                edgecolors="white",
                linewidths=0.6,
                zorder=4,
            )
            end = max(end, *bar.values)
        ends.append(end)
        ax.text(end + 0.8, pos, _pm(bar.mean, bar.std), va="center", fontsize=10)
    ax.set_yticks(positions, [bar.label for bar in chart.bars])
    ax.invert_yaxis()
    ax.set_xlim(0, max(ends) + 17)
    ax.set_xlabel(f"test {metric_label(chart.dataset.metric)}, %")
    fig.suptitle(
        f"{chart.dataset.label}, test split: {metric_label(chart.dataset.metric)}",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=12.5,
    )
    ax.set_title(
        f"ours: {chart.settings}\nbar = mean ± sample std over the n runs, dot = one run",
        loc="left",
        fontsize=9.5,
        color="#444444",
    )
    handles = [Patch(color=COLOURS[f], label=f"ours, {FAMILY_NAMES[f]} model") for f in COLOURS]
    handles.append(
        Patch(
            facecolor="#dddddd",
            edgecolor="#666666",
            hatch="///",
            label="published (paper's encoder)",
        )
    )
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    _save(fig, path)


def _delta_panel(ax: Any, rows: Sequence[Ablation], values: str, title: str, lim: float) -> None:
    """One panel of the ablation chart: data within ±``lim``, the numbers in a column right."""
    from matplotlib.ticker import MaxNLocator

    column = lim  # room for "−2.23 ± 0.20" right of the data
    for pos, row in enumerate(rows):
        deltas = getattr(row, values)
        if not deltas:
            ax.text(0, pos, " no dev data", va="center", ha="left", color="#444444")
            continue
        mean, std = statistics.fmean(deltas), _std(deltas)
        ax.barh(pos, mean, height=0.62, color=NEUTRAL)
        if std is not None:
            ax.errorbar(
                mean, pos, xerr=std, fmt="none", ecolor="black", elinewidth=1.2, capsize=4, zorder=3
            )
        ax.scatter(
            deltas,
            [pos + d for d in _spread(len(deltas), 0.3)],
            s=20,
            color="black",
            edgecolors="white",
            linewidths=0.6,
            zorder=4,
        )
        ax.text(lim + column * 0.08, pos, _pm(mean, std, signed=True), va="center", ha="left")
    ax.axvline(0, color="black", linewidth=1.0)
    ax.axvline(lim, color="#bbbbbb", linewidth=0.8)
    ax.set_xlim(-lim, lim + column)
    ax.set_xticks(
        [t for t in MaxNLocator(6, symmetric=True).tick_values(-lim, lim) if abs(t) <= lim]
    )
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel("Δ F1 (ablation − full), points")


def draw_ablations(chart: AblationChart, path: Path) -> None:
    """Test and dev panels (dev where there are dev data): each ablation minus its full model,
    a dot per paired run."""
    from matplotlib.figure import Figure

    rows = chart.rows
    every = [abs(v) for row in rows for v in (*row.test, *row.dev)]
    lim = max(1.0, max(every) * 1.12 + 0.3)
    with_dev = any(row.dev for row in rows)
    fig = Figure(figsize=(10.4 if with_dev else 7.6, 2.4 + 0.62 * len(rows)), layout="constrained")
    axes = fig.subplots(1, 2 if with_dev else 1, sharey=True, squeeze=False)[0]
    metric = metric_label(chart.dataset.metric)
    _delta_panel(axes[0], rows, "test", f"test {metric}" + ("\n" if with_dev else ""), lim)
    if with_dev:
        dev_title = "dev relation F1 (strict, micro),\nat the thresholds chosen"
        _delta_panel(axes[1], rows, "dev", dev_title, lim)
    bases = sorted({row.base for row in rows})
    labels = [f"without {row.label}\n{row.variant} − {row.base}, n={len(row.test)}" for row in rows]
    axes[0].set_yticks(range(len(rows)), labels)
    axes[0].invert_yaxis()
    fig.suptitle(
        f"{chart.dataset.label}: one component removed in turn from {' and '.join(bases)}",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=12.5,
    )
    unit = "fold" if any("fold" in run for row in rows for run in row.runs) else "seed"
    fig.supxlabel(
        f"{chart.settings}\npaired by {unit}: dot = one {unit}, bar = mean ± sample std of the "
        "differences\nbelow zero: removing the component lowered F1 (the component helps)",
        x=0.01,
        ha="left",
        fontsize=9.5,
        color="#444444",
    )
    _save(fig, path)


SHADES = {
    "spert": ("#4C72B0", "#1B3A6B", "#7FA6D9", "#2C7FB8"),
    "spertmt": ("#DD8452", "#9C4A1A", "#F0B07A", "#C44E52"),
}
"""Line colours per model in the learning curves: one shade per variant of that model."""
MARKERS = ("o", "s", "^", "D")


def draw_curves(chart: CurveChart, path: Path) -> None:
    """Dev F1 per epoch: a thin line per run, a bold line for the mean of each variant."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(9.6, 5.8), layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, axis="both", alpha=0.35)
    handles = []
    used = {family: 0 for family in SHADES}
    for variant in chart.variants():
        curves = [c for c in chart.curves if c.variant == variant]
        family = curves[0].family
        index = used[family]
        used[family] += 1
        colour = SHADES[family][index % len(SHADES[family])]
        marker = MARKERS[index % len(MARKERS)]
        style = "--" if family == "spert" else "-"
        for curve in curves:
            ax.plot(
                curve.epochs, curve.values, color=colour, linestyle=style, linewidth=0.9, alpha=0.35
            )
        epochs = sorted(set.intersection(*(set(c.epochs) for c in curves)))
        if epochs:
            means = [statistics.fmean(c.values[c.epochs.index(e)] for c in curves) for e in epochs]
            ax.plot(
                epochs,
                means,
                color=colour,
                linestyle=style,
                linewidth=2.2,
                marker=marker,
                markersize=4.5,
            )
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linestyle=style,
                linewidth=2.2,
                marker=marker,
                label=f"{variant} ({FAMILY_NAMES[family]}, n={len(curves)})",
            )
        )
    metric = metric_label(chart.dataset.metric)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"dev {metric}, %")
    fig.suptitle(
        f"{chart.dataset.label}, dev split: {metric} per epoch",
        x=0.01,
        ha="left",
        fontweight="bold",
        fontsize=12.5,
    )
    ax.set_title(
        f"{chart.settings}; at each run's configured decision rule (before tuning on dev)\n"
        "thin = one run, bold = mean over the runs; dashed: SpERT model, solid: SpERT.MT model",
        loc="left",
        fontsize=9.5,
        color="#444444",
    )
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(handles=handles, loc="lower right", frameon=True)
    _save(fig, path)


DRAW = {ScoreChart: draw_scores, AblationChart: draw_ablations, CurveChart: draw_curves}


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (the ``bench`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw_figures(planned: Sequence[DatasetFigures], out_dir: Path) -> list[Path]:
    """Draw every planned chart into ``out_dir``; remove the PNGs there that no chart drew."""
    import matplotlib
    import matplotlib.style

    written = []
    with matplotlib.style.context("default"), matplotlib.rc_context(_style()):
        for figures in planned:
            for chart in figures.charts():
                path = out_dir / chart.file
                DRAW[type(chart)](chart, path)
                written.append(path)
    for stale in sorted(out_dir.glob("*.png")) if out_dir.is_dir() else []:
        if stale not in written:
            stale.unlink(missing_ok=True)  # another worker may have removed it
    return written


# ------------------------------------------------------------------------------------ markdown


def _published_text(info: DatasetInfo) -> str:
    if not info.systems:
        return "no published numbers in `benchmarks/published.toml` for this dataset"
    return "; ".join(
        f"{p.name} {p.value:.2f} ({p.encoder}; {p.source}" + (f"; {p.note}" if p.note else "") + ")"
        for p in info.systems
    )


def _image(chart: Any, out_dir: Path, link: str, alt: str) -> list[str]:
    if not (out_dir / chart.file).is_file():
        return [
            f"*({chart.file} not drawn yet: it needs matplotlib, `pip install -e '.[bench]'`)*",
            "",
        ]
    return [f"![{alt}]({link}/{chart.file})", ""]


def markdown(planned: Sequence[DatasetFigures], out_dir: Path, link: str) -> list[str]:
    """The Figures section of ``docs/results.md`` (``link``: ``out_dir`` relative to it)."""
    if not planned:
        return []
    lines = [
        "",
        "## Figures",
        "",
        "Drawn by `benchmarks/plots.py` (part of `python benchmarks/report.py`) from the same",
        "records; published numbers from `benchmarks/published.toml`.",
    ]
    for figures in planned:
        info = figures.info
        metric = metric_label(info.metric)
        if figures.scores:
            chart = figures.scores
            ours = [bar for bar in chart.bars if not bar.published]
            lines += ["", f"### {info.label}: test {metric}", ""]
            lines += _image(chart, out_dir, link, f"{info.label} test {metric} per variant")
            lines += [
                f"Ours ({chart.settings}): "
                + ", ".join(
                    f"`{bar.name}` {_pm(bar.mean, bar.std)} (n={len(bar.values)})" for bar in ours
                )
                + " (mean ± sample std over the n runs). The variants are the presets and those "
                "the experiment file compares; every variant is in the table below. "
                f"Published: {_published_text(info)}.",
            ]
        if figures.ablations:
            chart = figures.ablations
            lines += ["", f"### {info.label}: ablations", ""]
            lines += _image(chart, out_dir, link, f"{info.label} ablations")
            lines += [
                "Each ablation minus its full model, paired by run (the same seed and fold; "
                f"{chart.settings}): test {metric} and dev relation strict F1 (micro) at the "
                "thresholds chosen on dev: "
                + "; ".join(
                    f"`{row.variant}` − `{row.base}` test "
                    f"{_pm(statistics.fmean(row.test), _std(row.test), signed=True)}, dev "
                    + (
                        _pm(statistics.fmean(row.dev), _std(row.dev), signed=True)
                        if row.dev
                        else "–"
                    )
                    + " "
                    f"({', '.join(row.runs)})"
                    for row in chart.rows
                )
                + ".",
            ]
        lines += ["", f"### {info.label}: dev {metric} per epoch", ""]
        if figures.curves:
            chart = figures.curves
            lines += _image(chart, out_dir, link, f"{info.label} dev learning curves")
            runs = defaultdict(list)
            for curve in chart.curves:
                runs[curve.variant].append(curve.run)
            lines.append(
                "Runs with curves: "
                + "; ".join(f"`{v}` ({', '.join(r)})" for v, r in runs.items())
                + ". Dev scores at each run's configured decision rule, before thresholds are "
                "tuned on dev."
            )
        missing = []
        if figures.without_history:
            names = ", ".join(f"`{v}`" for v in figures.without_history)
            missing.append(
                f"No curves for {names}: their records hold no per-epoch dev scores (written "
                "before `run_experiments.py` stored `dev_history`; "
                "`python benchmarks/plots.py --add-dev-history` adds it from the run folders "
                "where these still exist)."
            )
        if figures.without_dev:
            names = ", ".join(f"`{v}`" for v in figures.without_dev)
            missing.append(f"No curves for {names}: these runs evaluated no dev split.")
        if missing:
            lines += ["" if figures.curves else "No learning curves yet.", *missing]
    return lines


def _std(values: Sequence[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def figures_section(
    records: Sequence[dict],
    experiments: Sequence[Experiment],
    summary: Path,
    *,
    draw: bool = True,
    out_dir: Path | None = None,
) -> list[str]:
    """Plan, draw (when matplotlib is importable and ``draw``) and embed the figures.

    Args:
        records: Every run record (``report.py`` reads them; each with its ``_path``).
        experiments: The experiment files (for each dataset's main variants).
        summary: The Markdown file the section goes into (links are relative to it).
        draw: Whether to redraw the PNGs (else the existing ones are embedded).
        out_dir: Where the PNGs go (default ``img/results`` beside ``summary``).

    Returns:
        The section's lines (empty without records).
    """
    out_dir = summary.parent / "img" / "results" if out_dir is None else out_dir
    planned = plan_figures(records, experiments)
    if draw and planned:
        if matplotlib_available():
            written = draw_figures(planned, out_dir)
            print(f"drew {len(written)} figures into {shown(out_dir)}")
        else:
            print(
                "note: matplotlib is not installed, so the figures were not redrawn "
                "(pip install -e '.[bench]'); docs/results.md embeds the PNGs that exist"
            )
    link = Path(os.path.relpath(out_dir, summary.parent)).as_posix()
    return markdown(planned, out_dir, link)


# ----------------------------------------------------------------------- dev history, backfilled


def _same_training(record: dict, run_config: dict) -> bool:
    ours = record.get("config") or {}
    for section in ("model", "train", "data"):
        mine, theirs = dict(ours.get(section, {})), dict(run_config.get(section, {}))
        if section == "train":
            mine.pop("threads", None)
            theirs.pop("threads", None)
        if any(theirs.get(key) != value for key, value in mine.items() if key in theirs):
            return False
    return True


def add_dev_history(results: Path, workdir: Path) -> list[Path]:
    """Add ``dev_history`` to the records in ``results`` that lack it, from their run folders.

    A record's run folder is ``<workdir>/<dataset>/<trained_as>-seed<N>`` (with
    ``-fold<F>`` before ``-seed`` for a fold), as ``run_experiments.py`` names it. A folder
    trained with other settings than the record's (compared key by key on the model, train and
    data sections, ``train.threads`` aside) is left alone.

    Returns:
        The records it changed.
    """
    changed = []
    for path in sorted(results.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or "metrics" not in record or record.get("dev_history"):
            continue
        trained = record.get("trained_as", record["variant"])
        fold = record.get("fold")
        name = (
            f"{trained}-seed{record['seed']}"
            if fold is None
            else (f"{trained}-fold{fold}-seed{record['seed']}")
        )
        run_dir = workdir / dataset_of(record) / name
        history = dev_history(run_dir / "metrics.jsonl")
        if not history:
            continue
        config_file = run_dir / "config.json"
        if not config_file.is_file() or not _same_training(
            record, json.loads(config_file.read_text(encoding="utf-8"))
        ):
            print(f"skipped {shown(path)}: {shown(run_dir)} was trained with other settings")
            continue
        record["dev_history"] = history
        write_json(path, record)
        changed.append(path)
        print(f"added dev_history ({len(history)} epochs) to {shown(path)}")
    return changed


def main(argv: list[str] | None = None) -> int:
    """Draw the figures (as ``report.py`` does), or add ``dev_history`` to old records."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--add-dev-history",
        action="store_true",
        help="add per-epoch dev scores to records that lack them, from their run folders",
    )
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="the runs' parent folder")
    args = parser.parse_args(argv)
    if args.add_dev_history:
        add_dev_history(RESULTS, args.workdir)
    from report import write_report

    write_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
