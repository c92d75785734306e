"""A run's model at its start (built, or loaded for a resume) and the checkpoints it writes.

Every checkpoint carries a training record (``training.json``): the configuration, seed, data
fingerprint, epochs completed, global step and metrics so far. The resumable checkpoint
(``<run>/checkpoint``) adds the optimiser, schedule, loop position and generator states, which
:func:`restore_training_state` puts back; the final model (``<run>/model``) has none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spertmt.config import RunConfig
from spertmt.errors import CheckpointError
from spertmt.model.checkpoint import (
    TRAINER_STATE_FILE,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    write_training_record,
)
from spertmt.schema import TypeSchema
from spertmt.training.data import RunData
from spertmt.training.folder import check_resumable

if TYPE_CHECKING:
    from spertmt.model.spert import SpertMTModel


def load_or_build_model(
    config: RunConfig, data: RunData, *, resume_from: Path | None = None
) -> tuple[SpertMTModel, Any]:
    """Return the model and tokenizer a run starts from.

    Args:
        config: The run configuration.
        data: The run's data (its types build the model; on resume it is checked too).
        resume_from: The checkpoint to continue from, or ``None`` to build a fresh model from
            ``config.model`` (initialised by torch's generator).

    Returns:
        ``(model, tokenizer)``, the model on the CPU.

    Raises:
        CheckpointError: On resume with another configuration (E310), changed data (E312) or
            another types file (E312).

    """
    if resume_from is None:
        from spertmt.encoding.encoders import load_tokenizer
        from spertmt.model.spert import SpertMTModel

        tokenizer = load_tokenizer(config.model.encoder)
        return SpertMTModel.build(config.model, data.types), tokenizer
    checkpoint = load_checkpoint(resume_from)
    check_resumable(config, data, checkpoint.metadata.training or {}, resume_from)
    if checkpoint.types != data.types:
        raise CheckpointError(
            "cannot resume: the types file differs from the checkpoint's types",
            code="E312",
            path=resume_from,
        )
    return checkpoint.model, checkpoint.tokenizer


def restore_training_state(
    checkpoint_dir: Path,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[int, int, dict[str, Any] | None]:
    """Load the optimiser, schedule, generator (and fp16 loss-scale) states in place.

    Returns:
        ``(epochs completed, global step, last dev report or None)``.

    """
    state = load_training_state(checkpoint_dir, optimizer=optimizer, scheduler=scheduler, rng=rng)
    counts: list[int] = []
    for key in ("epoch", "global_step"):
        value = state.get(key)
        if type(value) is not int or value < 0:
            raise _damaged_trainer_state(checkpoint_dir, key, f"{value!r} is not a count")
        counts.append(value)
    dev = state.get("dev")
    if dev is not None and not isinstance(dev, dict):
        raise _damaged_trainer_state(checkpoint_dir, "dev", "not an object")
    if scaler is not None and state.get("grad_scaler"):
        try:
            scaler.load_state_dict(state["grad_scaler"])
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
            raise _damaged_trainer_state(
                checkpoint_dir, "grad_scaler", f"{type(error).__name__}: {error}"
            ) from None
    return counts[0], counts[1], dev


def _damaged_trainer_state(folder: Path, key: str, why: str) -> CheckpointError:
    return CheckpointError(
        f"{TRAINER_STATE_FILE}, field trainer.{key}: missing or malformed ({why}); the "
        "checkpoint cannot be resumed, train again without --resume",
        code="E303",
        path=folder,
    )


@dataclass(frozen=True)
class Checkpointer:
    """Writes a run's checkpoints, each with its training record.

    Attributes:
        config: The run configuration.
        fingerprint: The data fingerprint (:meth:`RunData.fingerprint`), taken at the start.
        types: The type schema.
        model: The model being trained.
        tokenizer: Its tokenizer.
        optimizer: Its optimiser (saved with the resumable checkpoint).
        scheduler: The learning-rate schedule (idem).
        rng: The run's NumPy generator (idem).
        scaler: The fp16 loss scaler, whose state goes into ``trainer_state.json`` (idem).

    """

    config: RunConfig
    fingerprint: dict[str, dict[str, str]]
    types: TypeSchema
    model: SpertMTModel = field(repr=False)
    tokenizer: Any = field(repr=False)
    optimizer: torch.optim.Optimizer = field(repr=False)
    scheduler: torch.optim.lr_scheduler.LRScheduler = field(repr=False)
    rng: np.random.Generator = field(repr=False)
    scaler: torch.amp.GradScaler | None = field(default=None, repr=False)

    def record(self, epochs: int, global_step: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """The training record after ``epochs`` epochs and ``global_step`` optimiser steps."""
        return {
            "config": self.config.to_dict(),
            "seed": self.config.train.seed,
            "data": self.fingerprint,
            "epochs_completed": epochs,
            "global_step": global_step,
            "metrics": metrics,
        }

    def save_resumable(
        self, path: Path, *, epoch: int, global_step: int, dev: dict[str, Any] | None
    ) -> Path:
        """Write the checkpoint a run resumes from, after ``epoch`` epochs (last dev: ``dev``)."""
        return self._save(
            path,
            self.record(epoch, global_step, {"dev": dev}),
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            trainer_state={
                "epoch": epoch,
                "global_step": global_step,
                "dev": dev,
                **({"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
            },
            rng=self.rng,
        )

    def save_model(
        self, path: Path, *, epochs: int, global_step: int, metrics: dict[str, Any]
    ) -> Path:
        """Write the final model (no optimiser state)."""
        return self._save(path, self.record(epochs, global_step, metrics))

    def _save(self, path: Path, training: dict[str, Any], **resume: Any) -> Path:
        return save_checkpoint(
            path,
            self.model,
            self.tokenizer,
            types=self.types,
            model_config=self.config.model,
            rule=self.config.decision,
            training=training,
            **resume,
        )

    def update_record(
        self, path: Path, *, epochs: int, global_step: int, metrics: dict[str, Any]
    ) -> None:
        """Rewrite the training record of the checkpoint at ``path`` (e.g. with test scores)."""
        write_training_record(path, self.record(epochs, global_step, metrics))
