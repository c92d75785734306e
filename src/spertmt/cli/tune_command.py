"""``spertmt tune``: choose a decision rule on dev data (:mod:`spertmt.inference.tuning`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from spertmt.cli.options import DataDir, Device, ModelDir, NoOverlap
from spertmt.errors import ConfigError, DataError


def tune_command(
    model: ModelDir,
    data: Annotated[
        str,
        typer.Option(
            "--data", help="Development split (conll04:dev, ade:3:dev) or a SpERT JSON file."
        ),
    ],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            metavar="FIELD=V1,V2",
            help="Decision-rule field and values to try (repeatable; all combinations). "
            "Default: relation_threshold, entity_overlap and the thresholds of the model's heads.",
        ),
    ] = None,
    metric: Annotated[
        str,
        typer.Option("--metric", help="What to maximise (spertmt.inference.tuning.METRICS)."),
    ] = "relation_strict_micro_f1",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every row and the best as JSON.")
    ] = None,
    data_dir: DataDir = None,
    no_overlap: NoOverlap = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Documents per forward pass.")
    ] = 32,
    device: Device = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the best row.")] = False,
) -> None:
    """Choose the decision rule on dev data: every grid setting, one encoder pass."""
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents
    from spertmt.inference.api import SpertMT
    from spertmt.inference.tuning import default_grid, parse_grid, tune_rule
    from spertmt.model.checkpoint import checkpoint_types_file

    spec = data.strip()
    _refuse_test(spec.rsplit(":", 1)[-1] if ":" in spec else Path(spec).stem)
    chosen = parse_grid(grid) if grid else None
    resolved = resolve_dataset(data, data_dir=data_dir, types=checkpoint_types_file(model))
    _refuse_test(resolved.path.stem)  # whatever the spelling, the file it names; before loading
    loaded = SpertMT.from_pretrained(model, device=device)
    gold = read_documents(resolved.path, types=loaded.types)

    def show(row) -> None:
        if not quiet:
            typer.echo(json.dumps({**row.setting, metric: row.scores[metric]}), err=True)

    grid_used = chosen or default_grid(loaded.config)
    settings = math.prod(len(values) for values in grid_used.values())
    if not quiet:
        typer.echo(
            f"encoding {len(gold)} documents of {data} once, then scoring {settings} settings",
            err=True,
        )
    result = tune_rule(
        loaded.predictor,
        gold,
        grid_used,
        metric=metric,
        batch_size=batch_size,
        no_overlap=no_overlap,
        on_row=show,
    )
    best = result.best
    typer.echo(
        f"best of {len(result.rows)} settings on {data}: {metric} {best.scores[metric]:.2f} "
        f"(entity micro F1 {best.scores['entity_micro_f1']:.2f}) with "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in best.setting.items())
    )
    if json_out is not None:
        record = {"model": str(model), "data": data, **result.to_dict()}
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(record, sort_keys=True, indent=2) + "\n", "utf-8")
        except OSError as error:
            raise DataError(
                f"cannot write the tuning record ({error.strerror or error})",
                code="E156",
                file=json_out,
            ) from error
        typer.echo(f"wrote {json_out}")


def register(app: typer.Typer) -> None:
    """Add ``tune`` to ``app``."""
    app.command("tune")(tune_command)


def _refuse_test(split: str) -> None:
    """E213 for a test split (``test``, ``TEST``, ``conll04_test``): tuning is done on dev."""
    split = split.lower()
    if split == "test" or split.endswith(("_test", "-test", ".test")):
        raise ConfigError(
            "the decision rule is chosen on dev data, never on test: pass a dev split "
            "(e.g. conll04:dev)",
            code="E213",
            key="--data",
        )
