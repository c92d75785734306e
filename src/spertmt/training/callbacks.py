"""The two callbacks every run has: a progress bar and the ``metrics.jsonl`` log.

:class:`MetricsLogCallback` writes one line per event: ``start`` (or ``resume``), ``train``
every :data:`LOG_EVERY_STEPS` optimiser steps with the mean loss terms of the batches since the
previous ``train`` line of the epoch, ``eval`` per evaluation, ``checkpoint`` and ``end``.
:class:`ProgressCallback` shows one bar per epoch with the same running loss (on standard
error) and prints the evaluation tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spertmt.training.folder import MetricsLog, TrainResult
from spertmt.training.loop import Step, TrainingCallback, TrainingPlan

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from spertmt.evaluation.metrics import EvalReport

LOG_EVERY_STEPS = 10
"""Optimiser steps between two loss lines in ``metrics.jsonl``."""


class LossWindow:
    """The loss terms of the batches since the last ``train`` log line of the epoch.

    Both callbacks keep one: it restarts with every epoch and after every
    ``every``-th optimiser step.
    """

    def __init__(self, every: int | None = None) -> None:
        self.every = LOG_EVERY_STEPS if every is None else every
        self._losses: list[Mapping[str, float]] = []

    def clear(self) -> None:
        """Start an empty window."""
        self._losses = []

    def add(self, batch_losses: Iterable[Mapping[str, float]]) -> dict[str, float]:
        """Add a step's batches; return the mean of each term of the last batch over the window."""
        self._losses.extend(batch_losses)
        window = self._losses
        return {
            name: float(np.mean([terms[name] for terms in window if name in terms]))
            for name in window[-1]
        }

    def due(self, step: int) -> bool:
        """Whether ``step`` closes the window (a log line); clears it if so."""
        if step % self.every:
            return False
        self.clear()
        return True


class MetricsLogCallback(TrainingCallback):
    """Appends the run's events to ``metrics.jsonl`` (see the module docstring).

    Args:
        path: The log file (appended to, so a resumed run continues it).
        every: Optimiser steps between loss lines (default :data:`LOG_EVERY_STEPS`).

    """

    def __init__(self, path: Path, *, every: int | None = None) -> None:
        self.log = MetricsLog(path)
        self.window = LossWindow(every)
        self.epoch = 0

    def on_start(self, plan: TrainingPlan) -> None:
        """Write ``start`` (data summaries, sizes, device) or ``resume`` (epoch, step).

        With several processes both also say the world size and the global batch size.
        """
        precision: dict[str, Any] = {"precision": plan.precision}
        if plan.precision_note:
            precision["precision_note"] = plan.precision_note
        if plan.world_size > 1:  # one process writes the log, for all of them
            precision["world_size"] = plan.world_size
            precision["global_batch_size"] = plan.global_batch_size
        if plan.resumed:
            self.log.write("resume", epoch=plan.start_epoch, step=plan.start_step, **precision)
        else:
            self.log.write(
                "start",
                data=plan.data,
                documents=plan.documents,
                steps_per_epoch=plan.steps_per_epoch,
                total_steps=plan.total_steps,
                device=plan.device,
                **precision,
            )

    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        """Restart the loss window."""
        self.epoch = epoch
        self.window.clear()

    def on_step(self, step: Step) -> None:
        """Write ``train`` (lr, mean loss terms of the window) every ``every`` steps."""
        mean = self.window.add(step.batch_losses)
        if self.window.due(step.step):
            self.log.write(
                "train",
                epoch=self.epoch,
                step=step.step,
                lr=step.lr,
                loss=mean.get("total"),
                loss_terms=mean,
            )

    def on_evaluation(self, split: str, epoch: int, step: int, report: EvalReport) -> None:
        """Write ``eval`` with the report."""
        self.log.write("eval", split=split, epoch=epoch, step=step, report=report.to_dict())

    def on_checkpoint(self, epoch: int, step: int, path: Path) -> None:
        """Write ``checkpoint`` with its folder."""
        self.log.write("checkpoint", epoch=epoch, step=step, path=str(path))

    def on_end(self, result: TrainResult) -> None:
        """Write ``end`` with the run's wall time."""
        self.log.write("end", wall_time_s=result.wall_time_s)


class ProgressCallback(TrainingCallback):
    """A rich progress bar per epoch with the running loss, and the evaluation tables.

    Args:
        every: Optimiser steps after which the running loss restarts (as the log's window).

    """

    def __init__(self, *, every: int | None = None) -> None:
        self.window = LossWindow(every)
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.epochs = 0
        self.live = False

    def on_start(self, plan: TrainingPlan) -> None:
        """Start the display."""
        self.epochs = plan.epochs
        self.bar = _progress_bar()
        self.bar.start()
        self.live = True
        if plan.precision_note:
            self.bar.console.print(plan.precision_note)
        if plan.world_size > 1:
            self.bar.console.print(
                f"training on {plan.world_size} processes (world size {plan.world_size}): "
                f"{plan.global_batch_size} documents per optimiser step, "
                f"{plan.total_steps} steps in all"
            )
        if plan.start_epoch >= plan.epochs:  # a resume with no epoch left
            self.close()

    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        """Add the epoch's bar."""
        self.window.clear()
        if self.bar is not None:
            self.task = self.bar.add_task(
                f"epoch {epoch}/{self.epochs}", total=num_batches, loss="-"
            )

    def on_step(self, step: Step) -> None:
        """Advance the bar; show the mean total loss of the window."""
        mean = self.window.add(step.batch_losses)
        self.window.due(step.step)
        if self.bar is not None and self.task is not None:
            loss = f"{mean.get('total', 0.0):.4f}"
            self.bar.update(self.task, advance=step.group_size, loss=loss)

    def on_evaluation(self, split: str, epoch: int, step: int, report: EvalReport) -> None:
        """Print the report's table."""
        # Dev is evaluated after epochs, test once after the last one.
        console = self.bar.console if self.bar is not None else _console()
        console.print("test" if split == "test" else f"epoch {epoch}: {split}")
        console.print(report.table())

    def on_epoch_end(self, epoch: int, step: int) -> None:
        """Stop the display after the last epoch."""
        if epoch == self.epochs:
            self.close()  # the bars stay above what follows (the test table)

    def close(self) -> None:
        """Stop the display."""
        if self.bar is not None and self.live:
            self.bar.stop()
            self.live = False


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _progress_bar() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console(),
    )
