"""Training: seeding, data, AdamW with linear warm-up, epochs, evaluation, checkpoints, resume.

:func:`train` runs one configuration (:class:`~spertmt.config.RunConfig`) end to end and
writes everything into one run folder::

    <output_dir>/config.json            resolved configuration (sorted JSON), written first
    <output_dir>/metrics.jsonl          one JSON object per line: step losses, evaluations
    <output_dir>/checkpoint/            resumable checkpoint (every ``train.checkpoint_every``)
    <output_dir>/model/                 the final model (no optimizer state)
    <output_dir>/predictions_test.json  test predictions with scores (when a test split is set)
    <output_dir>/results.json           the :class:`TrainResult` as JSON

Optimisation follows SpERT: AdamW (no weight decay on biases and normalisation weights),
linear warm-up over ``warmup_fraction`` of all optimiser steps then linear decay to zero,
gradient clipping, batches of ``batch_size`` documents with fresh negative samples every
epoch. One NumPy generator seeded with ``train.seed`` draws every sample and the batch order;
torch's generator (seeded too) draws initialisation and dropout. A resumed run restores all of
them, so on CPU it ends with exactly the weights of an uninterrupted run (on CUDA, up to the
nondeterminism of some GPU kernels, which makes even two uninterrupted runs differ slightly).
The optimiser is :class:`~spertmt.optim.SpertAdamW`, SpERT's own update (no bias correction,
eps 1e-6; both configurable). One SpERT difference remains: the last incomplete batch of an
epoch is kept (SpERT drops it).

Example:
    >>> from spertmt.config import load_config
    >>> config = load_config("configs/spert.toml", overrides=["train.epochs=1"])  # doctest: +SKIP
    >>> result = train(config, output_dir="runs/quick")                            # doctest: +SKIP
    >>> result.test["relation_strict"]["micro"]["f1"]                              # doctest: +SKIP

"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spertmt.checkpoint import (
    TRAINING_FILE,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    write_training_record,
)
from spertmt.config import DataConfig, RunConfig, TrainConfig, load_config
from spertmt.errors import CheckpointError, ConfigError
from spertmt.optim import SpertAdamW
from spertmt.schema import Document, TypeSchema

if TYPE_CHECKING:
    from rich.progress import Progress

    from spertmt.metrics import EvalReport
    from spertmt.model.spert import SpertMTModel

LOG_EVERY_STEPS = 10
"""Optimiser steps between two loss lines in ``metrics.jsonl``."""

BUCKET_BATCHES = 50
"""Batches' worth of documents sorted together by length when ``length_bucketing`` is on."""

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


@dataclass(frozen=True)
class DataSplit:
    """One split of a run's data.

    Attributes:
        source: As configured: a dataset name (``conll04:dev``) or a file path.
        path: The file it resolved to.
        documents: The documents read from it.
        summary: One line on what reading kept, skipped and de-duplicated.

    """

    source: str
    path: Path
    documents: list[Document] = field(repr=False)
    summary: str = ""


@dataclass(frozen=True)
class RunData:
    """The data of a run, resolved and read once.

    Attributes:
        types: The type schema.
        types_path: The types file it came from.
        train: Training split.
        dev: Dev split, or ``None``.
        test: Test split, or ``None``.

    """

    types: TypeSchema
    types_path: Path
    train: DataSplit
    dev: DataSplit | None
    test: DataSplit | None

    def fingerprint(self) -> dict[str, dict[str, str]]:
        """SHA-256 of every data file, keyed by role (recorded in ``training.json``)."""
        entries = {"types": (str(self.types_path), self.types_path)}
        for role in ("train", "dev", "test"):
            split = getattr(self, role)
            if split is not None:
                entries[role] = (split.source, split.path)
        return {
            role: {"source": source, "file": str(path), "sha256": _sha256(path)}
            for role, (source, path) in entries.items()
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------- data


def load_run_data(config: DataConfig) -> RunData:
    """Resolve and read the training, dev and test data of a configuration.

    Args:
        config: The ``[data]`` section: dataset names (``conll04:train``, ``ade:0:test``) or
            files; ``types`` (else the dataset's own types file), ``data_dir``,
            ``skip_invalid`` and ``max_documents`` (first N training documents).

    Returns:
        The resolved data.

    Raises:
        ConfigError: If no types file can be found for file inputs (key ``data.types``).
        DataError: For unknown datasets, missing files or invalid documents.

    """
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import ReadReport, read_documents, read_types

    resolved = {
        role: resolve_dataset(spec, data_dir=config.data_dir)
        for role, spec in (("train", config.train), ("dev", config.dev), ("test", config.test))
        if spec is not None
    }
    if config.types is not None:
        types_path = Path(config.types)
    elif resolved["train"].types is not None:
        types_path = Path(resolved["train"].types)
    else:
        raise ConfigError(
            f"data.train={config.train!r} is a file with no known types file; set data.types "
            "to its SpERT types JSON",
            code="E208",
            key="data.types",
        )
    types = read_types(types_path)

    def read(role: str) -> DataSplit | None:
        if role not in resolved:
            return None
        path = Path(resolved[role].path)
        report = ReadReport()
        docs = read_documents(path, types=types, skip_invalid=config.skip_invalid, report=report)
        summary = report.summary()
        if role == "train" and config.max_documents is not None:
            docs = docs[: config.max_documents]
            summary += f"; training on the first {len(docs)} (data.max_documents)"
        return DataSplit(getattr(config, role), path, docs, summary)

    train_split = read("train")
    assert train_split is not None  # data.train is a required str
    if not train_split.documents:
        raise ConfigError(
            f"{train_split.path} holds no training documents", code="E208", key="data.train"
        )
    return RunData(types, types_path, train_split, read("dev"), read("test"))


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
    saved = _flatten(json.loads(path.read_text(encoding="utf-8")))
    # JSON literals are TOML literals for strings, numbers and booleans; null becomes "none",
    # which optional fields read as None.
    assignments = [f"{k}={'none' if v is None else json.dumps(v)}" for k, v in saved.items()]
    return load_config(None, overrides=[*assignments, *overrides])


# ---------------------------------------------------------------------------------- batches


def epoch_batches(
    lengths: Sequence[int],
    *,
    batch_size: int,
    rng: np.random.Generator,
    length_bucketing: bool = True,
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
        length_bucketing: Group documents of similar length.
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


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Split parameters as SpERT does: no weight decay on biases and normalisation weights.

    SpERT matches the names ``bias``/``LayerNorm.weight``; matching normalisation modules by
    type gives the same groups for BERT and also covers encoders that name them otherwise.

    Args:
        model: The model.
        weight_decay: Decay of the other parameters.

    Returns:
        Two parameter groups for :class:`torch.optim.AdamW`.

    """
    no_decay: set[str] = set()
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) or (
            "norm" in type(module).__name__.lower()
        )
        for param_name, _ in module.named_parameters(recurse=False):
            if is_norm or param_name == "bias":
                no_decay.add(f"{module_name}.{param_name}" if module_name else param_name)
    decay_params: list[torch.nn.Parameter] = []
    plain_params: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (plain_params if name in no_decay else decay_params).append(param)
    return [
        {"params": decay_params, "weight_decay": weight_decay},
        {"params": plain_params, "weight_decay": 0.0},
    ]


def optimizer_steps_per_epoch(num_documents: int, train: TrainConfig) -> int:
    """Optimiser steps in one epoch (the last accumulation group may be short).

    Example:
        >>> optimizer_steps_per_epoch(922, TrainConfig(batch_size=2, gradient_accumulation=4))
        116

    """
    batches = math.ceil(num_documents / train.batch_size)
    return math.ceil(batches / train.gradient_accumulation)


# ---------------------------------------------------------------------------------- helpers


def resolve_device(device: str | None) -> torch.device:
    """Return the training device: ``device`` as given, else CUDA when available.

    Raises:
        ConfigError: For an unknown device string or CUDA without a GPU (key ``train.device``).

    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"unknown device {device!r}; use cpu, cuda or cuda:N", code="E209", key="train.device"
        ) from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "CUDA is not available on this machine; set train.device=cpu or leave it unset",
            code="E209",
            key="train.device",
        )
    return chosen


def _write_json(path: Path, data: Any) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    staging.replace(path)


class _MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (flushed, so a crash keeps it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, event: str, **values: Any) -> None:
        record = {"event": event, "time": round(time.time(), 3), **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _check_resumable(
    config: RunConfig, data: RunData, record: dict[str, Any], folder: Path
) -> None:
    """Refuse to resume with another configuration (except ``train.epochs``) or other data."""
    saved = _flatten(record.get("config", {}))
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


def _progress_bar(enabled: bool) -> Progress:
    from rich.console import Console
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
        console=Console(stderr=True),
        disable=not enabled,
    )


def _score(
    model: SpertMTModel,
    tokenizer: Any,
    docs: Sequence[Document],
    types: TypeSchema,
    config: RunConfig,
) -> tuple[list[Document], EvalReport]:
    from spertmt.metrics import evaluate_documents
    from spertmt.prediction import predict_documents

    predictions = predict_documents(model, tokenizer, docs, batch_size=config.eval.batch_size)
    report = evaluate_documents(docs, predictions, types, no_overlap=config.eval.no_overlap)
    return predictions, report


# ---------------------------------------------------------------------------------- training


def _train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterable[tuple[Any, Any]],
    *,
    num_batches: int,
    train: TrainConfig,
    global_step: int,
    on_step: Callable[[int, int, dict[str, float]], bool],
) -> int:
    """One pass over the batches with gradient accumulation; returns the new global step.

    ``on_step(step, group_size, mean_terms)`` is called after every optimiser step with the
    mean loss terms since the last call that returned ``True`` (the metrics-log window).
    Accumulation groups never cross the epoch end (the last one may be shorter), and each
    batch's loss is divided by the size of its group, so a short group weighs as a full one.
    """
    model.train()
    accumulation = train.gradient_accumulation
    window: list[dict[str, float]] = []
    optimizer.zero_grad(set_to_none=True)
    for index, (batch, labels) in enumerate(batches):
        group_start = index - index % accumulation
        group_size = min(accumulation, num_batches - group_start)
        output = model(batch, labels)
        (output.loss / group_size).backward()
        window.append(dict(output.loss_terms))
        if index - group_start + 1 < group_size:
            continue
        if train.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        global_step += 1
        mean_terms = {
            name: float(np.mean([terms[name] for terms in window if name in terms]))
            for name in window[-1]
        }
        if on_step(global_step, group_size, mean_terms):
            window = []
    return global_step


def train(
    config: RunConfig,
    *,
    output_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a model as configured and write the run folder (see the module docstring).

    Args:
        config: The validated run configuration.
        output_dir: The run folder; created if needed. A fresh run refuses a folder that
            already holds a run.
        resume: Continue the run in ``output_dir`` from ``output_dir/checkpoint``. The
            configuration must equal the saved one except ``train.epochs``; with the same
            epochs the final weights equal those of an uninterrupted run.
        progress: Show a progress bar with the running loss (on standard error).

    Returns:
        Where the model is and its dev and test scores.

    Raises:
        CheckpointError: On resume without a checkpoint (E307), with another configuration
            (E310) or changed data (E312); for a fresh run into a used folder (E311).
        ConfigError: For an unusable device or data configuration.
        DataError: For missing or invalid data.

    """
    from spertmt.data.io import write_documents
    from spertmt.sampling import prepare_documents, training_batch

    started = time.perf_counter()
    out = Path(output_dir)
    checkpoint_dir = out / CHECKPOINT_DIR
    if resume and not (checkpoint_dir / TRAINING_FILE).is_file():
        raise CheckpointError(
            f"cannot resume: {checkpoint_dir} holds no resumable checkpoint; start the run "
            "without --resume (or check --output)",
            code="E307",
            path=out,
        )
    if not resume and any(
        (out / name).exists() for name in (CONFIG_FILE, CHECKPOINT_DIR, MODEL_DIR)
    ):
        raise CheckpointError(
            "already holds a training run; continue it with resume (--resume) or choose "
            "another output folder",
            code="E311",
            path=out,
        )

    train_config = config.train
    if train_config.threads is not None:
        torch.set_num_threads(train_config.threads)
    device = resolve_device(train_config.device)
    random.seed(train_config.seed)
    torch.manual_seed(train_config.seed)
    rng = np.random.default_rng(train_config.seed)

    data = load_run_data(config.data)
    types = data.types
    fingerprint = data.fingerprint()

    if resume:
        model, tokenizer, saved_types, _, meta = load_checkpoint(checkpoint_dir)
        _check_resumable(config, data, meta.training or {}, checkpoint_dir)
        if saved_types != types:
            raise CheckpointError(
                "cannot resume: the types file differs from the checkpoint's types",
                code="E312",
                path=checkpoint_dir,
            )
    else:
        from spertmt.encoder import load_tokenizer
        from spertmt.model.spert import SpertMTModel

        tokenizer = load_tokenizer(config.model.encoder)
        model = SpertMTModel.build(config.model, types)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / CONFIG_FILE, config.to_dict())
    model.to(device)

    docs = data.train.documents
    prepared = prepare_documents(docs, tokenizer)
    lengths = [p.num_pieces for p in prepared]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    steps_per_epoch = optimizer_steps_per_epoch(len(docs), train_config)
    total_steps = steps_per_epoch * train_config.epochs

    import transformers

    optimizer = SpertAdamW(
        optimizer_groups(model, train_config.weight_decay),
        lr=train_config.lr,
        eps=train_config.adam_eps,
        correct_bias=train_config.adam_bias_correction,
    )
    scheduler = transformers.get_linear_schedule_with_warmup(
        optimizer,
        num_warmup_steps=int(train_config.warmup_fraction * total_steps),
        num_training_steps=total_steps,
    )
    log = _MetricsLog(out / METRICS_FILE)
    start_epoch, global_step = 0, 0
    dev_report: dict[str, Any] | None = None
    if resume:
        state = load_training_state(
            checkpoint_dir, optimizer=optimizer, scheduler=scheduler, rng=rng
        )
        start_epoch, global_step = int(state["epoch"]), int(state["global_step"])
        dev_report = state.get("dev")
        log.write("resume", epoch=start_epoch, step=global_step)
    else:
        log.write(
            "start",
            data={
                role: split.summary
                for role, split in (("train", data.train), ("dev", data.dev), ("test", data.test))
                if split is not None
            },
            documents=len(docs),
            steps_per_epoch=steps_per_epoch,
            total_steps=total_steps,
            device=str(device),
        )

    def record(epochs_done: int, metrics: dict[str, Any]) -> dict[str, Any]:
        return {
            "config": config.to_dict(),
            "seed": train_config.seed,
            "data": fingerprint,
            "epochs_completed": epochs_done,
            "global_step": global_step,
            "metrics": metrics,
        }

    def batch_for(chosen: np.ndarray) -> tuple[Any, Any]:
        batch, labels = training_batch(
            [prepared[i] for i in chosen],
            [docs[i] for i in chosen],
            types,
            config.model,
            neg_entity_count=train_config.neg_entity_count,
            neg_relation_count=train_config.neg_relation_count,
            rng=rng,
            pad_id=pad_id,
        )
        return batch.to(device), labels.to(device)

    def on_step(
        bar: Any, epoch: int, task: Any, step: int, group_size: int, mean_terms: dict[str, float]
    ) -> bool:
        bar.update(task, advance=group_size, loss=f"{mean_terms.get('total', 0.0):.4f}")
        if step % LOG_EVERY_STEPS:
            return False
        log.write(
            "train",
            epoch=epoch,
            step=step,
            lr=scheduler.get_last_lr()[0],
            loss=mean_terms.get("total"),
            loss_terms=mean_terms,
        )
        return True

    with _progress_bar(progress) as bar:
        for epoch in range(start_epoch, train_config.epochs):
            batches = epoch_batches(
                lengths,
                batch_size=train_config.batch_size,
                rng=rng,
                length_bucketing=train_config.length_bucketing,
            )
            task = bar.add_task(
                f"epoch {epoch + 1}/{train_config.epochs}", total=len(batches), loss="-"
            )
            global_step = _train_epoch(
                model,
                optimizer,
                scheduler,
                map(batch_for, batches),  # lazily: each batch is sampled when it is used
                num_batches=len(batches),
                train=train_config,
                global_step=global_step,
                on_step=functools.partial(on_step, bar, epoch + 1, task),
            )
            done = epoch + 1
            last = done == train_config.epochs
            every = train_config.eval_every
            if data.dev is not None and (last or (every > 0 and done % every == 0)):
                _, report = _score(model, tokenizer, data.dev.documents, types, config)
                dev_report = report.to_dict()
                log.write("eval", split="dev", epoch=done, step=global_step, report=dev_report)
                if progress:
                    bar.console.print(f"epoch {done}: dev")
                    bar.console.print(report.table())
            if train_config.checkpoint_every > 0 and done % train_config.checkpoint_every == 0:
                save_checkpoint(
                    checkpoint_dir,
                    model,
                    tokenizer,
                    types=types,
                    model_config=config.model,
                    training=record(done, {"dev": dev_report}),
                    optimizer=optimizer,
                    scheduler=scheduler,
                    trainer_state={"epoch": done, "global_step": global_step, "dev": dev_report},
                    rng=rng,
                )
                log.write("checkpoint", epoch=done, step=global_step, path=str(checkpoint_dir))

    model_dir = out / MODEL_DIR
    metrics: dict[str, Any] = {"dev": dev_report}
    save_checkpoint(
        model_dir,
        model,
        tokenizer,
        types=types,
        model_config=config.model,
        training=record(train_config.epochs, metrics),
    )
    test_report: dict[str, Any] | None = None
    if data.test is not None:
        predictions, report = _score(model, tokenizer, data.test.documents, types, config)
        test_report = report.to_dict()
        write_documents(out / TEST_PREDICTIONS_FILE, predictions)
        log.write(
            "eval", split="test", epoch=train_config.epochs, step=global_step, report=test_report
        )
        metrics["test"] = test_report
        write_training_record(model_dir, record(train_config.epochs, metrics))
        if progress:
            bar.console.print("test")
            bar.console.print(report.table())
    result = TrainResult(
        output_dir=out,
        model_dir=model_dir,
        dev=dev_report,
        test=test_report,
        epochs=train_config.epochs,
        wall_time_s=round(time.perf_counter() - started, 3),
    )
    _write_json(out / RESULTS_FILE, result.to_dict())
    log.write("end", wall_time_s=result.wall_time_s)
    return result
