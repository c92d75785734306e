"""What every benchmark record carries: the commit, the versions, the hardware; atomic writes.

Shared by the experiment runner (``run_experiments.py``), the report (``report.py``) and the
speed benchmark (``speed.py``). The report imports the runner (to read the experiment files)
and the speed benchmark (for its section); nothing imports the report but the runner.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


GENERATED = ("benchmarks/results", "docs/results.md", "docs/img/results")
"""What the campaign itself writes (records, the report, its figures): changes there leave a
tree clean for :func:`git_commit`, so the second run of a campaign is as traceable as the
first."""


def changed_files() -> list[str] | None:
    """Tracked files that differ from ``HEAD``, outside :data:`GENERATED` (None without git)."""
    excludes = [f":(exclude){path}" for path in GENERATED]
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *excludes],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted(line[3:] for line in out.splitlines() if line.strip())


def git_commit() -> str:
    """``HEAD``, with ``-dirty`` when tracked files other than the campaign's own outputs
    (:data:`GENERATED`) differ from it: such a record cannot be traced to one commit
    (:func:`changed_files` says which files)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if changed_files() else "")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags(
    wanted: tuple[str, ...] = ("avx2", "avx512f", "avx512_bf16", "amx_bf16"),
) -> list[str]:
    """Which of the speed-relevant CPU flags this machine has."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [flag for flag in wanted if flag in have]
    except OSError:
        pass
    return []


def cpu_slug(cpu: str) -> str:
    """A CPU model as a file-name part: its first three words, trademarks and core counts out.

    Example:
        >>> cpu_slug("Intel(R) Xeon(R) Platinum 8488C CPU")
        'intel-xeon-platinum'
        >>> cpu_slug("AMD EPYC 9R14 96-Core Processor")
        'amd-epyc-9r14'
    """
    words = re.sub(r"\(R\)|\(TM\)|CPU|Processor|\d+-Core", " ", cpu).split()
    return "-".join(w.lower() for w in words[:3]) or "cpu"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the system has none): what else
    competed for the cores while a speed was measured."""
    import os

    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def hardware() -> dict[str, Any]:
    """CPU model, its speed-relevant flags, core count, and the GPU when torch sees one."""
    import os

    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def versions() -> dict[str, str]:
    """Python and the libraries a result depends on."""
    import numpy
    import tokenizers
    import torch
    import transformers

    from spertmt.version import __version__

    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = "not installed"
    return {
        "python": platform.python_version(),
        "spertmt": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": numpy.__version__,
        "onnxruntime": ort,
    }


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write sorted, indented JSON atomically (:func:`write_text`)."""
    write_text(path, json.dumps(record, sort_keys=True, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write a file atomically through a temporary of its own: a stopped run never leaves half
    a file or a temporary, and two campaign workers writing the same file at once each
    replace it whole (:func:`spertmt.data.io.write_text_atomic`)."""
    from spertmt.data.io import write_text_atomic

    write_text_atomic(path, text)


def training_seconds(metrics_file: Path) -> float | None:
    """How long the processes that trained a run took together, from its ``metrics.jsonl``.

    A run resumed after a stop was trained by several processes; each one's part starts at
    its ``start`` or ``resume`` line and ends at its last line, and the parts add up (the wall
    time of the last process alone would count only the epochs it trained). An epoch a stopped
    process lost counts: that time was spent. ``None`` when the file is missing or has no
    start.

    Example:
        >>> import tempfile
        >>> lines = [{"event": "start", "time": 0.0}, {"event": "checkpoint", "time": 60.0},
        ...          {"event": "resume", "time": 500.0}, {"event": "end", "time": 530.0}]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "metrics.jsonl"
        ...     _ = path.write_text("\\n".join(json.dumps(line) for line in lines))
        ...     training_seconds(path)
        90.0
    """
    if not metrics_file.is_file():
        return None
    total, began, last = 0.0, None, None
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
            moment = float(event["time"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line cut short by a crash, or one without a time
        if event.get("event") in ("start", "resume"):
            if began is not None and last is not None:
                total += last - began
            began = moment
        last = moment
    if began is None or last is None:
        return None
    return round(total + last - began, 1)


def training_precisions(metrics_file: Path) -> list[str] | None:
    """The arithmetic each process that trained a run used, from its ``metrics.jsonl``.

    ``train.precision = "auto"`` resolves on the machine that trains (bf16 where the CPU has
    native bf16, else fp32), so a run resumed on another machine may have trained in both:
    the distinct precisions of its ``start`` and ``resume`` lines, in the order they came.
    ``None`` when the file is missing or names none.

    Example:
        >>> import tempfile
        >>> lines = [{"event": "start", "precision": "bf16"}, {"event": "epoch"}, 3,
        ...          {"event": "resume", "precision": "fp32"}]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "metrics.jsonl"
        ...     _ = path.write_text("\\n".join(json.dumps(line) for line in lines))
        ...     training_precisions(path)
        ['bf16', 'fp32']
    """
    if not metrics_file.is_file():
        return None
    found: list[str] = []
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if not isinstance(event, dict):
            continue
        precision = event.get("precision")
        if event.get("event") in ("start", "resume") and isinstance(precision, str):
            if precision not in found:
                found.append(precision)
    return found or None


def precision_setting(record: dict[str, Any]) -> str:
    """The precision a record's config asked for (``train.precision``; fp32 by default)."""
    return str(((record.get("config") or {}).get("train") or {}).get("precision", "fp32"))


def record_precision(record: dict[str, Any]) -> str:
    """The precision a benchmark record's model trained in: ``"bf16"``, ``"fp32"``,
    ``"bf16+fp32"`` (resumed on another machine), or for records older than the
    ``train_precisions`` field under ``train.precision = "auto"``, what the recorded machine
    (the last process's) would resolve it to, marked ``"(inferred)"``.

    Example:
        >>> record_precision({"train_precisions": ["fp32"]})
        'fp32'
        >>> record_precision({"config": {"train": {"precision": "auto"}},
        ...                   "hardware": {"cpu_flags": ["avx2", "avx512_bf16"]}})
        'bf16 (inferred)'
    """
    if record.get("train_precisions"):
        return "+".join(record["train_precisions"])
    setting = precision_setting(record)
    if setting != "auto":
        return setting
    machine = record.get("hardware") or {}
    if "gpu" in machine:
        return "auto (not recorded)"  # a GPU's choice depends on more than the CPU's flags
    native = bool(set(machine.get("cpu_flags") or ()) & {"avx512_bf16", "amx_bf16"})
    return ("bf16" if native else "fp32") + " (inferred)"


DEV_HISTORY_SETTINGS = ("entity", "relation_strict", "relation_boundaries")


def dev_history(metrics_file: Path) -> list[dict[str, Any]] | None:
    """The dev evaluations of a training run, one per epoch, from its ``metrics.jsonl``.

    Each ``eval`` line of split ``dev`` becomes ``{"epoch", "step", "entity": {"micro",
    "macro"}, "relation_strict": {...}, "relation_boundaries": {...}}`` (F1 in percent at the
    run config's decision rule, not at thresholds tuned afterwards), in epoch order. A resumed
    run may have evaluated an epoch twice (stopped after the evaluation, before the
    checkpoint); the later line is the one its model continued from. ``None`` when the file
    does not exist.

    Example:
        >>> import tempfile
        >>> line = {"event": "eval", "split": "dev", "epoch": 1, "step": 9,
        ...         "report": {"entity": {"micro": {"f1": 50.0}, "macro": {"f1": 40.0}}}}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "metrics.jsonl"
        ...     _ = path.write_text(json.dumps(line))
        ...     dev_history(path)
        [{'entity': {'macro': 40.0, 'micro': 50.0}, 'epoch': 1, 'step': 9}]
    """
    if not metrics_file.is_file():
        return None
    by_epoch: dict[int, dict[str, Any]] = {}
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if event.get("event") != "eval" or event.get("split") != "dev":
            continue
        report = event.get("report") or {}
        entry: dict[str, Any] = {"epoch": int(event["epoch"]), "step": event.get("step")}
        for setting in DEV_HISTORY_SETTINGS:
            if setting in report:
                entry[setting] = {
                    average: round(float(report[setting][average]["f1"]), 4)
                    for average in sorted(report[setting])
                    if average in ("micro", "macro")
                }
        by_epoch[entry["epoch"]] = dict(sorted(entry.items()))
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def offline_environment() -> None:
    """What a benchmark run needs, as the Makefile sets it: the project's data folder
    (``../shared/data`` beside the checkout, where the project's machines keep it) unless
    ``SPERTMT_DATA_DIR`` is set, and no Hugging Face downloads."""
    import os

    shared = ROOT.parent / "shared" / "data"
    if (shared / "conll04").is_dir():
        os.environ.setdefault("SPERTMT_DATA_DIR", str(shared))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
