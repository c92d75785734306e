"""``spertmt export``: write a checkpoint's encoder as ONNX.

A thin call into :func:`spertmt.runtime.export.export_onnx`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spertmt.cli.options import ModelDir

# Shown in --help without importing torch (spertmt.runtime.export.DEFAULT_OPSET / ONNX_ATOL; a unit
# test keeps them equal).
HELP_OPSET = 17
HELP_ATOL = 1e-4


def export_command(
    model: ModelDir,
    onnx: Annotated[
        Path,
        typer.Option(
            "--onnx",
            help="ONNX file to write (e.g. exported/encoder.onnx), or an existing folder "
            "(gets encoder.onnx).",
        ),
    ],
    opset: Annotated[
        int | None,
        typer.Option("--opset", min=14, help=f"ONNX opset version (default: {HELP_OPSET})."),
    ] = None,
    atol: Annotated[
        float | None,
        typer.Option(
            "--atol",
            min=0.0,
            help="Largest absolute difference allowed between ONNX Runtime and PyTorch hidden "
            f"states in the parity check (default: {HELP_ATOL:g}).",
        ),
    ] = None,
) -> None:
    """Export the encoder to ONNX, checked against PyTorch (the heads stay in the checkpoint)."""
    from spertmt.runtime.export import DEFAULT_OPSET, ONNX_ATOL, export_onnx

    result = export_onnx(
        model,
        onnx,
        opset=DEFAULT_OPSET if opset is None else opset,
        atol=ONNX_ATOL if atol is None else atol,
    )
    typer.echo(
        f"wrote {result.path} (encoder of {result.checkpoint}, opset {result.opset}; "
        f"parity max |diff| {result.max_abs_diff:.1e} <= {result.atol:g}; entity scores "
        f"through the predictor max |diff| {result.score_max_abs_diff:.1e})"
    )
    typer.echo(f"predict with: spertmt predict --model {result.checkpoint} --onnx {result.path} …")


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command("export")(export_command)
