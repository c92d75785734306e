"""``spertmt stats`` and ``spertmt download``: parse options, call one library function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spertmt.cli.options import DataDir
from spertmt.data.datasets import DEFAULT_BASE_URL

MAX_LISTED = 20
"""Skipped documents listed one by one before the rest are only counted."""


def stats_command(
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="DATASET_OR_FILE",
            help="conll04, scierc, ade, a split such as conll04:test or ade:3, or a data file.",
        ),
    ],
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            metavar="ENCODER",
            help="Encoder folder, alias (minilm) or Hugging Face id: adds sub-word piece lengths.",
        ),
    ] = None,
    json_out: Annotated[
        str | None,
        typer.Option(
            "--json", metavar="OUT", help="Also write the numbers as JSON ('-': stdout only)."
        ),
    ] = None,
    data_dir: DataDir = None,
    types: Annotated[
        Path | None,
        typer.Option("--types", metavar="FILE", help="Types file (default: the dataset's own)."),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Skip invalid documents (listed) instead of failing."),
    ] = False,
    max_pieces: Annotated[
        int, typer.Option("--max-pieces", min=1, help="Piece limit to count documents over.")
    ] = 512,
) -> None:
    """Show per-split statistics: types, span widths, lengths, nesting and overlap."""
    from rich.console import Console

    from spertmt.data.io import write_text_atomic
    from spertmt.data.stats import dataset_stats

    loaded = None
    if tokenizer is not None:
        from spertmt.encoding.encoders import load_tokenizer

        loaded = load_tokenizer(tokenizer)
    stats = dataset_stats(
        dataset,
        data_dir=data_dir,
        types=types,
        tokenizer=loaded,
        tokenizer_name=tokenizer,
        skip_invalid=skip_invalid,
        max_pieces=max_pieces,
    )
    for split in stats.splits:
        if split.skipped:
            typer.echo(
                f"{split.split}: skipped {len(split.skipped)} invalid documents of {split.path}:",
                err=True,
            )
            for skipped in split.skipped[:MAX_LISTED]:
                typer.echo(f"  {skipped.message}", err=True)
            if len(split.skipped) > MAX_LISTED:
                typer.echo(
                    f"  ... and {len(split.skipped) - MAX_LISTED} more (all in --json)", err=True
                )
        if split.duplicate_entities or split.duplicate_relations:
            typer.echo(
                f"{split.split}: removed {split.duplicate_entities} duplicate entities and "
                f"{split.duplicate_relations} duplicate relations from {split.path}",
                err=True,
            )
    text = json.dumps(stats.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if json_out == "-":
        typer.echo(text, nl=False)
        return
    Console().print(stats.table())
    if json_out is not None:
        write_text_atomic(json_out, text)
        typer.echo(f"wrote {json_out}")


def download_command(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="conll04, scierc, ade, or all of them: all.")
    ],
    data_dir: DataDir = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Server folder with conll04/, scierc/ and ade/.")
    ] = DEFAULT_BASE_URL,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the server.")
    ] = 5.0,
    force: Annotated[
        bool, typer.Option("--force", help="Download again even files that are verified.")
    ] = False,
) -> None:
    """Download SpERT's preprocessed files of a dataset and verify their SHA-256."""
    from spertmt.data.datasets import download

    result = download(
        name,
        data_dir=data_dir,
        base_url=base_url,
        timeout=timeout,
        force=force,
        on_file=lambda rel: typer.echo(f"downloading {rel}", err=True),
    )
    typer.echo(
        f"{name}: {len(result.downloaded)} files downloaded, {len(result.present)} already "
        f"present, all verified, in {result.data_dir}"
    )


def register(app: typer.Typer) -> None:
    """Add ``stats`` and ``download`` to ``app``."""
    app.command("stats")(stats_command)
    app.command("download")(download_command)
