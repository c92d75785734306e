"""``spertmt evaluate``: score predictions against gold data with the SpERT-compatible evaluator.

Two modes, one report:

- ``--gold FILE --pred FILE --types FILE`` scores a predictions file
  (:func:`spertmt.evaluation.metrics.evaluate_files`);
- ``--model DIR --data DATASET[:split]`` predicts with a checkpoint and scores it
  (:func:`spertmt.inference.files.evaluate_checkpoint`).

Both print the Rich tables and optionally write the report as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from spertmt.cli.options import (
    DataDir,
    Device,
    NoOverlap,
    Onnx,
    Precision,
    Quantize,
    with_decision_options,
)
from spertmt.errors import DataError


@with_decision_options
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
    no_overlap: NoOverlap = False,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the report to this JSON file."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Checkpoint folder to score (instead of --pred)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="With --model: dataset and split (conll04:test, ade:3:test) or a SpERT JSON file.",
        ),
    ] = None,
    data_dir: DataDir = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="With --model: documents per forward pass.")
    ] = 32,
    device: Device = None,
    quantize: Quantize = False,
    onnx: Onnx = None,
    precision: Precision = "fp32",
    decision: dict[str, Any] | None = None,
) -> None:
    """Score predictions: entities, relations (boundaries and strict), micro and macro F1."""
    from rich.console import Console

    if model is not None or data is not None:
        if model is None or data is None or gold is not None or pred is not None:
            raise click.UsageError(
                "checkpoint mode takes --model DIR and --data DATASET[:split] "
                "(and neither --gold nor --pred)"
            )
        from spertmt.inference.files import evaluate_checkpoint

        report = evaluate_checkpoint(
            model,
            data,
            data_dir=data_dir,
            no_overlap=no_overlap,
            batch_size=batch_size,
            device=device,
            quantize=quantize,
            onnx=onnx,
            decision=decision,
            progress=True,
            precision=precision,
        )
    else:
        if quantize or onnx is not None or decision or precision != "fp32":
            raise click.UsageError(
                "--quantize, --onnx, --precision and the decision-rule options go with --model "
                "(checkpoint mode)"
            )
        from spertmt.evaluation.metrics import evaluate_files

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
            "against gold data, or --model and --data to score a checkpoint"
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
