"""``spertmt analyze``: classify the errors of predictions against gold (one library call)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import click
import typer


def analyze_command(
    gold: Annotated[Path, typer.Option("--gold", help="Gold documents (SpERT JSON or .jsonl).")],
    pred: Annotated[
        Path, typer.Option("--pred", help="Predictions for the same documents, in the same order.")
    ],
    types: Annotated[
        Path | None,
        typer.Option(
            "--types",
            help="Types file (symmetric relations, type order); default: the types used.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report as a self-contained HTML page."),
    ] = None,
    json_out: Annotated[
        str | None,
        typer.Option("--json", metavar="OUT", help="Write the report as JSON ('-': stdout only)."),
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, help="Example sentences per error kind.")
    ] = 5,
) -> None:
    """Error analysis: entity errors by kind, relation errors by cause, confusion matrices."""
    from spertmt.data.io import write_text_atomic
    from spertmt.evaluation.analysis import analyze_files
    from spertmt.evaluation.analysis_html import render_analysis_html

    if output is None and json_out is None:
        raise click.UsageError("give -o report.html, --json report.json, or both")
    analysis = analyze_files(gold, pred, types, max_examples=examples)
    text = json.dumps(analysis.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if json_out == "-":
        typer.echo(text, nl=False)
    else:
        for line in analysis.summary_lines():
            typer.echo(line)
    if json_out is not None and json_out != "-":
        write_text_atomic(json_out, text)
        typer.echo(f"wrote {json_out}")
    if output is not None:
        write_text_atomic(output, render_analysis_html(analysis))
        if json_out != "-":
            typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add ``analyze`` to ``app``."""
    app.command("analyze")(analyze_command)
