"""Server load benchmark: ``spertmt serve`` under 50 concurrent clients, batching on and off.

On the loopback interface only, in bounded time. For each mode it starts ``spertmt serve`` on a
free port (its own process, ``OMP_NUM_THREADS`` as given), warms it up, and lets ``--clients``
client threads send ``--requests`` requests each, one after the other, in a seeded mixed order:

- **small valid**: one sentence (``{"texts": [...]}``), 60 % of the requests;
- **large valid**: one text of ``--large-sentences`` sentences, 10 %;
- **invalid JSON**: a body cut in the middle, 10 % (expected ``422`` ``E520``);
- **oversized**: a ``Content-Length`` over the server's ``limits.max_body_bytes``, 10 %
  (expected ``413`` ``E526``, before the body is read);
- **slow body**: the head and part of the body, then nothing, 10 % (expected ``408``
  ``E530`` after ``--body-timeout`` seconds).

Then, with the load over, ``--slow-heads`` sockets that send nothing or half a request head
(slow-loris) must be answered ``408`` ``E531`` and closed within ``--header-timeout``.

Each request opens its own connection. Per mode and round it records the status counts per
kind, the latency of small and large valid requests (p50, p90, p99, max), throughput, and the
server's resident memory after its first requests, after a warm-up (the same clients, four
valid requests each: the baseline of the growth), after the load and at its peak; per mode,
the rounds pooled. The modes are ``--max-batch-requests 32`` (dynamic batching,
``--batch-wait-ms``) and ``--max-batch-requests 1`` (each pass of the batcher holds one
request's sentences; requests still take turns pass by pass). ``--rounds`` runs every mode that
many times, in alternating order, each with a fresh server: on a machine shared with other
jobs, one run of each would measure the other jobs as much as the server.

It writes ``benchmarks/results/serve_load.json`` (command, git commit, CPU model and flags,
threads, versions, every number) with the targets: no 5xx, resident memory growth at most
10 %, and p99 of small valid requests at least 2× lower with batching than without.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/serve_load.py                 # untrained MiniLM SpERT
    OMP_NUM_THREADS=1 python benchmarks/serve_load.py --model runs/spert/model
    python benchmarks/serve_load.py --quick --model DIR               # smoke test

Without ``--model`` the model is SpERT over MiniLM built from ``configs/spert.toml``, untrained
(speed does not depend on trained weights but through the number of entities), with the
no-entity bias raised by ``UNTRAINED_NONE_BIAS`` and the relation biases lowered by
``UNTRAINED_RELATION_BIAS``, so that it tags (almost) nothing. Its random heads would otherwise
tag dozens of spans in some sentences and none in others: the pair stage, padded to the
largest entity count of a batch, would then dominate, where a trained model spends about 3 %
of its time there (``speed_minilm_cpu.json``: encoder 89 %, pairs 2-4 %). With no entities, the
cost is the encoder and the span stage, that of a trained model within a few percent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from records import RESULTS, git_commit, hardware, offline_environment, shown, versions, write_json  # noqa: E402

KINDS = ("small", "large", "invalid_json", "oversized", "slow_body")
MIX = {"small": 12, "large": 2, "invalid_json": 2, "oversized": 2, "slow_body": 2}
"""Requests of each kind in 20; scaled to ``--requests``."""
EXPECTED = {"small": 200, "large": 200, "invalid_json": 422, "oversized": 413, "slow_body": 408}
WARM_UP = (("small", "large", "small", "small"), ("small",) * 4)
"""The warm-up's request kinds, for even and odd clients."""
MODES = {"batching": 32, "no_batching": 1}
"""``--max-batch-requests`` of each mode."""
UNTRAINED_NONE_BIAS = 3.0
"""Added to the no-entity logit of the untrained model: it then tags (almost) no spans."""
UNTRAINED_RELATION_BIAS = -1.5
"""Added to the relation logits of the untrained model (for the spans it still tags)."""
TARGET_RSS_GROWTH = 0.10
TARGET_P99_GAIN = 2.0
FALLBACK_SENTENCES = [
    "John Smith lives in Paris and works for Acme Corp .",
    "The mayor of Berlin spoke to reporters in Munich on Friday .",
    "Mary Jones was born in London , England , on 3 May 1971 .",
    "Anna moved to Rome last year , where she works for the city .",
    "Bob met Carol near Lyon on his way to Geneva .",
    "The president of the company met the minister in Washington yesterday .",
    "Researchers at the university in Tokyo proposed a new method .",
    "Oswald was arrested in Dallas shortly after the shooting .",
]


# ---------------------------------------------------------------------------------- inputs
def load_sentences(spec: str, limit: int) -> tuple[list[str], str]:
    """Test sentences as raw text (words joined by spaces), or a built-in list without data."""
    try:
        from spertmt.data.datasets import resolve_dataset
        from spertmt.data.io import read_documents, read_types

        ref = resolve_dataset(spec)
        docs = read_documents(ref.path, types=read_types(ref.require_types()))
        sentences = [" ".join(d.tokens) for d in docs if 5 <= len(d.tokens) <= 60][:limit]
        if sentences:
            return sentences, spec
    except Exception as error:  # noqa: BLE001 - any data problem: fall back, and say so
        print(f"  ({spec} not available: {error}; using built-in sentences)", file=sys.stderr)
    return FALLBACK_SENTENCES, "built-in"


def build_untrained(workdir: Path, train_config: str, data: str) -> Path:
    """Save an untrained SpERT (``train_config``) whose heads predict sparsely."""
    import torch

    from spertmt.config import load_config
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_types
    from spertmt.encoding.encoders import load_tokenizer
    from spertmt.model.checkpoint import save_checkpoint
    from spertmt.model.spert import SpertMTModel

    config = load_config(train_config)
    types = read_types(resolve_dataset(data).require_types())
    torch.manual_seed(0)
    model = SpertMTModel.build(config.model, types).eval()
    with torch.no_grad():
        model.entity_classifier.bias[0] += UNTRAINED_NONE_BIAS  # class 0: no entity
        model.relation_classifier.bias += UNTRAINED_RELATION_BIAS
    folder = workdir / "untrained-model"
    save_checkpoint(
        folder, model, load_tokenizer(config.model.encoder), types=types, model_config=config.model
    )
    return folder


@dataclass
class Payloads:
    """The raw HTTP requests the clients send (each with ``Connection: close``)."""

    small: list[bytes]
    large: list[bytes]
    invalid_json: bytes
    oversized: bytes
    slow_body_head: bytes
    max_body_bytes: int = 0


def _post(body: bytes, *, length: int | None = None) -> bytes:
    declared = len(body) if length is None else length
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {declared}\r\n\r\n"
    )
    return head.encode("ascii") + body


def payloads(sentences: Sequence[str], large_sentences: int, max_body_bytes: int) -> Payloads:
    small = [_post(json.dumps({"texts": [s]}).encode("utf-8")) for s in sentences]
    large = []
    for start in range(0, len(sentences), large_sentences):
        chunk = list(sentences[start : start + large_sentences])
        while len(chunk) < large_sentences:
            chunk += sentences[: large_sentences - len(chunk)]
        large.append(_post(json.dumps({"texts": [" ".join(chunk)]}).encode("utf-8")))
    return Payloads(
        small=small,
        large=large[:20],
        invalid_json=_post(b'{"texts": ["Ann met Bob.", '),
        oversized=_post(b"", length=max_body_bytes + 1),
        slow_body_head=_post(b'{"texts": ["Ann met', length=200),
        max_body_bytes=max_body_bytes,
    )


# ---------------------------------------------------------------------------------- client
def exchange(port: int, data: bytes, *, timeout: float = 180.0) -> tuple[int, float]:
    """Send ``data`` on a new connection, read the answer to the end: (status, seconds).

    Status 0: no HTTP answer (refused, reset or timed out).
    """
    start = time.perf_counter()
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(data)
            while chunk := conn.recv(1 << 16):
                answer += chunk
    except OSError:
        if not answer:
            return 0, time.perf_counter() - start
    seconds = time.perf_counter() - start
    try:
        return int(answer.split(b" ", 2)[1]), seconds
    except (IndexError, ValueError):
        return 0, seconds


@dataclass
class Load:
    """What the clients saw."""

    statuses: dict[str, Counter[int]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    lock: threading.Lock = field(default_factory=threading.Lock)
    skipped: int = 0

    def add(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[kind][status] += 1
            self.latencies[kind].append(seconds)


def schedule(requests: int, seed: int) -> list[str]:
    """One client's request kinds, in the mix's proportions, in a seeded order."""
    total = sum(MIX.values())
    kinds = [k for k, n in MIX.items() for _ in range(round(n * requests / total))]
    kinds = (kinds + ["small"] * requests)[:requests]
    random.Random(seed).shuffle(kinds)
    return kinds


def client(
    port: int, number: int, kinds: Sequence[str], data: Payloads, load: Load, deadline: float
) -> None:
    """One client: requests of these kinds, one after the other, until ``deadline``."""
    rng = random.Random(1000 + number)
    for kind in kinds:
        if time.monotonic() > deadline:
            with load.lock:
                load.skipped += 1
            continue
        if kind == "small":
            status, seconds = exchange(port, rng.choice(data.small))
        elif kind == "large":
            status, seconds = exchange(port, rng.choice(data.large))
        elif kind == "invalid_json":
            status, seconds = exchange(port, data.invalid_json)
        elif kind == "oversized":
            status, seconds = exchange(port, data.oversized)
        else:
            status, seconds = exchange(port, data.slow_body_head)
        load.add(kind, status, seconds)


def clients_load(
    port: int, data: Payloads, schedules: Sequence[Sequence[str]], deadline: float
) -> tuple[Load, float]:
    """One concurrent client per schedule (its request kinds): what they saw, wall time."""
    load = Load()
    start = time.perf_counter()
    threads = [
        threading.Thread(target=client, args=(port, n, kinds, data, load, deadline))
        for n, kinds in enumerate(schedules)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return load, time.perf_counter() - start


def slow_heads(port: int, count: int, timeout: float) -> dict[str, Any]:
    """Open ``count`` sockets that send nothing or half a head; how many the server closed."""
    sockets = []
    for index in range(count):
        conn = socket.create_connection(("127.0.0.1", port), timeout=timeout + 5)
        if index % 2:
            conn.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        sockets.append(conn)
    start = time.perf_counter()
    answered, closed, took = Counter(), 0, []
    for conn in sockets:
        answer = b""
        try:
            while chunk := conn.recv(1 << 16):
                answer += chunk
            closed += 1
            took.append(time.perf_counter() - start)
        except OSError:
            pass
        finally:
            conn.close()
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
        answered[status] += 1
    return {
        "sockets": count,
        "closed_by_server": closed,
        "statuses": {str(k): v for k, v in sorted(answered.items())},
        "all_closed_within_s": round(max(took), 3) if took else None,
    }


# ---------------------------------------------------------------------------------- server
def rss_mb(pid: int) -> dict[str, float | None]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
    out: dict[str, float | None] = {"rss_mb": None, "peak_mb": None}
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("VmHWM:"):
                out["peak_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time the process has used, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(
    args: argparse.Namespace, model: Path, port: int, max_requests: int
) -> list[str]:
    return [
        sys.executable, "-m", "spertmt", "serve", "--model", str(model), "--device", "cpu",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--batch-wait-ms", str(args.batch_wait_ms), "--max-batch-requests", str(max_requests),
        "--body-timeout", str(args.body_timeout), "--header-timeout", str(args.header_timeout),
        *(["--batch-size", str(args.batch_size)] if args.batch_size else []),
        *(["--max-batch-sentences", str(args.max_batch_sentences)]
          if args.max_batch_sentences else []),
    ]  # fmt: skip


def start_server(command: list[str], log: Path, threads: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    out = log.open("w", encoding="utf-8")
    return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_ready(server: subprocess.Popen, port: int, log: Path, limit: float = 300.0) -> dict:
    deadline = time.monotonic() + limit
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early:\n{log.read_text(encoding='utf-8')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=5) as answer:
                return json.loads(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                text = log.read_text(encoding="utf-8")
                raise SystemExit(f"no /info within {limit:g} s:\n{text}") from None
            time.sleep(0.25)


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "n": len(ordered),
        "mean_ms": round(1000 * statistics.fmean(ordered), 1),
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": round(1000 * ordered[-1], 1),
    }


def run_mode(
    name: str, args: argparse.Namespace, model: Path, data_for: Any, workdir: Path
) -> tuple[Load, dict]:
    load_before = os.getloadavg()  # other jobs on the machine compete with the server
    port = free_port()
    command = server_command(args, model, port, MODES[name])
    log = workdir / f"server-{name}.log"
    server = start_server(command, log, args.threads)
    try:
        info = wait_ready(server, port, log)
        data: Payloads = data_for(info["limits"]["max_body_bytes"])
        for body in data.small[:5] + data.large[:1]:  # first passes are slower
            exchange(port, body)
        started = rss_mb(server.pid)
        # Warm-up: the same clients, four valid requests each (a large one for every other
        # client), so that the allocator and caches reach the sizes this load needs; memory
        # growth is counted from there.
        deadline = time.monotonic() + args.time_limit
        warm = [WARM_UP[n % 2] for n in range(args.clients)]
        clients_load(port, data, warm, deadline)
        before = rss_mb(server.pid)
        cpu_before = cpu_seconds(server.pid)
        schedules = [schedule(args.requests, n) for n in range(args.clients)]
        load, wall = clients_load(port, data, schedules, deadline)
        after = rss_mb(server.pid)
        cpu_after = cpu_seconds(server.pid)
        heads = slow_heads(port, args.slow_heads, args.header_timeout)
        healthy = exchange(port, data.small[0])[0] == 200
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    statuses = {k: {str(s): n for s, n in sorted(c.items())} for k, c in load.statuses.items()}
    every = Counter()
    for counter in load.statuses.values():
        every.update(counter)
    unexpected = {
        kind: {str(s): n for s, n in c.items() if s != EXPECTED[kind]}
        for kind, c in load.statuses.items()
        if any(s != EXPECTED[kind] for s in c)
    }
    done = sum(every.values())
    growth = None
    if before["rss_mb"] and after["rss_mb"]:
        growth = round(after["rss_mb"] / before["rss_mb"] - 1, 4)
    log_text = log.read_text(encoding="utf-8")
    return load, {
        "server_command": " ".join(shlex.quote(part) for part in command[1:]),
        "server_info": {"limits": info["limits"], "batching": info["batching"]},
        "max_batch_requests": MODES[name],
        "requests": done,
        "skipped_after_time_limit": load.skipped,
        "wall_s": round(wall, 2),
        "requests_per_s": round(done / wall, 2) if wall else None,
        "server_cpu_s": None
        if cpu_before is None or cpu_after is None
        else round(cpu_after - cpu_before, 2),
        "statuses": statuses,
        "status_totals": {str(s): n for s, n in sorted(every.items())},
        "unexpected_statuses": unexpected,
        "server_errors_5xx": sum(n for s, n in every.items() if 500 <= s < 600),
        "no_answer": every.get(0, 0),
        "latency_small_valid": percentiles(load.latencies["small"]),
        "latency_large_valid": percentiles(load.latencies["large"]),
        "latency_slow_body": percentiles(load.latencies["slow_body"]),
        "latency_oversized": percentiles(load.latencies["oversized"]),
        "warm_up": {"clients": len(warm), "schedules": WARM_UP},
        "memory": {
            "rss_after_first_requests_mb": started["rss_mb"],
            "rss_before_mb": before["rss_mb"],
            "rss_after_mb": after["rss_mb"],
            "rss_growth": growth,
            "peak_mb": after["peak_mb"],
        },
        "slow_heads": heads,
        "healthy_after": healthy,
        "load_average_1min": {
            "before": round(load_before[0], 2),
            "after": round(os.getloadavg()[0], 2),
        },
        "tracebacks_in_log": log_text.count("Traceback"),
    }


# ---------------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> Path:
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        workdir = Path(tmp)
        model = (
            Path(args.model)
            if args.model
            else build_untrained(workdir, args.train_config, args.data)
        )
        sentences, source = load_sentences(args.data, 400)
        rounds: dict[str, list[tuple[Load, dict]]] = {name: [] for name in args.modes}
        for number in range(args.rounds):
            # Alternate the order: the other jobs of the machine drift over minutes.
            order = args.modes if number % 2 == 0 else list(reversed(args.modes))
            for name in order:
                print(
                    f"- round {number + 1}, {name}: {args.clients} clients × {args.requests} "
                    "requests",
                    file=sys.stderr,
                )
                load, summary = run_mode(
                    name,
                    args,
                    model,
                    lambda limit: payloads(sentences, args.large_sentences, limit),
                    workdir,
                )
                rounds[name].append((load, summary))
                small = summary["latency_small_valid"]
                print(
                    f"  {summary['status_totals']}; small valid p50 {small['p50_ms']} ms, "
                    f"p99 {small['p99_ms']} ms; {summary['wall_s']} s",
                    file=sys.stderr,
                )
    modes = {name: pooled(name, results) for name, results in rounds.items()}
    record = header(args, source, sentences)
    record["modes"] = modes
    record["targets"] = targets(modes)
    output = Path(args.output) if args.output else RESULTS / "serve_load.json"
    write_json(output, record)
    print(f"wrote {shown(output)}", file=sys.stderr)
    return output


def pooled(name: str, results: list[tuple[Load, dict]]) -> dict:
    """One mode over all its rounds: statuses summed, latencies pooled, the worst memory."""
    statuses: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS}
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for load, _ in results:
        for kind in KINDS:
            statuses[kind].update(load.statuses[kind])
            latencies[kind].extend(load.latencies[kind])
    every: Counter[int] = Counter()
    for counter in statuses.values():
        every.update(counter)
    summaries = [summary for _, summary in results]
    wall = sum(summary["wall_s"] for summary in summaries)
    cpu = [summary["server_cpu_s"] for summary in summaries]
    done = sum(every.values())
    growths = [s["memory"]["rss_growth"] for s in summaries]
    return {
        "max_batch_requests": MODES[name],
        "rounds": summaries,
        "requests": done,
        "wall_s": round(wall, 2),
        "requests_per_s": round(done / wall, 2) if wall else None,
        "server_cpu_s": None if None in cpu else round(sum(cpu), 2),
        "statuses": {k: {str(s): n for s, n in sorted(c.items())} for k, c in statuses.items()},
        "status_totals": {str(s): n for s, n in sorted(every.items())},
        "server_errors_5xx": sum(n for s, n in every.items() if 500 <= s < 600),
        "no_answer": every.get(0, 0),
        "latency_small_valid": percentiles(latencies["small"]),
        "latency_large_valid": percentiles(latencies["large"]),
        "memory": {
            "rss_growth": None if None in growths else max(growths),
            "peak_mb": max(s["memory"]["peak_mb"] or 0 for s in summaries),
        },
        "tracebacks_in_log": sum(s["tracebacks_in_log"] for s in summaries),
    }


def header(args: argparse.Namespace, source: str, sentences: Sequence[str]) -> dict:
    return {
        "benchmark": "serve_load",
        "command": " ".join(
            shlex.quote(a)
            for a in [
                f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}",
                "python",
                "benchmarks/serve_load.py",
                *args.argv,
            ]
        ),  # fmt: skip
        "quick": args.quick,
        "git_commit": git_commit(),
        "hardware": hardware(),
        "server_threads": args.threads,
        "versions": versions(),
        "model": {
            "path": args.model,
            "untrained": args.model is None,
            "train_config": None if args.model else args.train_config,
            "untrained_none_bias": None if args.model else UNTRAINED_NONE_BIAS,
            "untrained_relation_bias": None if args.model else UNTRAINED_RELATION_BIAS,
        },
        "config": {
            "clients": args.clients,
            "requests_per_client": args.requests,
            "mix_per_20": MIX,
            "expected_status": EXPECTED,
            "large_sentences": args.large_sentences,
            "batch_wait_ms": args.batch_wait_ms,
            "batch_size": args.batch_size,
            "max_batch_sentences": args.max_batch_sentences,
            "body_timeout_s": args.body_timeout,
            "header_timeout_s": args.header_timeout,
            "slow_heads": args.slow_heads,
            "time_limit_s": args.time_limit,
            "rounds": args.rounds,
            "modes": {name: MODES[name] for name in args.modes},
            "sentences": {
                "source": source,
                "count": len(sentences),
                "mean_chars": round(statistics.fmean(map(len, sentences)), 1),
            },
            "connections": "one per request (Connection: close)",
        },
    }


def targets(modes: dict[str, dict]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "no_5xx": all(m["server_errors_5xx"] == 0 for m in modes.values()),
        "rss_growth_at_most": TARGET_RSS_GROWTH,
        "rss_growth_ok": all(
            m["memory"]["rss_growth"] is not None and m["memory"]["rss_growth"] <= TARGET_RSS_GROWTH
            for m in modes.values()
        ),
        "p99_gain_at_least": TARGET_P99_GAIN,
    }
    if "batching" in modes and "no_batching" in modes:
        on = modes["batching"]["latency_small_valid"]
        off = modes["no_batching"]["latency_small_valid"]
        if on["p99_ms"] and off["p99_ms"]:
            out["p99_gain_small_valid"] = round(off["p99_ms"] / on["p99_ms"], 2)
            out["p50_gain_small_valid"] = round(off["p50_ms"] / on["p50_ms"], 2)
            out["throughput_gain"] = round(
                modes["batching"]["requests_per_s"] / modes["no_batching"]["requests_per_s"], 2
            )
            out["p99_gain_ok"] = out["p99_gain_small_valid"] >= TARGET_P99_GAIN
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint folder (default: untrained MiniLM SpERT)")
    parser.add_argument("--data", default="conll04:test", help="sentences (default conll04:test)")
    parser.add_argument("--train-config", default=str(ROOT / "configs" / "spert.toml"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--large-sentences", type=int, default=20, help="sentences per large")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, help="server's --batch-size (default: its own)")
    parser.add_argument(
        "--max-batch-sentences", type=int, help="server's --max-batch-sentences (default: its own)"
    )
    parser.add_argument("--body-timeout", type=float, default=2.0)
    parser.add_argument("--header-timeout", type=float, default=2.0)
    parser.add_argument("--slow-heads", type=int, default=100, help="slow-loris sockets")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per mode")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of every mode, in alternating order"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 6 clients × 10 requests, 1 round"
    )
    parser.add_argument("--output", help="result file (default benchmarks/results/serve_load.json)")
    args = parser.parse_args(list(argv))
    args.argv = list(argv)
    if args.quick:  # smaller defaults; options given explicitly still count
        quick = {"clients": 6, "requests": 10, "slow_heads": 4, "rounds": 1, "large_sentences": 4}
        for key, value in quick.items():
            if f"--{key.replace('_', '-')}" not in argv:
                setattr(args, key, value)
    return args


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    offline_environment()
    return run(args)


if __name__ == "__main__":
    main()
