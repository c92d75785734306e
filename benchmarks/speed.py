"""Speed benchmark: prediction and training throughput, memory, scaling, CPU runtimes.

One run measures, on the CoNLL04 test set (``--data``), on the CPU with ``--threads`` threads:

- **encoder only**: sentences/s of the bare encoder forward pass (``inference_mode``) on
  exactly the batches prediction builds (length-sorted, same padding): the practical limit;
- **end to end**: sentences/s of the public API ``SpertMT.predict`` from token lists and from
  raw text (the tokens joined with spaces), at batch sizes 1, 8 and 32, and the ratio
  end-to-end / encoder-only per batch size (target: ≥ 0.85 at batch 32 from token lists);
- **runtimes**: ``quantize=True`` (int8) and ``onnx=`` (ONNX Runtime encoder) at batch 32,
  with their accuracy on the test set next to the float model's (SpERT-compatible evaluator:
  entity micro F1, relation strict micro F1);
- **training**: sentences/s over one epoch (or ``--train-epochs-fraction`` of it) of the
  training split with SpERT's settings (``configs/spert.toml``: batch 2, 100 negative spans
  and pairs per sentence), sampling included, in a separate process;
- **memory**: peak resident memory of training and of prediction, each in its own process;
- **scaling**: prediction time vs sentence length (10-500 words, made by concatenating test
  sentences) and vs the number of entities (relation-only mode with ``k`` given entities in a
  128-word sentence, so pairs grow as ``k·(k-1)``), with the share of the pair stage
  (``SpertMTModel.score_pairs``) and of the encoder;
- ``--profile``: the top 15 operators by self CPU time of end-to-end prediction at batch 32
  (``torch.profiler``), plus the ``spertmt.*`` stage labels of the model.

It writes ``benchmarks/results/speed_<encoder>_<device>.json`` (command, configuration,
versions, git commit, CPU model, threads, every number) and regenerates the "Speed" section
of ``docs/results.md`` from all ``speed_*.json`` files (the part above it is what
``benchmarks/report.py`` writes).

Usage::

    SPERTMT_DATA_DIR=../shared/data python benchmarks/speed.py \\
        --model runs/benchmarks/spertmt-seed2/model --profile
    python benchmarks/speed.py                  # untrained SpERT over MiniLM (no checkpoint)
    python benchmarks/speed.py --quick          # smoke test: a few sentences, one repeat
    python benchmarks/speed.py --summary-only   # only rebuild the Speed section

Speed does not depend on trained weights except through how many entities (and so pairs)
are predicted; an untrained model predicts few, so prefer a trained checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from records import cpu_flags, cpu_model, git_commit, offline_environment, versions  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SUMMARY = ROOT / "docs" / "results.md"
SPEED_HEADING = "## Speed"

BATCH_SIZES = (1, 8, 32)
LENGTHS = (10, 50, 100, 200, 500)
ENTITY_COUNTS = (2, 8, 32, 64)
ENTITY_SENTENCE_WORDS = 128
TARGET_RATIO = 0.85


# ---------------------------------------------------------------------------------- helpers
def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MB, if readable."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _rss_mb() -> float | None:
    """Current resident memory in MB."""
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    ``VmHWM`` (the high-water mark of this process's own address space) where Linux has it:
    ``ru_maxrss`` survives ``fork``/``exec`` on Linux and so would report the parent's peak
    for a child started late in a run.
    """
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _rounded(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


class StageTimer:
    """Wall time spent in the encoder and in the inference pair stage of a model.

    The encoder is timed with forward hooks; the pair stage by wrapping ``model.score_pairs``
    on the instance (the class is untouched) for the duration of a ``with`` block.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.encoder_s = 0.0
        self.pairs_s = 0.0

    def _wrap(self, owner: Any, name: str, slot: str) -> Callable[[], None]:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                setattr(self, slot, getattr(self, slot) + time.perf_counter() - start)

        setattr(owner, name, timed)
        return lambda: delattr(owner, name)

    def __enter__(self) -> StageTimer:
        started: list[float] = []

        def before(*_: Any) -> None:
            started.append(time.perf_counter())

        def after(*_: Any) -> None:
            self.encoder_s += time.perf_counter() - started.pop()

        hooks = [
            self.model.encoder.register_forward_pre_hook(before),
            self.model.encoder.register_forward_hook(after),
        ]
        self._undo = [hook.remove for hook in hooks]
        self._undo.append(self._wrap(self.model, "score_pairs", "pairs_s"))
        return self

    def __exit__(self, *exc: Any) -> None:
        for undo in self._undo:
            undo()


# ---------------------------------------------------------------------------------- loading
def _load_test_docs(spec: str, types_path: str | None, model_types: Any, limit: int | None):
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents

    ref = resolve_dataset(spec, types=types_path)
    docs = read_documents(ref.path, types=model_types)
    return ref, (docs[:limit] if limit else docs)


def _build_untrained(args: argparse.Namespace, workdir: Path) -> Path:
    """Save an untrained model (config ``--train-config`` + ``--set``) as a checkpoint."""
    import torch

    from spertmt.config import load_config
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_types
    from spertmt.encoding.encoders import load_tokenizer
    from spertmt.model.checkpoint import save_checkpoint
    from spertmt.model.spert import SpertMTModel

    config = load_config(args.train_config, overrides=args.overrides)
    ref = resolve_dataset(args.data, types=args.types)
    types = read_types(ref.require_types())
    torch.manual_seed(0)
    model = SpertMTModel.build(config.model, types).eval()
    folder = workdir / "untrained-model"
    save_checkpoint(
        folder,
        model,
        load_tokenizer(config.model.encoder),
        types=types,
        model_config=config.model,
    )
    return folder


# ---------------------------------------------------------------------------------- measures
def _prediction_batches(api: Any, docs: Sequence[Any], batch_size: int) -> list[Any]:
    """The batches ``predict`` builds for these token lists (length-sorted, same padding)."""
    from spertmt.encoding.features import pad_id, prepare_documents
    from spertmt.inference.predictor import length_sorted_batches
    from spertmt.sampling import inference_batch
    from spertmt.schema import Document

    units = [Document(tokens=d.tokens) for d in docs if d.tokens]
    prepared = prepare_documents(units, api.tokenizer)
    padding = pad_id(api.tokenizer)
    return [
        inference_batch([prepared[i] for i in chosen], api.config, pad_id=padding)
        for chosen in length_sorted_batches([p.num_pieces for p in prepared], batch_size)
    ]


def encoder_only(api: Any, docs: Sequence[Any], batch_size: int, repeats: int) -> dict:
    """Sentences/s of the bare encoder forward pass on prediction's own batches."""
    import torch

    batches = _prediction_batches(api, docs, batch_size)
    encoder = api.model.encoder

    def run() -> None:
        with torch.inference_mode():
            for batch in batches:
                encoder(batch.input_ids, batch.attention_mask)

    with torch.inference_mode():
        encoder(batches[0].input_ids, batches[0].attention_mask)  # warm-up
    seconds, times = _median_time(run, repeats)
    return {
        "sentences": len(docs),
        "batches": len(batches),
        "pieces": int(sum(int(b.attention_mask.sum()) for b in batches)),
        "padded_pieces": int(sum(b.input_ids.numel() for b in batches)),
        "seconds": _rounded(seconds, 4),
        "seconds_all": [_rounded(t, 4) for t in times],
        "sentences_per_s": _rounded(len(docs) / seconds),
    }


def end_to_end(api: Any, items: list[Any], batch_size: int, repeats: int) -> dict:
    """Sentences/s of ``SpertMT.predict`` over every item (one call, as a user makes it)."""
    api.predict(items[: min(len(items), batch_size)], batch_size=batch_size)  # warm-up
    out: list[Any] = []

    def run() -> None:
        out[:] = api.predict(items, batch_size=batch_size)

    seconds, times = _median_time(run, repeats)
    return {
        "sentences": len(items),
        "seconds": _rounded(seconds, 4),
        "seconds_all": [_rounded(t, 4) for t in times],
        "sentences_per_s": _rounded(len(items) / seconds),
        "entities": sum(len(d.entities) for d in out),
        "relations": sum(len(d.relations) for d in out),
    }


def _synthetic_sentences(docs: Sequence[Any], words: int, count: int) -> list[list[str]]:
    """``count`` sentences of exactly ``words`` words, concatenating real test sentences."""
    pool = [t for d in docs for t in d.tokens]
    sentences = []
    for k in range(count):
        start = (k * 997) % len(pool)
        tokens: list[str] = []
        while len(tokens) < words:
            tokens.extend(pool[start : start + words - len(tokens)])
            start = 0
        sentences.append(tokens)
    return sentences


def scaling_length(
    api: Any, docs: Sequence[Any], lengths: Sequence[int], count: int, repeats: int
) -> list[dict]:
    """Prediction time per sentence vs sentence length (token lists, batch = ``count``)."""
    rows = []
    for words in lengths:
        items = _synthetic_sentences(docs, words, count)
        api.predict(items[:1], batch_size=count)  # warm-up (first windowed shapes)
        timer = StageTimer(api.model)
        out: list[Any] = []

        def predict(items: list[list[str]] = items, out: list[Any] = out) -> None:
            out[:] = api.predict(items, batch_size=count)

        with timer:
            seconds, _ = _median_time(predict, repeats)
        # The timer accumulates over all repeats; shares are per total.
        total = seconds * repeats
        rows.append(
            {
                "words": words,
                "sentences": count,
                "seconds_per_sentence": _rounded(seconds / count, 5),
                "words_per_s": _rounded(words * count / seconds, 1),
                "entities_per_sentence": _rounded(sum(len(d.entities) for d in out) / count, 1),
                "encoder_share": _rounded(timer.encoder_s / total, 3),
                "pair_stage_share": _rounded(timer.pairs_s / total, 3),
            }
        )
    return rows


def scaling_entities(
    api: Any, docs: Sequence[Any], counts: Sequence[int], sentences: int, repeats: int
) -> list[dict]:
    """Relation-only prediction time vs the number of given entities (pairs grow as k²)."""
    from spertmt.schema import Entity

    entity_type = api.types.entity_names[0]
    words = max(ENTITY_SENTENCE_WORDS, 2 * max(counts))
    items = _synthetic_sentences(docs, words, sentences)
    rows = []
    for k in counts:
        step = words // k
        given = [[Entity(entity_type, i * step, i * step + 1) for i in range(k)] for _ in items]
        api.predict(items[:1], entities=given[:1], batch_size=sentences)  # warm-up
        timer = StageTimer(api.model)
        with timer:
            seconds, _ = _median_time(
                lambda given=given: api.predict(items, entities=given, batch_size=sentences),
                repeats,
            )
        total = seconds * repeats
        rows.append(
            {
                "entities": k,
                "pairs_per_sentence": k * (k - 1),
                "words": words,
                "sentences": sentences,
                "seconds_per_sentence": _rounded(seconds / sentences, 5),
                "encoder_share": _rounded(timer.encoder_s / total, 3),
                "pair_stage_share": _rounded(timer.pairs_s / total, 3),
                "pair_stage_seconds_per_sentence": _rounded(timer.pairs_s / repeats / sentences, 5),
            }
        )
    return rows


def accuracy(api: Any, docs: Sequence[Any]) -> dict:
    """Entity and relation strict micro F1 with the SpERT-compatible evaluator."""
    report = api.evaluate(list(docs), batch_size=32).to_dict()
    return {
        "entity_micro_f1": _rounded(report["entity"]["micro"]["f1"]),
        "relation_strict_micro_f1": _rounded(report["relation_strict"]["micro"]["f1"]),
        "relation_strict_macro_f1": _rounded(report["relation_strict"]["macro"]["f1"]),
    }


def profile(api: Any, items: list[Any], batch_size: int, top: int = 15) -> dict:
    """Top operators by self CPU time of end-to-end prediction (torch.profiler)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    api.predict(items[:batch_size], batch_size=batch_size)  # warm-up
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        api.predict(items, batch_size=batch_size)
    events = prof.key_averages()
    total_self = sum(e.self_cpu_time_total for e in events) or 1.0
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    stages = {
        e.key: _rounded(e.cpu_time_total / 1000, 2) for e in events if e.key.startswith("spertmt.")
    }
    return {
        "tool": "torch.profiler",
        "batch_size": batch_size,
        "sentences": len(items),
        "top_self_cpu": [
            {
                "name": e.key,
                "self_cpu_ms": _rounded(e.self_cpu_time_total / 1000, 2),
                "self_cpu_share": _rounded(e.self_cpu_time_total / total_self, 3),
                "cpu_total_ms": _rounded(e.cpu_time_total / 1000, 2),
                "calls": int(e.count),
            }
            for e in ranked
        ],
        "stage_cpu_total_ms": stages,
    }


# ---------------------------------------------------------------------------------- children
def _child(args: argparse.Namespace) -> None:
    """Run one measurement in this (fresh) process and print its JSON as the last line."""
    import torch

    torch.set_num_threads(args.threads)
    spec = json.loads(args.child_spec)
    if args.child == "train":
        result = _child_train(spec)
    else:
        result = _child_predict(spec)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result, sort_keys=True))


def _child_train(spec: dict) -> dict:
    import numpy as np
    import torch

    from spertmt.config import load_config
    from spertmt.encoding.encoders import load_tokenizer
    from spertmt.model.spert import SpertMTModel
    from spertmt.training import BatchSampler, build_optimizer, load_run_data, train_epoch

    # Length bucketing as when the recorded numbers were measured (no longer the default);
    # the spec's own overrides come after it and win.
    overrides = [
        "train.length_bucketing=true",
        *spec["overrides"],
        "data.dev=none",
        "data.test=none",
    ]
    config = load_config(spec["config"], overrides=overrides)
    train_config = config.train
    torch.manual_seed(train_config.seed)
    rng = np.random.default_rng(train_config.seed)
    data = load_run_data(config.data)
    docs = data.train.documents
    tokenizer = load_tokenizer(config.model.encoder)
    model = SpertMTModel.build(config.model, data.types)
    rss_loaded = _rss_mb()
    sampler = BatchSampler.prepare(docs, tokenizer, data.types, config, torch.device("cpu"))
    batches = sampler.epoch_order(rng)
    fraction = float(spec["fraction"])
    count = max(1, min(len(batches), round(len(batches) * fraction)))
    if spec.get("max_batches"):
        count = min(count, int(spec["max_batches"]))
    batches = batches[:count]
    # one (partial) epoch; the schedule's shape does not change the speed
    optimizer, scheduler = build_optimizer(model, train_config, total_steps=count)

    start = time.perf_counter()
    steps = train_epoch(
        model,
        optimizer,
        scheduler,
        sampler.batches(batches, rng),
        num_batches=count,
        train=train_config,
        global_step=0,
    )
    seconds = time.perf_counter() - start
    sentences = int(sum(len(b) for b in batches))
    return {
        "config": spec["config"],
        "overrides": spec["overrides"],
        "encoder": config.model.encoder,
        "epoch_sentences": len(docs),
        "epochs_fraction": _rounded(sentences / len(docs), 4),
        "sentences": sentences,
        "batch_size": train_config.batch_size,
        "optimizer_steps": steps,
        "seconds": _rounded(seconds, 3),
        "sentences_per_s": _rounded(sentences / seconds),
        "estimated_epoch_seconds": _rounded(len(docs) / (sentences / seconds), 1),
        "rss_after_load_mb": rss_loaded,
    }


def _child_predict(spec: dict) -> dict:
    from spertmt import SpertMT

    api = SpertMT.from_pretrained(
        spec["model"], device="cpu", quantize=spec.get("quantize", False), onnx=spec.get("onnx")
    )
    _, docs = _load_test_docs(spec["data"], spec.get("types"), api.types, spec.get("limit"))
    rss_loaded = _rss_mb()
    items = [list(d.tokens) for d in docs]
    start = time.perf_counter()
    api.predict(items, batch_size=spec["batch_size"])
    return {
        "runtime": api.runtime,
        "batch_size": spec["batch_size"],
        "sentences": len(items),
        "seconds": _rounded(time.perf_counter() - start, 3),
        "rss_after_load_mb": rss_loaded,
    }


def _start_child(kind: str, spec: dict, threads: int) -> subprocess.Popen:
    """Start one measurement in a fresh Python process (its own peak memory)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--child-spec",
        json.dumps(spec),
        "--threads",
        str(threads),
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )


def _finish_child(kind: str, process: subprocess.Popen) -> dict:
    """Wait for a measurement process and return its JSON result."""
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(
            f"the {kind} measurement failed (exit {process.returncode}):\n{stderr[-4000:]}"
        )
    return json.loads(stdout.strip().splitlines()[-1])


def _run_children(jobs: list[tuple[str, str, dict]], threads: int, *, parallel: bool) -> dict:
    """Run ``(name, kind, spec)`` measurements one after another (or at once for --quick).

    Timed measurements run alone; only ``--quick`` (a smoke test, whose timings mean
    nothing) starts them together to save the start-up time of each process.
    """
    if not parallel:
        return {
            name: _finish_child(kind, _start_child(kind, spec, threads))
            for name, kind, spec in jobs
        }
    started = [(name, kind, _start_child(kind, spec, threads)) for name, kind, spec in jobs]
    return {name: _finish_child(kind, process) for name, kind, process in started}


# ---------------------------------------------------------------------------------- the run
@dataclasses.dataclass(frozen=True)
class Plan:
    """What one run measures (``--quick`` shrinks everything)."""

    quick: bool
    repeats: int
    limit: int | None
    batch_sizes: tuple[int, ...]
    lengths: tuple[int, ...]
    entity_counts: tuple[int, ...]
    scaling_sentences: int
    threads: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        quick = bool(args.quick)
        return cls(
            quick=quick,
            repeats=args.repeats or (1 if quick else 3),
            limit=args.limit or (16 if quick else None),
            batch_sizes=tuple(args.batch_sizes),
            lengths=(10, 50) if quick else LENGTHS,
            entity_counts=(2, 8) if quick else ENTITY_COUNTS,
            scaling_sentences=2 if quick else 8,
            threads=args.threads,
        )

    @property
    def variant_batch_size(self) -> int:
        """Batch size of the runtime variants and the profile (32 when measured)."""
        return 32 if 32 in self.batch_sizes else max(self.batch_sizes)


def _header(args: argparse.Namespace, plan: Plan, api: Any, model_dir: Path, ref, docs) -> dict:
    import torch

    encoder_name = api.config.encoder
    return {
        "benchmark": "speed",
        "command": " ".join(shlex.quote(a) for a in ["python", "benchmarks/speed.py", *args.argv]),
        "quick": plan.quick,
        "config": {
            "batch_sizes": list(plan.batch_sizes),
            "repeats": plan.repeats,
            "limit": plan.limit,
            "lengths": list(plan.lengths),
            "entity_counts": list(plan.entity_counts),
            "scaling_sentences": plan.scaling_sentences,
            "entity_sentence_words": max(ENTITY_SENTENCE_WORDS, 2 * max(plan.entity_counts)),
            "train_config": args.train_config,
            "overrides": args.overrides,
            "train_epochs_fraction": None if args.skip_train else args.train_epochs_fraction,
            "target_ratio_batch32": TARGET_RATIO,
        },
        "model": {
            "path": None if args.model is None else str(model_dir),
            "untrained": args.model is None,
            "encoder": encoder_name,
            "model_config": dataclasses.asdict(api.config),
        },
        "encoder": Path(encoder_name).name,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "versions": versions(),
        "git_commit": git_commit(),
        "data": {
            "spec": args.data,
            "path": str(ref.path),
            "sentences": len(docs),
            "words": sum(len(d.tokens) for d in docs),
        },
    }


def _measure_prediction(record: dict, plan: Plan, api: Any, docs: Sequence[Any], log) -> None:
    """Encoder only, end to end (tokens and raw text), their ratio, and scaling."""
    token_items = [list(d.tokens) for d in docs]
    text_items = [" ".join(d.tokens) for d in docs]
    log("encoder only ...")
    record["encoder_only"] = {
        str(bs): encoder_only(api, docs, bs, plan.repeats) for bs in plan.batch_sizes
    }
    record["end_to_end"] = {"tokens": {}, "text": {}}
    for bs in plan.batch_sizes:
        log(f"end to end, batch {bs} ...")
        record["end_to_end"]["tokens"][str(bs)] = end_to_end(api, token_items, bs, plan.repeats)
        record["end_to_end"]["text"][str(bs)] = end_to_end(api, text_items, bs, plan.repeats)
    record["ratio"] = {
        kind: {
            str(bs): _rounded(
                record["end_to_end"][kind][str(bs)]["sentences_per_s"]
                / record["encoder_only"][str(bs)]["sentences_per_s"],
                3,
            )
            for bs in plan.batch_sizes
        }
        for kind in ("tokens", "text")
    }
    record["meets_target_ratio"] = (
        record["ratio"]["tokens"]["32"] >= TARGET_RATIO if 32 in plan.batch_sizes else None
    )
    log("scaling ...")
    count, repeats = plan.scaling_sentences, plan.repeats
    record["scaling"] = {
        "length": scaling_length(api, docs, plan.lengths, count, repeats),
        "entities": scaling_entities(api, docs, plan.entity_counts, count, repeats),
    }


def _measure_runtimes(
    record: dict,
    args: argparse.Namespace,
    plan: Plan,
    api: Any,
    model_dir: Path,
    docs: Sequence[Any],
    workdir: Path,
    log,
) -> Path | None:
    """Float vs int8 vs ONNX Runtime at the variant batch size, with accuracy; the ONNX file."""
    from spertmt import SpertMT

    bs = plan.variant_batch_size
    token_items = [list(d.tokens) for d in docs]
    variants: dict[str, Any] = {
        "float": {
            "runtime": api.runtime,
            "batch_size": bs,
            "encoder_only": record["encoder_only"][str(bs)],
            "end_to_end_tokens": record["end_to_end"]["tokens"][str(bs)],
        }
    }
    accuracies: dict[str, Any] = {}
    if not args.skip_accuracy:
        log("accuracy (float) ...")
        accuracies["float"] = accuracy(api, docs)
    onnx_file = None
    if not args.skip_onnx:
        from spertmt.runtime.export import export_onnx

        log("ONNX export ...")
        exported = export_onnx(model_dir, workdir / "encoder.onnx")
        onnx_file = exported.path
    wanted = {"quantize": not args.skip_quantize, "onnx": onnx_file is not None}
    options: dict[str, dict[str, Any]] = {
        "quantize": {"quantize": True},
        "onnx": {"onnx": onnx_file},
    }
    for name in ("quantize", "onnx"):
        if not wanted[name]:
            variants[name] = {"skipped": True}
            continue
        log(f"{name} ...")
        fast = SpertMT.from_pretrained(model_dir, device="cpu", **options[name])
        end = end_to_end(fast, token_items, bs, plan.repeats)
        variants[name] = {
            "runtime": fast.runtime,
            "batch_size": bs,
            "encoder_only": encoder_only(fast, docs, bs, plan.repeats),
            "end_to_end_tokens": end,
            "speedup_vs_float": _rounded(
                end["sentences_per_s"] / variants["float"]["end_to_end_tokens"]["sentences_per_s"],
                3,
            ),
        }
        if name == "onnx":
            variants[name]["export_max_abs_diff"] = exported.max_abs_diff
        if "float" in accuracies:
            accuracies[name] = accuracy(fast, docs)
            accuracies[f"{name}_minus_float"] = {
                key: _rounded(accuracies[name][key] - accuracies["float"][key])
                for key in accuracies["float"]
            }
        del fast
    record["variants"] = variants
    record["accuracy"] = accuracies if accuracies else {"skipped": True}
    return onnx_file


def _measure_processes(
    record: dict, args: argparse.Namespace, plan: Plan, model_dir: Path, onnx_file, log
) -> None:
    """Peak memory of prediction (per runtime) and training throughput and memory."""
    log("memory and training (separate processes) ...")
    predict_spec = {
        "model": str(model_dir),
        "data": args.data,
        "types": args.types,
        "limit": plan.limit,
        "batch_size": plan.variant_batch_size,
    }
    jobs = [("prediction", "predict", predict_spec)]
    if not plan.quick and not args.skip_quantize:
        jobs.append(("prediction_quantize", "predict", {**predict_spec, "quantize": True}))
    if not plan.quick and onnx_file is not None:
        jobs.append(("prediction_onnx", "predict", {**predict_spec, "onnx": str(onnx_file)}))
    if not args.skip_train:
        train_spec = {
            "config": args.train_config,
            "overrides": args.overrides,
            "fraction": args.train_epochs_fraction,
            "max_batches": 4 if plan.quick else None,
        }
        jobs.append(("training", "train", train_spec))
    memory = _run_children(jobs, plan.threads, parallel=plan.quick)
    record["training"] = memory.pop("training", {"skipped": True})
    if not args.skip_train:
        memory["training"] = {
            "peak_rss_mb": record["training"]["peak_rss_mb"],
            "rss_after_load_mb": record["training"]["rss_after_load_mb"],
        }
    record["memory"] = memory


def run(args: argparse.Namespace) -> Path:
    """Measure everything (see the module docstring) and write the result file."""
    import torch

    from spertmt import SpertMT

    torch.set_num_threads(args.threads)
    plan = Plan.from_args(args)
    started = time.perf_counter()

    def log(message: str) -> None:
        if not args.quiet:
            print(message, flush=True)

    with tempfile.TemporaryDirectory(prefix="spertmt-speed-") as tmp:
        workdir = Path(tmp)
        model_dir = Path(args.model) if args.model else _build_untrained(args, workdir)
        api = SpertMT.from_pretrained(model_dir, device="cpu")
        ref, docs = _load_test_docs(args.data, args.types, api.types, plan.limit)
        record = _header(args, plan, api, model_dir, ref, docs)
        _measure_prediction(record, plan, api, docs, log)
        onnx_file = _measure_runtimes(record, args, plan, api, model_dir, docs, workdir, log)
        record["profile"] = None
        if args.profile:
            log("profile ...")
            token_items = [list(d.tokens) for d in docs]
            record["profile"] = profile(api, token_items, plan.variant_batch_size)
        del api
        _measure_processes(record, args, plan, model_dir, onnx_file, log)
        record["wall_seconds"] = _rounded(time.perf_counter() - started, 1)
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    target = Path(args.output) if args.output else RESULTS / speed_file_name(record)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(json.dumps(record, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    staging.replace(target)
    print(f"wrote {target}")
    return target


def speed_file_name(record: dict) -> str:
    """``speed_<encoder>_<device>.json`` (``_quick`` added for a quick run)."""
    quick = "_quick" if record.get("quick") else ""
    return f"speed_{record['encoder']}_{record['device']}{quick}.json"


# ---------------------------------------------------------------------------------- summary
def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return str(value)


def speed_section(results_dir: Path = RESULTS) -> list[str]:
    """Markdown lines of the Speed section, from every ``speed_*.json`` (quick runs left out)."""
    lines = [
        SPEED_HEADING,
        "",
        "Generated by `python benchmarks/speed.py` (or `--summary-only`) from the",
        "`benchmarks/results/speed_*.json` files. Sentences per second on the CoNLL04 test set,",
        "CPU only; *encoder only* is the bare encoder forward pass on the batches prediction",
        "builds (the practical limit); *ratio* = end-to-end from token lists / encoder only.",
        "Method and caveats: `docs/speed.md`.",
        "",
    ]
    records = []
    for path in sorted(results_dir.glob("speed_*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if record.get("benchmark") == "speed" and not record.get("quick"):
            records.append((path, record))
    if not records:
        return [*lines, "No speed measurement has been recorded yet."]
    for path, r in records:
        model = "untrained" if r["model"]["untrained"] else r["model"]["path"]
        lines += [
            f"### {r['encoder']} on {r['device']} ({path.name})",
            "",
            f"Model: {model}; CPU: {r['cpu_model']}, {r['threads']} threads; torch "
            f"{r['versions']['torch']}, transformers {r['versions']['transformers']}, "
            f"onnxruntime {r['versions']['onnxruntime']}; commit `{r['git_commit']}`; "
            f"{r['data']['sentences']} sentences.",
            "",
            "| batch | encoder only | end to end (tokens) | ratio "
            "| end to end (raw text) | ratio |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for bs in r["config"]["batch_sizes"]:
            key = str(bs)
            lines.append(
                f"| {bs} | {_fmt(r['encoder_only'][key]['sentences_per_s'])} "
                f"| {_fmt(r['end_to_end']['tokens'][key]['sentences_per_s'])} "
                f"| {_fmt(r['ratio']['tokens'][key], 2)} "
                f"| {_fmt(r['end_to_end']['text'][key]['sentences_per_s'])} "
                f"| {_fmt(r['ratio']['text'][key], 2)} |"
            )
        lines += ["", "| runtime | end to end (tokens) | × float | entity F1 | rel. strict F1 |"]
        lines.append("|---|---:|---:|---:|---:|")
        acc = r.get("accuracy", {})
        for name in ("float", "quantize", "onnx"):
            v = r["variants"].get(name, {})
            if v.get("skipped"):
                continue
            a = acc.get(name, {}) if isinstance(acc, dict) else {}
            lines.append(
                f"| {name} (batch {v['batch_size']}) "
                f"| {_fmt(v['end_to_end_tokens']['sentences_per_s'])} "
                f"| {_fmt(v.get('speedup_vs_float', 1.0), 2)} "
                f"| {_fmt(a.get('entity_micro_f1'), 2)} "
                f"| {_fmt(a.get('relation_strict_micro_f1'), 2)} |"
            )
        train = r.get("training", {})
        memory = r.get("memory", {})
        if not train.get("skipped"):
            lines += [
                "",
                f"Training (SpERT settings, {train['epochs_fraction']:.2f} of an epoch): "
                f"{_fmt(train['sentences_per_s'])} sentences/s, about "
                f"{_fmt(train['estimated_epoch_seconds'] / 60)} min per epoch; peak memory "
                f"{_fmt(train['peak_rss_mb'], 0)} MB.",
            ]
        if "prediction" in memory:
            lines.append(
                f"Prediction peak memory (batch {memory['prediction']['batch_size']}): "
                f"{_fmt(memory['prediction']['peak_rss_mb'], 0)} MB."
            )
        lines += [
            "",
            "| words / sentence | ms / sentence | entities / sentence | encoder share "
            "| pair-stage share |",
            "|---:|---:|---:|---:|---:|",
        ]
        for row in r["scaling"]["length"]:
            lines.append(
                f"| {row['words']} | {_fmt(row['seconds_per_sentence'] * 1000)} "
                f"| {_fmt(row['entities_per_sentence'])} | {_fmt(row['encoder_share'], 2)} "
                f"| {_fmt(row['pair_stage_share'], 2)} |"
            )
        lines += [
            "",
            "| given entities | pairs / sentence | ms / sentence | pair-stage share |",
            "|---:|---:|---:|---:|",
        ]
        for row in r["scaling"]["entities"]:
            lines.append(
                f"| {row['entities']} | {row['pairs_per_sentence']} "
                f"| {_fmt(row['seconds_per_sentence'] * 1000)} "
                f"| {_fmt(row['pair_stage_share'], 2)} |"
            )
        lines += ["", f"Command: `{r['command']}`", ""]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def write_speed_summary(summary: Path = SUMMARY, results_dir: Path = RESULTS) -> None:
    """Replace the Speed section of ``summary`` (everything from its heading on)."""
    text = summary.read_text(encoding="utf-8") if summary.is_file() else "# Measured results\n"
    marker = f"\n{SPEED_HEADING}\n"
    if marker in text:
        text = text[: text.index(marker)]
    text = text.rstrip("\n") + "\n\n" + "\n".join(speed_section(results_dir)).rstrip("\n") + "\n"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(text, encoding="utf-8")
    print(f"wrote {summary}")


# ---------------------------------------------------------------------------------- CLI
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint folder (default: untrained model)")
    parser.add_argument("--data", default="conll04:test", help="test data (default conll04:test)")
    parser.add_argument("--types", help="types file for --data when it is a plain file")
    parser.add_argument(
        "--train-config",
        default=str(ROOT / "configs" / "spert.toml"),
        help="config of the training measurement and of the untrained model",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override of --train-config (e.g. model.encoder=mpnet)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    parser.add_argument("--repeats", type=int, default=None, help="timed passes (median)")
    parser.add_argument("--limit", type=int, default=None, help="first N test sentences only")
    parser.add_argument("--train-epochs-fraction", type=float, default=1.0)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-quantize", action="store_true")
    parser.add_argument("--skip-onnx", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--profile", action="store_true", help="add a torch.profiler top 15")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny subset")
    parser.add_argument("--output", help="result file (default benchmarks/results/speed_...)")
    parser.add_argument("--summary", default=str(SUMMARY), help="markdown file to update")
    parser.add_argument("--results-dir", default=str(RESULTS), help="speed_*.json to summarise")
    parser.add_argument("--no-summary", action="store_true")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--child", choices=["train", "predict"], help=argparse.SUPPRESS)
    parser.add_argument("--child-spec", help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv))
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> Path | None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    offline_environment()
    if args.child:
        _child(args)
        return None
    target = None
    if not args.summary_only:
        target = run(args)
    if not args.no_summary:
        write_speed_summary(Path(args.summary), Path(args.results_dir))
    return target


if __name__ == "__main__":
    main()
