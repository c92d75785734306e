"""The run folder: what a training run writes, and the checks that guard it.

:func:`~spertmt.training.run.train` runs one configuration (:class:`~spertmt.config.RunConfig`)
end to end and writes everything into one run folder::

    <output_dir>/config.json            resolved configuration (sorted JSON), written first
    <output_dir>/metrics.jsonl          one JSON object per line: step losses, evaluations
    <output_dir>/checkpoint/            resumable checkpoint (every ``train.checkpoint_every``)
    <output_dir>/model/                 the final model (no optimizer state)
    <output_dir>/predictions_test.json  test predictions with scores (when a test split is set)
    <output_dir>/results.json           the :class:`TrainResult` as JSON

A fresh run refuses a folder that already holds a run (E311); a resume needs the folder's
checkpoint (E307) and the configuration (except ``train.epochs``) and data it was written with
(E310, E312). :func:`load_run_config` reads a folder's configuration back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spertmt.config import RunConfig, load_config, migrate_run_dict
from spertmt.errors import CheckpointError
from spertmt.model.checkpoint import TRAINING_FILE

if TYPE_CHECKING:
    from spertmt.training.data import RunData

CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
TEST_PREDICTIONS_FILE = "predictions_test.json"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        output_dir: The run folder.
        model_dir: The final model folder (``<output_dir>/model``).
        dev: Final dev evaluation (``EvalReport.to_dict()``), or ``None`` without dev data.
        test: Test evaluation, or ``None`` without test data.
        epochs: Epochs trained in total (including those before a resume).
        wall_time_s: Seconds this call took.

    """

    output_dir: Path
    model_dir: Path
    dev: dict[str, Any] | None
    test: dict[str, Any] | None
    epochs: int
    wall_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (paths as strings)."""
        return {
            "output_dir": str(self.output_dir),
            "model_dir": str(self.model_dir),
            "dev": self.dev,
            "test": self.test,
            "epochs": self.epochs,
            "wall_time_s": self.wall_time_s,
        }


# ---------------------------------------------------------------------------------- files


def write_json(path: Path, data: Any) -> None:
    """Write sorted, indented JSON through a staging file (a crash leaves the old file)."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    staging.replace(path)


def write_run_config(output_dir: Path, config: RunConfig) -> None:
    """Create the run folder if needed and write its ``config.json``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / CONFIG_FILE, config.to_dict())


def write_results(result: TrainResult) -> None:
    """Write ``results.json`` into the result's run folder."""
    write_json(result.output_dir / RESULTS_FILE, result.to_dict())


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (flushed, so a crash keeps it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, event: str, **values: Any) -> None:
        """Append one line: the event, the time (Unix seconds) and the values, keys sorted."""
        record = {"event": event, "time": round(time.time(), 3), **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------- run config


def load_run_config(output_dir: str | Path, *, overrides: Sequence[str] = ()) -> RunConfig:
    """Return the configuration a run folder was trained with, plus overrides.

    This is what ``spertmt train --output RUN --resume`` uses when no config file is given.

    Args:
        output_dir: The run folder (holding ``config.json``).
        overrides: Dotted assignments applied on top (e.g. ``"train.epochs=30"``).

    Returns:
        The validated configuration.

    Raises:
        CheckpointError: E307 if the folder holds no ``config.json``.
        ConfigError: If the saved configuration or an override is invalid.

    """
    path = Path(output_dir) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"holds no {CONFIG_FILE}, so there is no run to resume; check --output",
            code="E307",
            path=Path(output_dir),
        )
    saved = _flatten(migrate_run_dict(json.loads(path.read_text(encoding="utf-8"))))
    # JSON literals are TOML literals for strings, numbers and booleans; null becomes "none",
    # which optional fields read as None.
    assignments = [f"{k}={'none' if v is None else json.dumps(v)}" for k, v in saved.items()]
    return load_config(None, overrides=[*assignments, *overrides])


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


# ---------------------------------------------------------------------------------- checks


def check_run_folder(output_dir: Path, *, resume: bool) -> None:
    """Refuse a resume without a checkpoint, and a fresh run into a folder holding a run.

    Raises:
        CheckpointError: E307 on resume without ``checkpoint/training.json``; E311 for a fresh
            run when the folder holds ``config.json``, ``checkpoint/`` or ``model/``.

    """
    checkpoint_dir = output_dir / CHECKPOINT_DIR
    if resume and not (checkpoint_dir / TRAINING_FILE).is_file():
        raise CheckpointError(
            f"cannot resume: {checkpoint_dir} holds no resumable checkpoint; start the run "
            "without --resume (or check --output)",
            code="E307",
            path=output_dir,
        )
    if not resume and any(
        (output_dir / name).exists() for name in (CONFIG_FILE, CHECKPOINT_DIR, MODEL_DIR)
    ):
        raise CheckpointError(
            "already holds a training run; continue it with resume (--resume) or choose "
            "another output folder",
            code="E311",
            path=output_dir,
        )


def check_resumable(config: RunConfig, data: RunData, record: dict[str, Any], folder: Path) -> None:
    """Refuse to resume with another configuration (except ``train.epochs``) or other data.

    Args:
        config: The configuration of this call.
        data: The data of this call.
        record: The checkpoint's training record (``training.json``).
        folder: The checkpoint folder (named in errors).

    Raises:
        CheckpointError: E310 for another configuration, E312 for changed data files.

    """
    saved = _flatten(migrate_run_dict(record.get("config", {})))
    current = _flatten(config.to_dict())
    changed = sorted(
        key
        for key in saved.keys() | current.keys()
        if key != "train.epochs" and saved.get(key) != current.get(key)
    )
    if changed:
        details = ", ".join(
            f"{k} (saved {saved.get(k)!r}, now {current.get(k)!r})" for k in changed
        )
        raise CheckpointError(
            f"cannot resume: the configuration differs from the checkpoint's in {details}; "
            "only train.epochs may change. Resume with the run's config.json or start a new run",
            code="E310",
            path=folder,
        )
    saved_data = record.get("data", {})
    for role, entry in data.fingerprint().items():
        before = saved_data.get(role, {}).get("sha256")
        if before is not None and before != entry["sha256"]:
            raise CheckpointError(
                f"cannot resume: the {role} data {entry['file']} changed since the checkpoint "
                "was written (SHA-256 differs); restore the original file or start a new run",
                code="E312",
                path=folder,
            )
