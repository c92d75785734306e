"""Training on top of the stages: the run, its epoch loop, optimiser, callbacks and checkpoints.

- :mod:`~spertmt.training.run`: :func:`train`, one configuration end to end.
- :mod:`~spertmt.training.folder`: the run folder (its files, :func:`load_run_config`,
  the fresh-run and resume checks, ``metrics.jsonl``, ``results.json``).
- :mod:`~spertmt.training.data`: :func:`load_run_data`, the run's types and splits.
- :mod:`~spertmt.training.optim`: :class:`SpertAdamW`, :func:`optimizer_groups`, the schedule.
- :mod:`~spertmt.training.loop`: :func:`epoch_batches`, :func:`train_epoch` and the
  :class:`TrainingCallback` events.
- :mod:`~spertmt.training.callbacks`: the progress bar and the metrics log.
- :mod:`~spertmt.training.checkpointing`: the model at the start, resumable checkpoints.
- :mod:`~spertmt.training.distributed`: several processes under ``torchrun``.
"""

from spertmt.training.callbacks import MetricsLogCallback, ProgressCallback
from spertmt.training.data import DataSplit, RunData, load_run_data
from spertmt.training.folder import TrainResult, load_run_config
from spertmt.training.loop import (
    BatchSampler,
    Step,
    TrainingCallback,
    TrainingPlan,
    epoch_batches,
    train_epoch,
)
from spertmt.training.optim import (
    SpertAdamW,
    build_optimizer,
    optimizer_groups,
    optimizer_steps_per_epoch,
)
from spertmt.training.run import predict_and_evaluate, train

__all__ = [
    "BatchSampler",
    "DataSplit",
    "MetricsLogCallback",
    "ProgressCallback",
    "RunData",
    "SpertAdamW",
    "TrainResult",
    "Step",
    "TrainingCallback",
    "TrainingPlan",
    "build_optimizer",
    "epoch_batches",
    "load_run_config",
    "load_run_data",
    "optimizer_groups",
    "optimizer_steps_per_epoch",
    "predict_and_evaluate",
    "train",
    "train_epoch",
]
