"""``spertmt convert``: convert annotations between formats (one call of ``convert``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

_FORMATS_HELP = "spert, brat, dygie (pure), doccano, label-studio or spacy"


def convert_command(
    input: Annotated[
        Path,
        typer.Argument(metavar="INPUT", help="File to read (brat: a folder, or a .ann/.txt file)."),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="File to write (brat: a folder; spert: .json or .jsonl)."
        ),
    ],
    source: Annotated[
        str, typer.Option("--from", metavar="FMT", help=f"Input format: {_FORMATS_HELP}.")
    ],
    target: Annotated[
        str, typer.Option("--to", metavar="FMT", help=f"Output format: {_FORMATS_HELP}.")
    ] = "spert",
    types: Annotated[
        Path | None,
        typer.Option(
            "--types",
            metavar="FILE",
            help="Types file the data must fit; written as the output's types file.",
        ),
    ] = None,
    types_out: Annotated[
        Path | None,
        typer.Option(
            "--types-out",
            metavar="FILE",
            help="Where a spert output's types file goes (default: OUT's name with _types.json).",
        ),
    ] = None,
    sentences: Annotated[
        str | None,
        typer.Option(
            "--sentences",
            metavar="MODE",
            help="Raw-text input: none (default, whole documents), spacy or newline; "
            "DyGIE input: given (default) or none.",
        ),
    ] = None,
    symmetric: Annotated[
        list[str] | None,
        typer.Option(
            "--symmetric", metavar="TYPE", help="Relation type to declare symmetric (repeatable)."
        ),
    ] = None,
    report_json: Annotated[
        Path | None,
        typer.Option("--report", metavar="FILE", help="Also write the counts as JSON."),
    ] = None,
) -> None:
    """Convert annotations: brat, DyGIE/PURE, doccano, Label Studio, spaCy ⇄ SpERT JSON."""
    from spertmt.data.convert import convert
    from spertmt.data.io import write_text_atomic

    if sentences is not None and sentences not in ("none", "spacy", "newline", "given"):
        raise typer.BadParameter(
            f"{sentences!r}; use none, spacy, newline or given", param_hint="--sentences"
        )
    report = convert(
        input,
        output,
        source=source,
        target=target,
        types=types,
        types_out=types_out,
        sentences=sentences,  # type: ignore[arg-type]
        symmetric=tuple(symmetric or ()),
    )
    for line in report.lines():
        typer.echo(line)
    if report_json is not None:
        text = json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_text_atomic(report_json, text)


def register(app: typer.Typer) -> None:
    """Add ``convert`` to ``app``."""
    app.command("convert")(convert_command)
