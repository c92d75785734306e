"""The paper's table: published SpERT and SpERT.MT numbers beside ours, per dataset.

The columns are the datasets of ``benchmarks/published.toml`` with their published metric
(CoNLL04 relation strict micro, SciERC relation boundaries micro, ADE relation strict macro
over the 10 folds); the rows are the two published systems, then ours as declared in
``benchmarks/paper_table.toml``, each cell filled from ``benchmarks/results/table.json``'s rows
(mean ± sample std, n). ``report.py`` puts the table in docs/results.md and copies it into the
README between the markers :data:`START` and :data:`END`, so the README's numbers are the
records' numbers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import ROOT, shown, write_text  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROWS = ROOT / "benchmarks" / "paper_table.toml"
README = ROOT / "README.md"
START = "<!-- paper-table:start (benchmarks/report.py writes this table) -->"
END = "<!-- paper-table:end -->"
PROTOCOL = {"ade": "10-fold"}
"""The protocol of a dataset's cells (``train->test`` where not named)."""
FOLDS = {"ade": 10}


@dataclass(frozen=True)
class Row:
    """One of our rows: a label, an encoder and the variant of each dataset."""

    label: str
    encoder: str
    variants: dict[str, str]
    protocol: str | None = None
    """The cells' protocol (e.g. ``train+dev->test``); else each dataset's :data:`PROTOCOL`."""


def load_rows(path: Path = ROWS) -> list[Row]:
    """The ``[[row]]`` tables; a bad one names the file and the row."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rows = []
    for index, raw in enumerate(data.get("row", [])):
        missing = {"label", "encoder", "variants"} - set(raw)
        if missing or not isinstance(raw.get("variants"), dict):
            raise SystemExit(
                f"{shown(path)}, row {index}: needs label, encoder and a variants table "
                f"(dataset = variant); missing or wrong: {sorted(missing) or ['variants']}"
            )
        rows.append(Row(raw["label"], raw["encoder"], dict(raw["variants"]), raw.get("protocol")))
    return rows


def declared_runs(experiments: list[Any]) -> dict[tuple[str, str], int]:
    """How many runs each ``(dataset, variant)`` of the experiment files declares: its folds
    for cross-validation (the unit of ADE's cells), else its seeds; removed variants left out."""
    return {
        (experiment.dataset, variant.name): len(variant.folds or variant.seeds)
        for experiment in experiments
        for variant in experiment.variants
        if variant.removed is None
    }


def _count(dataset: str, n: int, declared: int | None) -> str:
    """``3 seeds``, ``2 of 3 seeds``, ``4 of 10 folds``: the runs a cell holds, and of how many
    when fewer than declared (cross-validation always names its fold count)."""
    if dataset in FOLDS:
        return f"{n} of {declared or FOLDS[dataset]} folds"
    unit = "seed" if n == 1 and not (declared and declared > n) else "seeds"
    return f"{n} of {declared} {unit}" if declared and declared > n else f"{n} {unit}"


def _cell(
    dataset: str,
    variant: str | None,
    encoder: str,
    metric: str,
    table: list[dict],
    protocol: str | None = None,
    declared: int | None = None,
) -> str:
    if variant is None:
        return "–"
    protocol = protocol or PROTOCOL.get(dataset, "train->test")
    for row in table:
        if (row["dataset"], row["encoder"], row["preset"], row["metric"]) == (
            dataset,
            encoder,
            variant,
            metric,
        ) and row["protocol"] == protocol:
            spread = f" ± {row['std']:.2f}" if row["std"] is not None else ""
            return f"{row['mean']:.2f}{spread} ({_count(dataset, row['n'], declared)})"
    if not declared:
        return "–"
    return f"– (0 of {declared} {'folds' if dataset in FOLDS else 'seeds'})"


def paper_table(
    table: list[dict[str, Any]],
    published: dict[str, Any],
    rows: list[Row],
    declared: dict[tuple[str, str], int] | None = None,
) -> list[str]:
    """The table as Markdown lines.

    Args:
        table: The rows of ``table.json`` (``report.table_rows``).
        published: ``plots.load_published()``: per dataset its label, metric and systems.
        rows: Our rows (:func:`load_rows`).
        declared: :func:`declared_runs` of the experiment files: a cell holding fewer runs
            than its variant declares says so (``2 of 3 seeds``; ``– (0 of 2 seeds)`` before
            the first), so the table itself shows what is still to run.
    """
    declared = declared or {}
    datasets = list(published)
    metrics = {name: f"{info.metric[0]} {info.metric[1]} F1" for name, info in published.items()}
    names = {"relation_strict": "rel. strict", "relation_boundaries": "rel. boundaries"}
    header = []
    for name in datasets:
        setting, average = published[name].metric
        folds = " (10 folds)" if name in FOLDS else ""
        header.append(f"{published[name].label}: {names.get(setting, setting)} {average}{folds}")
    lines = [
        "| test F1, % | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(datasets),
    ]
    systems = list(dict.fromkeys(s.name for info in published.values() for s in info.systems))
    for system in systems:
        cells = []
        for name in datasets:
            found = [s for s in published[name].systems if s.name == system]
            cells.append(f"{found[0].value:.2f} ({found[0].encoder})" if found else "–")
        lines.append(f"| {system}, published | " + " | ".join(cells) + " |")
    for row in rows:
        cells = [
            _cell(
                name,
                row.variants.get(name),
                row.encoder,
                metrics[name],
                table,
                row.protocol,
                declared.get((name, row.variants.get(name, ""))),
            )
            for name in datasets
        ]
        lines.append(f"| {row.label}, {row.encoder} | " + " | ".join(cells) + " |")
    return lines


def update_readme(lines: list[str], path: Path = README) -> bool:
    """Replace the table between :data:`START` and :data:`END` in the README; False when the
    README has no markers (nothing is written)."""
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + START + "\n" + "\n".join(lines) + "\n" + END + tail
    if new != text:
        write_text(path, new)
    return True
