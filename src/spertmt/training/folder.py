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

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
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
logger = logging.getLogger(__name__)

LOCK_FILE = ".spertmt.lock"
"""Held (advisory lock) by the process that trains in the folder."""
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


def cannot_write(folder: Path, error: OSError) -> CheckpointError:
    """The one-line error for a run folder that cannot be written (read-only, disk full)."""
    return CheckpointError(
        f"cannot write the run ({error.strerror or error}); choose a writable --output folder "
        "with free space",
        code="E315",
        path=folder,
    )


def check_writable(output_dir: Path) -> None:
    """Create the run folder and prove it takes a file, before any work is done.

    Raises:
        CheckpointError: E315 for a folder that cannot be created or written.
    """
    probe = output_dir / ".spertmt-write-check"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        raise cannot_write(output_dir, error) from None


def write_json(path: Path, data: Any) -> None:
    """Write sorted, indented JSON through a staging file (a crash leaves the old file).

    Raises:
        CheckpointError: E315 when the folder cannot be written (read-only, disk full).
    """
    staging = path.with_name(f".{path.name}.tmp")
    try:
        staging.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        staging.replace(path)
    except BaseException as error:  # a Ctrl-C or SIGTERM half-way leaves no temporary either
        staging.unlink(missing_ok=True)
        if not isinstance(error, OSError):
            raise
        raise cannot_write(path.parent, error) from None


def read_run_config(output_dir: Path) -> dict[str, Any]:
    """The run folder's ``config.json`` as saved.

    Raises:
        CheckpointError: E314 when it cannot be read or is not a JSON object.
    """
    path = output_dir / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise CheckpointError(
            f"the run's {CONFIG_FILE} cannot be read ({error}); restore it, or start a new run "
            "in another folder",
            code="E314",
            path=output_dir,
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"the run's {CONFIG_FILE} is not a JSON object of sections; restore it, or start a "
            "new run in another folder",
            code="E314",
            path=output_dir,
        )
    return data


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
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError as error:
            raise cannot_write(self.path.parent, error) from None


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
        CheckpointError: E307 if the folder holds no ``config.json``, E314 if it is damaged.
        ConfigError: If the saved configuration or an override is invalid.

    """
    path = Path(output_dir) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"holds no {CONFIG_FILE}, so there is no run to resume; check --output",
            code="E307",
            path=Path(output_dir),
        )
    saved = _flatten(migrate_run_dict(read_run_config(Path(output_dir))))
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


def recover_interrupted_writes(output_dir: Path, *, restore: bool = True) -> list[Path]:
    """Undo checkpoint writes that a kill interrupted, and remove their temporaries.

    A checkpoint is written under ``.<name>.tmp-*`` and swapped in through ``.<name>.old-*``
    (:func:`spertmt.model.checkpoint.save_checkpoint`). A kill during the swap can leave the
    previous checkpoint only under its ``.old-*`` name: the newest complete one is renamed
    back (with ``restore``: for a run that resumes). A write that had not finished is
    discarded (the epoch is trained again). Call it only on a run folder this process holds
    (:func:`run_lock`).

    Args:
        output_dir: The run folder.
        restore: Put the previous checkpoint back; ``False`` only deletes temporaries.

    Returns:
        The temporaries that were deleted.

    Raises:
        CheckpointError: E315 when the folder cannot be changed.
    """
    import shutil

    from spertmt.model.checkpoint import CONFIG_FILE as CHECKPOINT_CONFIG

    removed = []
    try:
        for name in (CHECKPOINT_DIR, MODEL_DIR):
            target = output_dir / name
            olds = list(output_dir.glob(f".{name}.old-*"))
            complete = [p for p in olds if (p / CHECKPOINT_CONFIG).is_file()]
            if restore and complete and not target.exists():
                newest = max(complete, key=lambda p: p.stat().st_mtime)
                newest.rename(target)
                olds.remove(newest)
            for stale in [*output_dir.glob(f".{name}.tmp-*"), *olds]:
                shutil.rmtree(stale, ignore_errors=True)
                removed.append(stale)
    except OSError as error:
        raise cannot_write(output_dir, error) from None
    return removed


@contextlib.contextmanager
def run_lock(output_dir: Path) -> Iterator[None]:
    """Hold the run folder for one training process (an advisory lock, where the OS has one).

    A second ``spertmt train`` into the same folder while one runs would take its checkpoint
    temporaries for leftovers; it stops at once instead.

    Raises:
        CheckpointError: E316 when another process trains in the folder.
    """
    if not output_dir.is_dir():
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    try:
        handle = open(output_dir / LOCK_FILE, "a")  # noqa: SIM115 - held until the run ends
    except OSError as error:
        raise cannot_write(output_dir, error) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                "another spertmt process is training in this folder; wait for it to end, or "
                "choose another --output",
                code="E316",
                path=output_dir,
            ) from None
        except OSError as error:  # ENOLCK, ENOSYS: a file system without locks (some NFS)
            logger.warning(
                "cannot lock %s (%s): training goes on without the guard against a second "
                "process in the same folder",
                output_dir,
                error.strerror,
            )
        yield
    finally:
        handle.close()  # releases the lock


def check_run_folder(output_dir: Path, *, resume: bool, config: RunConfig) -> bool:
    """Decide whether a run continues from its checkpoint, and refuse what cannot work.

    A run stopped before its first checkpoint has nothing to continue from: with ``resume``
    it starts over in its folder (when the folder's ``config.json`` is this configuration).
    Interrupted checkpoint writes are undone first (:func:`recover_interrupted_writes`), on
    resume and for a fresh run into a folder without a run.

    Args:
        output_dir: The run folder.
        resume: Whether the caller asked to continue the run.
        config: The configuration of this call.

    Returns:
        ``True`` to continue from ``checkpoint/``, ``False`` to start from the beginning.

    Raises:
        CheckpointError: E307 on resume when the folder holds no run; E310 on resume of a run
            stopped before its first checkpoint with another configuration; E311 for a fresh
            run when the folder holds ``config.json``, ``checkpoint/`` or ``model/``; E315
            when the folder cannot be changed.

    """
    run_files = [output_dir / name for name in (CONFIG_FILE, CHECKPOINT_DIR, MODEL_DIR)]
    started = (output_dir / CONFIG_FILE).is_file()
    finished = (output_dir / MODEL_DIR).exists()
    if not resume and any(path.exists() for path in run_files):
        restartable = started and not finished
        checkpoint_dir = output_dir / CHECKPOINT_DIR
        if restartable and not (checkpoint_dir / TRAINING_FILE).is_file():
            hint = " (stopped before its first checkpoint, it starts over)"
        else:
            hint = ""
        raise CheckpointError(
            f"already holds a training run; continue it with resume (--resume{hint}) or "
            "choose another output folder",
            code="E311",
            path=output_dir,
        )
    if output_dir.is_dir():
        recover_interrupted_writes(output_dir, restore=resume)
    checkpoint_dir = output_dir / CHECKPOINT_DIR
    if resume and not (checkpoint_dir / TRAINING_FILE).is_file():
        if not started or finished:
            raise CheckpointError(
                f"cannot resume: {checkpoint_dir} holds no resumable checkpoint and the folder "
                "holds no stopped run; start the run without --resume (or check --output)",
                code="E307",
                path=output_dir,
            )
        saved = read_run_config(output_dir)
        _refuse_other_config(saved, config, output_dir, "the run folder's config.json")
        try:
            (output_dir / METRICS_FILE).unlink(missing_ok=True)  # lines of a lost attempt
        except OSError as error:
            raise cannot_write(output_dir, error) from None
        return False
    return resume


def _refuse_other_config(saved: dict[str, Any], config: RunConfig, folder: Path, what: str) -> None:
    """E310 unless ``saved`` is ``config`` but for ``train.epochs`` (0.1 layouts migrated)."""
    before = _flatten(migrate_run_dict(saved))
    current = _flatten(config.to_dict())
    changed = sorted(
        key
        for key in before.keys() | current.keys()
        if key != "train.epochs" and before.get(key) != current.get(key)
    )
    if changed:
        details = ", ".join(
            f"{k} (saved {before.get(k)!r}, now {current.get(k)!r})" for k in changed
        )
        raise CheckpointError(
            f"cannot resume: the configuration differs from {what} in {details}; only "
            "train.epochs may change. Resume with the run's config.json or start a new run",
            code="E310",
            path=folder,
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
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("config"), dict)
        or not isinstance(record.get("data"), dict)
        or not all(isinstance(v, dict) for v in record["data"].values())
    ):
        raise CheckpointError(
            "training.json is malformed: it must be an object whose config and data are "
            "objects (the run's configuration and its data files' SHA-256); without them the "
            "checkpoint cannot be checked against this run, train again without --resume",
            code="E303",
            path=folder,
        )
    _refuse_other_config(record["config"], config, folder, "the checkpoint's")
    saved_data = record["data"]
    for role, entry in data.fingerprint().items():
        before = saved_data.get(role, {}).get("sha256")
        if not isinstance(before, str):
            raise CheckpointError(
                f"training.json, field data.{role}.sha256: missing or not a string, so the "
                f"{role} data cannot be checked against the checkpoint; train again without "
                "--resume",
                code="E303",
                path=folder,
            )
        if before != entry["sha256"]:
            raise CheckpointError(
                f"cannot resume: the {role} data {entry['file']} changed since the checkpoint "
                "was written (SHA-256 differs); restore the original file or start a new run",
                code="E312",
                path=folder,
            )
