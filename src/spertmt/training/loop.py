"""The epoch loop: batch order, lazily sampled batches, optimiser steps and training callbacks.

One epoch is :func:`epoch_batches` (the run's generator orders the documents into batches),
:meth:`BatchSampler.batches` (each batch's negative samples are drawn from the same generator
just before the batch is used) and :func:`train_epoch` (forward, backward, gradient
accumulation, clipping, optimiser and schedule steps). Drawing in exactly this order is what
makes a run repeat bit for bit under its seed, and a resumed run end as an uninterrupted one.

A run reports what happens to :class:`TrainingCallback` objects: subclass it and override
the events you need. The progress bar and the ``metrics.jsonl`` log are two such callbacks
(:mod:`spertmt.training.callbacks`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spertmt.config import RunConfig, TrainConfig
from spertmt.model.embedding import kept_gradients
from spertmt.runtime.precision import Precision
from spertmt.schema import Document, TypeSchema

if TYPE_CHECKING:
    from spertmt.encoding.features import PreparedDocument
    from spertmt.evaluation.metrics import EvalReport
    from spertmt.training.distributed import ProcessGroup
    from spertmt.training.folder import TrainResult

BUCKET_BATCHES = 50
"""Batches' worth of documents sorted together by length when ``length_bucketing`` is on."""


# ---------------------------------------------------------------------------------- batches


def epoch_batches(
    lengths: Sequence[int],
    *,
    batch_size: int,
    rng: np.random.Generator,
    length_bucketing: bool = False,
    bucket_batches: int = BUCKET_BATCHES,
) -> list[np.ndarray]:
    """Order one epoch's documents into batches, deterministically under ``rng``.

    Without bucketing this is a plain shuffle cut into batches (SpERT). With bucketing the
    shuffled documents are grouped ``bucket_batches`` batches at a time, each group sorted by
    length and cut into batches, and the batch order shuffled: batches hold documents of similar
    length (less padding) while every document is still seen once per epoch.

    Args:
        lengths: Length of each document (sub-word pieces).
        batch_size: Documents per batch.
        rng: The run's generator.
        length_bucketing: Group documents of similar length (default off, as
            :attr:`TrainConfig.length_bucketing`).
        bucket_batches: Batches' worth of documents per sorted group.

    Returns:
        Document indices of each batch.

    Example:
        >>> batches = epoch_batches([5, 1, 4, 2], batch_size=2, rng=np.random.default_rng(0))
        >>> sorted(int(i) for b in batches for i in b)
        [0, 1, 2, 3]

    """
    order = rng.permutation(len(lengths))
    if not length_bucketing:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    sizes = np.asarray(lengths)
    group = batch_size * bucket_batches
    batches: list[np.ndarray] = []
    for begin in range(0, len(order), group):
        chunk = order[begin : begin + group]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass(frozen=True)
class BatchSampler:
    """The training documents, encoded once, and the sampling of their batches.

    Attributes:
        documents: The gold training documents.
        prepared: Their encodings (:func:`~spertmt.encoding.features.prepare_documents`).
        types: The type schema.
        config: The run configuration (``model`` and the ``train`` negative counts).
        pad_id: The tokenizer's padding id.
        device: Where batches go.

    """

    documents: Sequence[Document] = field(repr=False)
    prepared: Sequence[PreparedDocument] = field(repr=False)
    types: TypeSchema
    config: RunConfig
    pad_id: int
    device: torch.device

    @classmethod
    def prepare(
        cls,
        documents: Sequence[Document],
        tokenizer: Any,
        types: TypeSchema,
        config: RunConfig,
        device: torch.device,
    ) -> BatchSampler:
        """Encode the documents with ``tokenizer`` (one call for all of them)."""
        from spertmt.encoding.features import pad_id, prepare_documents

        padding = pad_id(tokenizer)
        prepared = prepare_documents(documents, tokenizer)
        return cls(documents, prepared, types, config, padding, device)

    @property
    def lengths(self) -> list[int]:
        """Sub-word pieces of each document (what :func:`epoch_batches` buckets by)."""
        return [p.num_pieces for p in self.prepared]

    def epoch_order(self, rng: np.random.Generator) -> list[np.ndarray]:
        """One epoch's batches of document indices (:func:`epoch_batches`, as configured)."""
        train = self.config.train
        return epoch_batches(
            self.lengths,
            batch_size=train.batch_size,
            rng=rng,
            length_bucketing=train.length_bucketing,
        )

    def batches(
        self,
        order: Iterable[np.ndarray],
        rng: np.random.Generator,
        *,
        group: ProcessGroup | None = None,
    ) -> Iterator[tuple[Any, Any] | None]:
        """Yield ``(batch, labels)`` on the device for each index array of ``order``.

        Lazily: each batch's negatives are drawn from ``rng`` only when the batch is asked for.
        In a training of several processes (``group``), a batch that another process trains
        on (see :meth:`ProcessGroup.owns`) has its samples drawn but not built, and
        ``None`` stands for it.
        """
        from spertmt.sampling import draw_training_samples, training_batch

        train = self.config.train
        for index, chosen in enumerate(order):
            if group is not None and group.enabled and not group.owns(index):
                draw_training_samples(
                    [self.prepared[i] for i in chosen],
                    [self.documents[i] for i in chosen],
                    self.types,
                    self.config.model,
                    neg_entity_count=train.neg_entity_count,
                    neg_relation_count=train.neg_relation_count,
                    rng=rng,
                )
                yield None
                continue
            batch, labels = training_batch(
                [self.prepared[i] for i in chosen],
                [self.documents[i] for i in chosen],
                self.types,
                self.config.model,
                neg_entity_count=train.neg_entity_count,
                neg_relation_count=train.neg_relation_count,
                rng=rng,
                pad_id=self.pad_id,
            )
            yield batch.to(self.device), labels.to(self.device)


# ---------------------------------------------------------------------------------- callbacks


@dataclass(frozen=True)
class TrainingPlan:
    """What a call of :func:`~spertmt.training.run.train` is about to do.

    Attributes:
        epochs: Epochs of the whole run.
        start_epoch: Epochs already done (0 unless resumed).
        start_step: Optimiser steps already done (0 unless resumed).
        steps_per_epoch: Optimiser steps per epoch (:attr:`total_steps` in all).
        documents: Training documents.
        device: The device trained on, e.g. ``"cpu"``.
        data: What reading each split kept and skipped, keyed by role.
        resumed: Whether the run continues from its checkpoint.
        precision: The arithmetic of the passes (``fp32``, ``bf16``, ``fp16``).
        precision_note: Why ``train.precision = "auto"`` chose it (empty otherwise).
        world_size: Processes training together (``torchrun``; 1 without a launcher).
        global_batch_size: Documents per optimiser step over all processes
            (``batch_size × gradient_accumulation × world_size``); 0 when not given.

    """

    epochs: int
    start_epoch: int
    start_step: int
    steps_per_epoch: int
    documents: int
    device: str
    data: dict[str, str]
    resumed: bool = False
    precision: str = "fp32"
    precision_note: str = ""
    world_size: int = 1
    global_batch_size: int = 0

    @property
    def total_steps(self) -> int:
        """Optimiser steps of the whole run."""
        return self.steps_per_epoch * self.epochs


@dataclass(frozen=True)
class Step:
    """One optimiser step, as callbacks see it.

    Attributes:
        step: Optimiser steps done in the run so far (this one included).
        group_size: Batches accumulated into this step.
        batch_losses: Each of those batches' loss terms (``"total"`` and its parts).
        lr: The learning rate after the schedule's step (of the first parameter group).

    """

    step: int
    group_size: int
    batch_losses: Sequence[Mapping[str, float]]
    lr: float


class TrainingCallback:
    """Receives the events of a training run; every method does nothing unless overridden.

    Pass instances to :func:`~spertmt.training.run.train` (``callbacks=[...]``). Events come
    in this order: :meth:`on_start`; per epoch :meth:`on_epoch_start`, :meth:`on_step` after
    every optimiser step, :meth:`on_evaluation` (dev), :meth:`on_checkpoint`,
    :meth:`on_epoch_end`; then :meth:`on_evaluation` (test) and :meth:`on_end`. :meth:`close`
    comes last, also when training fails. Epochs count from 1.

    Example:
        >>> class Losses(TrainingCallback):
        ...     def __init__(self):
        ...         self.seen = []
        ...
        ...     def on_step(self, step):
        ...         self.seen.append(step.batch_losses[-1]["total"])
    """

    def on_start(self, plan: TrainingPlan) -> None:
        """Before the first epoch of this call (after a resume: of the remaining ones)."""

    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        """Before an epoch of ``num_batches`` batches."""

    def on_step(self, step: Step) -> None:
        """After every optimiser step."""

    def on_evaluation(self, split: str, epoch: int, step: int, report: EvalReport) -> None:
        """After evaluating ``split`` (``"dev"`` during training, ``"test"`` at the end)."""

    def on_checkpoint(self, epoch: int, step: int, path: Path) -> None:
        """After writing the resumable checkpoint at ``path``."""

    def on_epoch_end(self, epoch: int, step: int) -> None:
        """After an epoch, its evaluation and its checkpoint."""

    def on_end(self, result: TrainResult) -> None:
        """After the run folder is complete (``results.json`` written)."""

    def close(self) -> None:
        """Last, also when training fails: release what the callback holds."""


class CallbackList(TrainingCallback):
    """Forwards every event to several callbacks, in order."""

    def __init__(self, callbacks: Iterable[TrainingCallback]) -> None:
        self.callbacks = list(callbacks)

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, event)(*args)

    def on_start(self, plan: TrainingPlan) -> None:
        """Forward to each callback."""
        self._emit("on_start", plan)

    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        """Forward to each callback."""
        self._emit("on_epoch_start", epoch, num_batches)

    def on_step(self, step: Step) -> None:
        """Forward to each callback."""
        self._emit("on_step", step)

    def on_evaluation(self, split: str, epoch: int, step: int, report: EvalReport) -> None:
        """Forward to each callback."""
        self._emit("on_evaluation", split, epoch, step, report)

    def on_checkpoint(self, epoch: int, step: int, path: Path) -> None:
        """Forward to each callback."""
        self._emit("on_checkpoint", epoch, step, path)

    def on_epoch_end(self, epoch: int, step: int) -> None:
        """Forward to each callback."""
        self._emit("on_epoch_end", epoch, step)

    def on_end(self, result: TrainResult) -> None:
        """Forward to each callback."""
        self._emit("on_end", result)

    def close(self) -> None:
        """Forward to each callback."""
        self._emit("close")


# ---------------------------------------------------------------------------------- epoch


def clear_gradients(optimizer: torch.optim.Optimizer, kept: set[int]) -> None:
    """Drop every gradient (``zero_grad(set_to_none=True)``) but zero those in ``kept``.

    ``kept`` holds ``id()`` of parameters whose dense gradient stays allocated between steps
    (:func:`spertmt.model.embedding.kept_gradients`: the word embedding, whose backward then
    adds only the rows a batch used).
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            if id(p) in kept:
                p.grad.detach_().zero_()
            else:
                p.grad = None


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterable[tuple[Any, Any] | None],
    *,
    num_batches: int,
    train: TrainConfig,
    global_step: int,
    callback: TrainingCallback | None = None,
    precision: Precision | None = None,
    scaler: torch.amp.GradScaler | None = None,
    group: ProcessGroup | None = None,
) -> int:
    """One pass over the batches with gradient accumulation; returns the new global step.

    Accumulation groups never cross the epoch end (the last one may be shorter), and each
    batch's loss is divided by the size of its group, so a short group weighs as a full one.
    Under a 16-bit ``precision`` only the forward pass runs in autocast (the weights, their
    gradients and the optimiser stay fp32); with fp16 ``scaler`` scales the loss, and the
    gradients are unscaled before clipping.

    In a training of several processes (``group``, see :mod:`~spertmt.training.distributed`)
    a step takes ``gradient_accumulation × world_size`` batches, ``batches`` yields ``None``
    for those of the other processes, and the gradients are summed over the processes before
    clipping: every process takes the step one process would take with that accumulation.

    Args:
        model: The model (set to training mode).
        optimizer: Its optimiser.
        scheduler: The learning-rate schedule, stepped with the optimiser.
        batches: ``(batch, labels)`` pairs, e.g. :meth:`BatchSampler.batches`.
        num_batches: How many ``batches`` yields (to size the last group).
        train: The ``[train]`` section (``gradient_accumulation``, ``max_grad_norm``).
        global_step: Optimiser steps done before this epoch.
        callback: Told of every optimiser step (:meth:`TrainingCallback.on_step`).
        precision: Autocast of the forward pass (``None``: fp32).
        scaler: Dynamic loss scaling, for fp16 (``None``: none).
        group: The training processes (``None``: this one alone).

    Returns:
        Optimiser steps done after this epoch.

    """
    model.train()
    autocast = precision.autocast if precision is not None else contextlib.nullcontext
    several = group is not None and group.enabled
    world = group.world_size if group is not None and several else 1
    accumulation = train.gradient_accumulation * world
    trained = [p for p in model.parameters() if p.requires_grad] if several else []
    group_losses: list[dict[str, float]] = []
    kept = kept_gradients(model)
    clear_gradients(optimizer, kept)
    for index, item in enumerate(batches):
        group_start = index - index % accumulation
        group_size = min(accumulation, num_batches - group_start)
        if item is not None:
            batch, labels = item
            with autocast():
                output = model(batch, labels)
            loss = output.loss / group_size
            (loss if scaler is None else scaler.scale(loss)).backward()
            group_losses.append(dict(output.loss_terms))
        if index - group_start + 1 < group_size:
            continue
        if several:
            assert group is not None
            group.sum_gradients(trained)
            shared = group.gather(group_losses, "sharing the losses of a step")
            group_losses = [terms for losses in shared for terms in losses]
        if scaler is not None:
            scaler.unscale_(optimizer)
        if train.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train.max_grad_norm)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)  # skipped when the scaled gradients overflowed
            scaler.update()
        scheduler.step()
        clear_gradients(optimizer, kept)
        global_step += 1
        if callback is not None:
            lr = float(scheduler.get_last_lr()[0])
            callback.on_step(Step(global_step, group_size, group_losses, lr))
        group_losses = []
    return global_step
