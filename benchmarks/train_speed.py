"""Training speed in one run: the SpERT-exact path against each faster setting.

Each setting trains on CoNLL04's training split (``--fraction`` of an epoch, after
``--warmup`` batches that are not timed) through the library's own epoch loop
(:func:`spertmt.training.train_epoch`, lazy sampling included), in a fresh process of its own
(so each has its own peak memory), one after another on ``--threads`` threads:

- ``spert``: ``configs/spert.toml`` — SpERT exactly: fp32, batch 2, a uniform shuffle;
- ``spert-bf16``: the same with ``train.precision = "bf16"`` (only where the CPU runs bf16
  natively; recorded as skipped elsewhere);
- ``fast-fp32``: ``configs/spert_fast.toml`` (batch 8, lr 1e-4, length buckets) in fp32;
- ``fast``: ``configs/spert_fast.toml`` as it is (``precision = "auto"``).

Per setting it records sentences/s, the time an epoch of 922 sentences takes at that rate,
peak resident memory, and where a step's time goes: sampling, forward, backward, gradient
clipping, the optimiser step and the rest (scheduler, ``zero_grad``), timed by wrapping those
calls. ``--profile`` adds torch.profiler's top operators by self CPU time for ``spert`` and
``fast``, over 20 more batches after the timed ones (so the profiler's cost is in no timing or
memory figure). ``--model DIR`` also measures prediction on the CoNLL04 test set with that
checkpoint: sentences/s at batch 32 (median of 3 passes) and entity / relation strict micro
F1 in fp32, bf16 (where native), int8 and int8+bf16 (``--quantize --precision bf16``: int8
with the feed-forward output projections in bf16; where native).

``--device cuda`` runs the same measurements on the GPU (issue 15's GPU benchmark): every
phase is timed after a ``torch.cuda.synchronize()``, the peak GPU memory is recorded beside the
process's, bf16 counts as native where ``torch.cuda.is_bf16_supported()``, the profile ranks
operators by their time on the GPU, and int8 (a CPU runtime) is skipped.

Writes ``benchmarks/results/train_speed_<cpu>.json`` (``train_speed_<gpu>.json`` on CUDA)
(command, commit, CPU model and flags, the GPU, threads, load average, versions, every number)
and prints a summary. Speeds are comparable only within one run (machines differ from day to
day); the ratios to ``spert`` are the result.

Usage::

    SPERTMT_DATA_DIR=../shared/data python benchmarks/train_speed.py --threads 2 --profile
    python benchmarks/train_speed.py --quick       # smoke test: a few batches, numbers meaningless
    SPERTMT_DATA_DIR=../shared/data python benchmarks/train_speed.py --device cuda --profile
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from records import (  # noqa: E402
    RESULTS,
    cpu_slug,
    git_commit,
    hardware,
    load_average,
    shown,
    versions,
    write_json,
)

SETTINGS: dict[str, tuple[str, list[str]]] = {
    "spert": ("configs/spert.toml", []),
    "spert-bf16": ("configs/spert.toml", ["train.precision=bf16"]),
    "fast-fp32": ("configs/spert_fast.toml", ["train.precision=fp32"]),
    "fast": ("configs/spert_fast.toml", []),
    # MiniLM's two recipes with MPNet (12 layers, 768 hidden): what a run of it costs
    "spert-mpnet": ("configs/spert.toml", ["model.encoder=mpnet"]),
    "fast-mpnet": ("configs/spert_fast.toml", ["model.encoder=mpnet"]),
}
DEFAULT_SETTINGS = ["spert", "spert-bf16", "fast-fp32", "fast"]
PHASES = ("sampling", "forward", "backward", "clip", "optimizer", "rest")
PROFILED_BATCHES = 20
"""Batches run under torch.profiler after the timed ones (``--profile``), not timed."""
PREDICT_REPEATS = 3
"""Passes over the prediction data; the median is reported."""


# ---------------------------------------------------------------------------------- child
class PhaseTimer:
    """Wall time of the phases of a training step, by wrapping the calls that make them.

    ``sync`` (``torch.cuda.synchronize`` on a GPU) runs before each phase's end is read, so
    that a phase's time is that of its kernels and not of their launch."""

    def __init__(self, sync: Any = None) -> None:
        self.seconds = dict.fromkeys(PHASES[:-1], 0.0)
        self._undo: list[Any] = []
        self.on = False
        self.sync = sync

    def _add(self, phase: str, start: float) -> None:
        if self.on:
            if self.sync is not None:
                self.sync()
            self.seconds[phase] += time.perf_counter() - start

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._add(phase, start)

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def batches(self, source: Iterator[Any]) -> Iterator[Any]:
        while True:
            start = time.perf_counter()
            try:
                item = next(source)
            except StopIteration:
                return
            self._add("sampling", start)
            yield item

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import torch
    from speed import _peak_rss_mb

    from spertmt.config import load_config
    from spertmt.encoding.encoders import load_tokenizer
    from spertmt.model.spert import SpertMTModel
    from spertmt.runtime.precision import resolve_precision
    from spertmt.training import BatchSampler, build_optimizer, load_run_data, train_epoch

    config = load_config(
        spec["config"], overrides=[*spec["overrides"], "data.dev=none", "data.test=none"]
    )
    setup = config.train
    device = torch.device(spec.get("device", "cpu"))
    on_gpu = device.type == "cuda"
    sync = None
    if on_gpu:
        torch.cuda.set_device(device)  # cuda:N: its stream, memory and bf16 check

        def sync() -> None:
            torch.cuda.synchronize(device)

    precision = resolve_precision(setup.precision, device, key="train.precision")
    torch.manual_seed(setup.seed)
    rng = np.random.default_rng(setup.seed)
    data = load_run_data(config.data)
    docs = data.train.documents
    model = SpertMTModel.build(config.model, data.types).to(device)
    sampler = BatchSampler.prepare(
        docs, load_tokenizer(config.model.encoder), data.types, config, device
    )
    order = sampler.epoch_order(rng)
    warmup = min(int(spec["warmup"]), len(order) - 1)
    count = max(1, min(len(order) - warmup, round(len(order) * float(spec["fraction"]))))
    optimizer, scheduler = build_optimizer(model, setup, total_steps=len(order))
    scaler = torch.amp.GradScaler(device.type) if precision.needs_loss_scaling else None

    timer = PhaseTimer(sync)
    timer.wrap(model, "forward", "forward")
    timer.wrap(torch.Tensor, "backward", "backward")
    timer.wrap(torch.nn.utils, "clip_grad_norm_", "clip")
    timer.wrap(optimizer, "step", "optimizer")

    def run(batches: Sequence[Any], step: int) -> tuple[int, float]:
        start = time.perf_counter()
        step = train_epoch(
            model,
            optimizer,
            scheduler,
            timer.batches(sampler.batches(batches, rng)),
            num_batches=len(batches),
            train=setup,
            global_step=step,
            precision=precision,
            scaler=scaler,
        )
        if sync is not None:
            sync()
        return step, time.perf_counter() - start

    step, _ = run(order[:warmup], 0)  # the first steps allocate and warm caches: not timed
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device)
    timed_batches = order[warmup : warmup + count]
    timer.on = True
    step, seconds = run(timed_batches, step)
    timer.on = False
    peak_rss = _peak_rss_mb()  # before the profiler, whose records take memory of their own
    peak_gpu = round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if on_gpu else None
    profile = None
    if spec.get("profile"):
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        profiled = order[warmup + count : warmup + count + PROFILED_BATCHES]
        activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if on_gpu else [])]
        with torch_profile(activities=activities) as prof:
            run(profiled, step)
        profile = _top_ops(prof, 12, on_gpu=on_gpu)
    timer.restore()
    sentences = int(sum(len(b) for b in timed_batches))
    phases = {**timer.seconds, "rest": max(0.0, seconds - sum(timer.seconds.values()))}
    record = {
        "config": spec["config"],
        "overrides": spec["overrides"],
        "precision": precision.name,
        "precision_note": precision.note,
        "batch_size": setup.batch_size,
        "lr": setup.lr,
        "length_bucketing": setup.length_bucketing,
        "sentences": sentences,
        "optimizer_steps": len(timed_batches),
        "seconds": round(seconds, 3),
        "sentences_per_s": round(sentences / seconds, 2),
        "epoch_seconds": round(len(docs) / (sentences / seconds), 1),
        "phase_share": {k: round(v / seconds, 3) for k, v in phases.items()},
        "ms_per_step": {k: round(1000 * v / len(timed_batches), 2) for k, v in phases.items()},
        "peak_rss_mb": peak_rss,
        **({"peak_gpu_mb": peak_gpu} if on_gpu else {}),
        "profiled_batches": PROFILED_BATCHES if profile is not None else 0,
    }
    if profile is not None:
        record["profile_top_ops"] = profile
    return record


def _top_ops(prof: Any, top: int, *, on_gpu: bool = False) -> list[dict[str, Any]]:
    """The ``top`` operators by self CPU time; for a CUDA run, the ``top`` GPU kernels by their
    time on the GPU instead, ``share`` being of the GPU's time (the kernels alone: the CPU-side
    operators that launched them carry the same time again, and user annotations are no work)."""
    if not on_gpu:
        rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in rows) or 1
        return [
            {
                "op": e.key,
                "calls": e.count,
                "self_cpu_ms": round(e.self_cpu_time_total / 1000, 1),
                "share": round(e.self_cpu_time_total / total, 3),
            }
            for e in rows[:top]
        ]
    from torch.autograd import DeviceType

    kernels = [
        e
        for e in prof.key_averages()
        if e.device_type != DeviceType.CPU and not getattr(e, "is_user_annotation", False)
    ]

    def gpu_us(event: Any) -> float:  # torch before 2.4 names it self_cuda_time_total
        return getattr(event, "self_device_time_total", None) or event.self_cuda_time_total

    kernels.sort(key=gpu_us, reverse=True)
    total = sum(gpu_us(e) for e in kernels) or 1
    return [
        {
            "kernel": e.key,
            "calls": e.count,
            "self_gpu_ms": round(gpu_us(e) / 1000, 1),
            "share": round(gpu_us(e) / total, 3),
        }
        for e in kernels[:top]
    ]


def _child_predict(spec: dict[str, Any]) -> dict[str, Any]:
    from spertmt import SpertMT

    api = SpertMT.from_pretrained(
        spec["model"],
        device=spec.get("device", "cpu"),
        quantize=spec["quantize"],
        precision=spec["precision"],
    )
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents

    gold = read_documents(resolve_dataset(spec["data"]).path, types=api.types)
    items = [list(d.tokens) for d in gold]
    api.predict(items[:32], batch_size=32)  # warm-up
    times = []
    for _ in range(PREDICT_REPEATS):
        start = time.perf_counter()
        api.predict(items, batch_size=32)
        times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    report = api.evaluate(gold, batch_size=32)
    return {
        "runtime": api.runtime,
        "precision": api.precision,
        "sentences": len(items),
        "sentences_per_s": round(len(items) / seconds, 1),
        "entity_f1": round(report.entity.micro.f1, 2),
        "relation_strict_f1": round(report.relation_strict.micro.f1, 2),
    }


# ---------------------------------------------------------------------------------- parent
def _in_child(kind: str, spec: dict[str, Any], threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        json.dumps(spec),
        "--threads",
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the {kind} measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bf16_native(device: str) -> tuple[bool, str]:
    """Whether ``device`` runs bf16 natively, and what says so (the CPU's flags, the GPU)."""
    import torch

    from spertmt.runtime.precision import cpu_bf16_native, cuda_bf16_native

    chosen = torch.device(device)
    if chosen.type != "cuda":
        return cpu_bf16_native()
    name = torch.cuda.get_device_name(chosen)
    if cuda_bf16_native(chosen):
        return True, f"bf16 on {name}"
    return False, f"{name} has no bf16 in hardware"


def gpu_slug(name: str) -> str:
    """A GPU's name as a file-name part, every word kept (models differ in their last ones).

    Example:
        >>> gpu_slug("NVIDIA GeForce RTX 4090")
        'nvidia-geforce-rtx-4090'
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def checked_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` where this machine has it, else a one-line exit."""
    import torch

    where = f"train_speed.py --device {device}"
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        chosen = None
    if chosen is None or chosen.type not in ("cpu", "cuda") or chosen == torch.device("cpu", 0):
        raise SystemExit(f"{where}: [E209] unknown device; use cpu, cuda or cuda:N")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"{where}: [E209] CUDA is not available on this machine; use cpu")
    if chosen.index is not None and chosen.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise SystemExit(
            f"{where}: [E209] this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}"
        )
    return str(chosen)


def run(args: argparse.Namespace) -> Path:
    import torch

    args.device = checked_device(args.device)
    on_gpu = args.device != "cpu"
    torch.set_num_threads(args.threads)
    native, how = bf16_native(args.device)
    record: dict[str, Any] = {
        "command": "python benchmarks/"
        + " ".join(map(shlex.quote, [Path(__file__).name, *args.argv])),
        "commit": git_commit(),
        "hardware": {
            **hardware(),
            **({"gpu": torch.cuda.get_device_name(torch.device(args.device))} if on_gpu else {}),
        },
        "cpu_bf16": how,
        "device": args.device,
        "threads": args.threads,
        "versions": versions(),
        "fraction": args.fraction,
        "warmup_batches": args.warmup,
        "load_average_before": load_average(),
        "settings": {},
    }
    for name in [] if args.prediction_only else args.settings:
        config, overrides = SETTINGS[name]
        if "train.precision=bf16" in overrides and not native:
            record["settings"][name] = {"skipped": f"no native bf16 ({how})"}
            continue
        spec = {
            "config": config,
            "overrides": overrides,
            "fraction": args.fraction,
            "warmup": args.warmup,
            "profile": args.profile and name in ("spert", "fast"),
            "device": args.device,
        }
        print(f"training: {name} ...", file=sys.stderr, flush=True)
        record["settings"][name] = _in_child("train", spec, args.threads)
    base = record["settings"].get("spert", {}).get("sentences_per_s")
    for values in record["settings"].values():
        if base and "sentences_per_s" in values:
            values["speed_vs_spert"] = round(values["sentences_per_s"] / base, 2)
    if args.model is not None:
        record["prediction"] = {"model": str(args.model), "data": args.data}
        # (label, quantize, precision): int8+bf16 is int8 with its float projections in bf16
        runs = [
            ("fp32", False, "fp32"),
            ("bf16", False, "bf16"),
            ("int8", True, "fp32"),
            ("int8+bf16", True, "bf16"),
        ]
        for label, quantize, precision in runs:
            if precision == "bf16" and not native:
                record["prediction"][label] = {"skipped": f"no native bf16 ({how})"}
                continue
            if quantize and on_gpu:
                record["prediction"][label] = {"skipped": "int8 is a CPU runtime"}
                continue
            print(f"prediction: {label} ...", file=sys.stderr, flush=True)
            spec = {
                "model": str(args.model),
                "data": args.data,
                "quantize": quantize,
                "precision": precision,
                "device": args.device,
            }
            record["prediction"][label] = _in_child("predict", spec, args.threads)
    record["load_average_after"] = load_average()
    suffix = "_quick" if args.quick else ""
    machine = gpu_slug(record["hardware"]["gpu"]) if on_gpu else cpu_slug(record["hardware"]["cpu"])
    out = args.output or RESULTS / f"train_speed_{machine}{suffix}.json"
    write_json(out, record)
    print(summary(record))
    print(f"wrote {shown(out)}", file=sys.stderr)
    return out


def summary(record: dict[str, Any]) -> str:
    """A Markdown table of one record (the training settings, then prediction)."""
    hw = record["hardware"]
    lines = [
        f"{hw['cpu']} ({', '.join(hw['cpu_flags'])}), {record['threads']} thread(s), "
        + (
            f"on {hw.get('gpu', record['device'])}, "
            if record.get("device", "cpu") != "cpu"
            else ""
        )
        + f"commit {record['commit'][:12]}",
        "",
        "| setting | precision | batch | sentences/s | × spert | epoch (s) | peak RSS (MB) | "
        "sampling / forward / backward / clip / optimiser / rest (% of a step) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, v in record["settings"].items():
        if "skipped" in v:
            lines.append(f"| {name} | skipped: {v['skipped']} | | | | | | |")
            continue
        shares = " / ".join(f"{100 * v['phase_share'][p]:.0f}" for p in PHASES)
        lines.append(
            f"| {name} | {v['precision']} | {v['batch_size']} | {v['sentences_per_s']:.1f} | "
            f"{v.get('speed_vs_spert', 1.0):.2f} | {v['epoch_seconds']:.0f} | "
            f"{v['peak_rss_mb']:.0f}"
            + (f" (GPU {v['peak_gpu_mb']:.0f})" if "peak_gpu_mb" in v else "")
            + f" | {shares} |"
        )
    prediction = record.get("prediction")
    if prediction:
        lines += [
            "",
            "| prediction (batch 32) | sentences/s | entity F1 | relation strict F1 |",
            "|---|---:|---:|---:|",
        ]
        for label in ("fp32", "bf16", "int8", "int8+bf16"):
            v = prediction.get(label)
            if not v:
                continue
            if "skipped" in v:
                lines.append(f"| {label} | skipped: {v['skipped']} | | |")
            else:
                lines.append(
                    f"| {label} | {v['sentences_per_s']:.1f} | {v['entity_f1']:.2f} | "
                    f"{v['relation_strict_f1']:.2f} |"
                )
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--fraction", type=float, default=0.5, help="share of an epoch timed per setting"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches first")
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=list(SETTINGS),
        default=DEFAULT_SETTINGS,
        metavar="NAME",
        help=f"of {', '.join(SETTINGS)} (default: {' '.join(DEFAULT_SETTINGS)})",
    )
    parser.add_argument("--profile", action="store_true", help="torch.profiler top operators")
    parser.add_argument("--model", type=Path, help="a checkpoint for the prediction part")
    parser.add_argument(
        "--prediction-only", action="store_true", help="with --model: no training settings"
    )
    parser.add_argument("--data", default="conll04:test", help="prediction data (conll04:test)")
    parser.add_argument(
        "--device", default="cpu", help="cpu (default), cuda or cuda:N: where to train and predict"
    )
    parser.add_argument("--output", type=Path, help="the JSON file to write")
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 timed batches")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prediction_only and args.model is None:
        parser.error("--prediction-only measures prediction only: give the model with --model")
    args.argv = list(argv)
    if args.quick:
        args.fraction, args.warmup = 4 / 461, 1
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        kind, spec = args.child[0], json.loads(args.child[1])
        result = _child(spec) if kind == "train" else _child_predict(spec)
        print(json.dumps(result))
        return
    run(args)


if __name__ == "__main__":
    main()
