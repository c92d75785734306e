"""``spertmt evaluate``: score predictions against gold data with the SpERT-compatible evaluator.

The command parses its options, calls :func:`spertmt.metrics.evaluate_files`, prints the Rich
tables and optionally writes the report as JSON. Scoring a checkpoint directly
(``--model DIR --data DATASET``) is a second mode that this command is laid out to take: the
file mode's options are all named options, checked together in :func:`_file_mode`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import click
import typer

from spertmt.errors import DataError


def evaluate_command(
    gold: Annotated[
        Path | None,
        typer.Option("--gold", help="Gold documents (SpERT JSON or .jsonl)."),
    ] = None,
    pred: Annotated[
        Path | None,
        typer.Option(
            "--pred", help="Predictions for the same documents, in the same order (scores ignored)."
        ),
    ] = None,
    types: Annotated[
        Path | None,
        typer.Option("--types", help="Types file (SpERT's <dataset>_types.json)."),
    ] = None,
    no_overlap: Annotated[
        bool,
        typer.Option(
            "--no-overlap",
            help="Drop overlapping entities, and relations whose head and tail overlap, "
            "from gold and predictions first (SpERT's --no_overlapping; ADE 'without overlap').",
        ),
    ] = False,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the report to this JSON file."),
    ] = None,
) -> None:
    """Score predictions: entities, relations (boundaries and strict), micro and macro F1."""
    from rich.console import Console

    from spertmt.metrics import evaluate_files

    gold_path, pred_path, types_path = _file_mode(gold, pred, types)
    report = evaluate_files(gold_path, pred_path, types_path, no_overlap=no_overlap)
    Console().print(report.table())
    if json_out is not None:
        _write_json(report.to_dict(), json_out)
        typer.echo(f"wrote {json_out}")


def _file_mode(gold: Path | None, pred: Path | None, types: Path | None) -> tuple[Path, Path, Path]:
    """Return the three files of the gold/prediction mode, or fail naming what is missing."""
    if gold is None or pred is None or types is None:
        given = {"--gold": gold, "--pred": pred, "--types": types}
        missing = ", ".join(name for name, value in given.items() if value is None)
        raise click.UsageError(
            f"missing {missing}: give --gold, --pred and --types to score a predictions file "
            "against gold data"
        )
    return gold, pred, types


def _write_json(data: dict, path: Path) -> None:
    """Write ``data`` as sorted, indented JSON, creating the folder when needed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise DataError(
            f"cannot write the JSON report ({error.strerror or error}); "
            "give --json a path in a writable folder",
            code="E156",
            file=path,
        ) from error


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to ``app``."""
    app.command("evaluate")(evaluate_command)
