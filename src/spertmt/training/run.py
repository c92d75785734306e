"""Training: one configuration end to end, from the run folder's checks to the test scores.

:func:`train` reads top to bottom: check the run folder (:mod:`~spertmt.training.folder`),
seed and read the data (:mod:`~spertmt.training.data`), build the model or load it from the
checkpoint (:mod:`~spertmt.training.checkpointing`), set up the optimiser
(:mod:`~spertmt.training.optim`), then per epoch order and sample the batches and train on
them (:mod:`~spertmt.training.loop`), evaluate on dev and checkpoint when due; finally save
the model, evaluate on test and write ``results.json``. Progress and ``metrics.jsonl`` are
callbacks (:mod:`~spertmt.training.callbacks`); pass your own to follow a run.

Optimisation follows SpERT: AdamW (no weight decay on biases and normalisation weights),
linear warm-up over ``warmup_fraction`` of all optimiser steps then linear decay to zero,
gradient clipping, batches of ``batch_size`` documents with fresh negative samples every
epoch. One NumPy generator seeded with ``train.seed`` draws every sample and the batch order;
torch's generator (seeded too) draws initialisation and dropout. A resumed run restores all of
them, so on CPU it ends with exactly the weights of an uninterrupted run (on CUDA, up to the
nondeterminism of some GPU kernels, which makes even two uninterrupted runs differ slightly).
The optimiser is :class:`~spertmt.training.optim.SpertAdamW`, SpERT's own update (no bias
correction, eps 1e-6; both configurable). One SpERT difference remains: the last incomplete
batch of an epoch is kept (SpERT drops it).

Example:
    >>> from spertmt.config import load_config
    >>> config = load_config("configs/spert.toml", overrides=["train.epochs=1"])  # doctest: +SKIP
    >>> result = train(config, output_dir="runs/quick")                            # doctest: +SKIP
    >>> result.test["relation_strict"]["micro"]["f1"]                              # doctest: +SKIP

"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spertmt.config import RunConfig, TrainConfig
from spertmt.runtime.devices import resolve_device
from spertmt.runtime.precision import resolve_precision
from spertmt.schema import Document, TypeSchema
from spertmt.training.callbacks import MetricsLogCallback, ProgressCallback
from spertmt.training.checkpointing import (
    Checkpointer,
    load_or_build_model,
    restore_training_state,
)
from spertmt.training.data import DataSplit, load_run_data
from spertmt.training.distributed import (
    ProcessGroup,
    epoch_seed,
    join_process_group,
    leave_process_group,
    process_device,
)
from spertmt.training.folder import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    MODEL_DIR,
    TEST_PREDICTIONS_FILE,
    TrainResult,
    check_run_folder,
    check_writable,
    run_lock,
    write_results,
    write_run_config,
)
from spertmt.training.loop import (
    BatchSampler,
    CallbackList,
    TrainingCallback,
    TrainingPlan,
    train_epoch,
)
from spertmt.training.optim import build_optimizer, optimizer_steps_per_epoch

if TYPE_CHECKING:
    from spertmt.evaluation.metrics import EvalReport
    from spertmt.model.spert import SpertMTModel


def train(
    config: RunConfig,
    *,
    output_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[TrainingCallback] = (),
    dist_timeout: float | None = None,
) -> TrainResult:
    """Train a model as configured and write the run folder (:mod:`spertmt.training.folder`).

    Started by a launcher such as ``torchrun --nproc-per-node N -m spertmt train ...`` (which
    sets ``WORLD_SIZE``), the N processes train together (see
    :mod:`~spertmt.training.distributed`): ``train.batch_size`` documents per process and
    batch, so ``batch_size × gradient_accumulation × N`` per optimiser step; rank 0 alone logs,
    evaluates and writes the run folder.

    Args:
        config: The validated run configuration.
        output_dir: The run folder; created if needed. A fresh run refuses a folder that
            already holds a run.
        resume: Continue the run in ``output_dir`` from ``output_dir/checkpoint``. The
            configuration must equal the saved one except ``train.epochs``; with the same
            epochs the final weights equal those of an uninterrupted run.
        progress: Show a progress bar with the running loss (on standard error).
        callbacks: More :class:`~spertmt.training.loop.TrainingCallback` objects to tell of
            the run's events, after the metrics log and the progress bar (rank 0 only).
        dist_timeout: With several processes: seconds to wait for the others at the start
            and at every exchange (default
            :data:`~spertmt.training.distributed.DEFAULT_TIMEOUT_S`).

    Returns:
        Where the model is and its dev and test scores.

    Raises:
        CheckpointError: On resume without a checkpoint (E307), with another configuration
            (E310) or changed data (E312); for a fresh run into a used folder (E311).
        ConfigError: For an unusable device or data configuration; E240 for a launch whose
            processes cannot join (rendezvous, world size), E241 when another process died
            or did not answer in time.
        DataError: For missing or invalid data.

    """
    out = Path(output_dir)
    group = join_process_group(resolve_device(config.train.device), timeout_s=dist_timeout)
    try:

        def hold_folder() -> None:
            if resume and not out.is_dir():
                check_run_folder(out, resume=True, config=config)  # E307: nothing to resume
            check_writable(out)  # before any work: a read-only folder fails now

        group.on_main("checking the run folder", hold_folder)
        # One training per folder: rank 0 holds it for all the processes of the run.
        with run_lock(out) if group.is_main else contextlib.nullcontext():
            result = _train_in(
                out, config, resume=resume, progress=progress, callbacks=callbacks, group=group
            )
        # Every process finishes its last collective before any leaves: gloo aborted rank 0
        # (SIGABRT at teardown) once when it left while rank 1 still waited on it.
        group.barrier("the end of training")
        return result
    finally:
        leave_process_group(group)


def _train_in(
    out: Path,
    config: RunConfig,
    *,
    resume: bool,
    progress: bool,
    callbacks: Sequence[TrainingCallback],
    group: ProcessGroup,
) -> TrainResult:
    """The body of :func:`train`, in a run folder this process (or its rank 0) holds."""
    from spertmt.data.io import write_documents

    started = time.perf_counter()
    setup = config.train
    checkpoint_dir = out / CHECKPOINT_DIR
    resume = group.on_main(
        "checking the run folder", lambda: check_run_folder(out, resume=resume, config=config)
    )
    device, rng = _seed(setup)
    device = process_device(device, group)
    precision = resolve_precision(setup.precision, device, key="train.precision")
    scaler = torch.amp.GradScaler(device.type) if precision.needs_loss_scaling else None
    data = load_run_data(config.data)
    fingerprint = data.fingerprint()
    model, tokenizer = load_or_build_model(
        config, data, resume_from=checkpoint_dir if resume else None
    )
    if group.is_main:
        write_run_config(out, config)
    model.to(device)
    group.broadcast_parameters(model)
    sampler = BatchSampler.prepare(data.train.documents, tokenizer, data.types, config, device)
    steps_per_epoch = optimizer_steps_per_epoch(len(sampler.documents), setup, group.world_size)
    optimizer, scheduler = build_optimizer(model, setup, steps_per_epoch * setup.epochs)
    start_epoch, step, dev = 0, 0, None
    if resume:
        start_epoch, step, dev = restore_training_state(
            checkpoint_dir, optimizer=optimizer, scheduler=scheduler, rng=rng, scaler=scaler
        )
    saver = Checkpointer(
        config, fingerprint, data.types, model, tokenizer, optimizer, scheduler, rng, scaler
    )
    bar = [ProgressCallback()] if progress else []
    told = [MetricsLogCallback(out / METRICS_FILE), *bar, *callbacks] if group.is_main else []
    events = CallbackList(told)  # only rank 0 logs
    with closing(events):
        events.on_start(
            TrainingPlan(
                epochs=setup.epochs,
                start_epoch=start_epoch,
                start_step=step,
                steps_per_epoch=steps_per_epoch,
                documents=len(sampler.documents),
                device=str(device),
                data=data.summaries(),
                resumed=resume,
                precision=precision.name,
                precision_note=precision.note,
                world_size=group.world_size,
                global_batch_size=setup.batch_size * setup.gradient_accumulation * group.world_size,
            )
        )
        for epoch in range(start_epoch + 1, setup.epochs + 1):
            order = sampler.epoch_order(rng)
            events.on_epoch_start(epoch, len(order))
            if group.enabled:  # each process its own dropout masks, repeated on resume
                torch.manual_seed(epoch_seed(setup.seed, epoch, group.rank))
            # Lazily: each batch sampled when it is used.
            batches = sampler.batches(order, rng, group=group)
            step = train_epoch(
                model,
                optimizer,
                scheduler,
                batches,
                num_batches=len(order),
                train=setup,
                global_step=step,
                callback=events,
                precision=precision,
                scaler=scaler,
                group=group,
            )
            if data.dev is not None and _due(epoch, setup.eval_every, last=setup.epochs):

                def evaluate_dev(
                    epoch: int = epoch, step: int = step, split: DataSplit = data.dev
                ) -> dict[str, Any]:
                    _, report = predict_and_evaluate(model, tokenizer, split, data.types, config)
                    events.on_evaluation("dev", epoch, step, report)
                    return report.to_dict()

                dev = group.on_main("evaluating on dev data", evaluate_dev)
            if _due(epoch, setup.checkpoint_every):

                def checkpoint(epoch: int = epoch, step: int = step, dev: Any = dev) -> None:
                    saver.save_resumable(checkpoint_dir, epoch=epoch, global_step=step, dev=dev)
                    events.on_checkpoint(epoch, step, checkpoint_dir)

                group.on_main("writing the checkpoint", checkpoint)
            events.on_epoch_end(epoch, step)

        def finish(step: int = step, dev: Any = dev) -> TrainResult:
            model_dir, metrics = out / MODEL_DIR, {"dev": dev}
            saver.save_model(model_dir, epochs=setup.epochs, global_step=step, metrics=metrics)
            if data.test is not None:
                predictions, report = predict_and_evaluate(
                    model, tokenizer, data.test, data.types, config
                )
                metrics["test"] = report.to_dict()
                write_documents(out / TEST_PREDICTIONS_FILE, predictions)
                events.on_evaluation("test", setup.epochs, step, report)
                saver.update_record(
                    model_dir, epochs=setup.epochs, global_step=step, metrics=metrics
                )
            result = TrainResult(
                output_dir=out,
                model_dir=model_dir,
                dev=dev,
                test=metrics.get("test"),
                epochs=setup.epochs,
                wall_time_s=round(time.perf_counter() - started, 3),
            )
            write_results(result)
            events.on_end(result)
            return result

        result = group.on_main("writing the model and the test scores", finish)
    return result


def _seed(train: TrainConfig) -> tuple[torch.device, np.random.Generator]:
    """Set torch's threads, pick the device, seed every generator; return the run's own."""
    if train.threads is not None:
        torch.set_num_threads(train.threads)
    device = resolve_device(train.device)
    random.seed(train.seed)
    torch.manual_seed(train.seed)
    return device, np.random.default_rng(train.seed)


def _due(epoch: int, every: int, last: int | None = None) -> bool:
    """Whether something done every ``every`` epochs (0: never; always after ``last``) is due."""
    return epoch == last or (every > 0 and epoch % every == 0)


def predict_and_evaluate(
    model: SpertMTModel,
    tokenizer: Any,
    split: DataSplit,
    types: TypeSchema,
    config: RunConfig,
) -> tuple[list[Document], EvalReport]:
    """Predict a split with the run's decision rule and score the predictions against it.

    Args:
        model: The model.
        tokenizer: Its tokenizer.
        split: The gold documents.
        types: The type schema scored.
        config: The run configuration (``decision`` and ``eval``).

    Returns:
        The predictions (with scores) and their evaluation.

    """
    from spertmt.evaluation.metrics import evaluate_documents
    from spertmt.inference.predictor import Predictor

    predictor = Predictor(model, tokenizer, config.decision)
    predictions = predictor.predict(split.documents, batch_size=config.eval.batch_size)
    report = evaluate_documents(
        split.documents, predictions, types, no_overlap=config.eval.no_overlap
    )
    return predictions, report
