"""Options shared by several commands: the decision rule and the inference runtime.

Declared once here so that ``predict``, ``evaluate`` and ``serve`` spell, check and document
them the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from spertmt.data.datasets import ENV_DATA_DIR

_RULE = "Decision rule (default: the checkpoint's)"


class EntityScoreChoice(str, Enum):
    """``--entity-score`` values."""

    gate = "gate"
    product = "product"


class OverlapChoice(str, Enum):
    """``--entity-overlap`` values."""

    allow = "allow"
    resolve = "resolve"


def _threshold(flag: str, text: str) -> Any:
    return typer.Option(flag, min=0.0, max=1.0, help=text, rich_help_panel=_RULE)


EntityThreshold = Annotated[
    float | None,
    _threshold(
        "--entity-threshold",
        "τ_e (models with a binary entity head, or the IoU head with --entity-score product).",
    ),
]
RelationThreshold = Annotated[
    float | None, _threshold("--relation-threshold", "Relation threshold (SpERT: 0.4).")
]
IouThreshold = Annotated[
    float | None, _threshold("--iou-threshold", "IoU threshold (IoU head, gate rule).")
]
RelationBinaryThreshold = Annotated[
    float | None,
    _threshold("--relation-binary-threshold", "τ_r of the binary pair head (models with it)."),
]
EntityScore = Annotated[
    EntityScoreChoice | None,
    typer.Option(
        "--entity-score",
        help="gate: each head its own threshold; product: p_type·p_entity·IoU ≥ τ_e.",
        rich_help_panel=_RULE,
    ),
]
EntityOverlap = Annotated[
    OverlapChoice | None,
    typer.Option(
        "--entity-overlap",
        help="allow: overlapping entities may all be kept; resolve: only the best of "
        "overlapping entities survives (flat data such as CoNLL04).",
        rich_help_panel=_RULE,
    ),
]

ModelDir = Annotated[Path, typer.Option("--model", "-m", help="Checkpoint folder.")]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help=(
            f"Folder of the built-in datasets (default: ${ENV_DATA_DIR}, else "
            "~/.cache/spertmt/datasets)."
        ),
        show_default=False,
    ),
]

NoOverlap = Annotated[
    bool,
    typer.Option(
        "--no-overlap",
        help="Drop overlapping entities, and relations whose head and tail overlap, from gold "
        "and predictions first (SpERT's --no_overlapping; ADE 'without overlap').",
    ),
]
Device = Annotated[
    str | None,
    typer.Option("--device", help="cpu, cuda or cuda:N (default: CUDA when available)."),
]
Quantize = Annotated[
    bool,
    typer.Option(
        "--quantize",
        help="Run the encoder with int8 dynamic quantisation (CPU only; faster, scores change "
        "slightly); with --precision bf16 (or auto on a CPU with native bf16) its feed-forward "
        "output projections run in bf16, faster still.",
    ),
]
Precision = Annotated[
    str,
    typer.Option(
        "--precision",
        help="fp32; bf16 (CPUs with AMX or AVX512-BF16, bf16 GPUs); fp16 (CUDA); auto (bf16 "
        "where native, else fp32). Weights stay fp32; scores change slightly. With --quantize: "
        "the arithmetic of the layers int8 leaves out.",
    ),
]
Onnx = Annotated[
    Path | None,
    typer.Option(
        "--onnx",
        help="Run the encoder with ONNX Runtime from this export of --model (written by "
        "`spertmt export`; CPU only; needs the onnx extra).",
    ),
]


_DECISION_PARAMETERS = {
    "entity_threshold": EntityThreshold,
    "entity_score": EntityScore,
    "iou_threshold": IouThreshold,
    "entity_overlap": EntityOverlap,
    "relation_threshold": RelationThreshold,
    "relation_binary_threshold": RelationBinaryThreshold,
}


def with_decision_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the six decision-rule options; it receives them as ``decision``.

    The command declares ``decision: dict[str, Any]`` (the options given on the command line,
    unset ones left out) instead of six parameters of its own, so every command spells, checks
    and documents them the same way.
    """
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "decision"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
        for name, kind in _DECISION_PARAMETERS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        decision = {}
        for name in _DECISION_PARAMETERS:
            value = kwargs.pop(name, None)
            if value is not None:
                decision[name] = value.value if isinstance(value, Enum) else value
        return command(*args, decision=decision, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    return wrapper
