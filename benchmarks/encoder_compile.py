"""Does ``torch.compile`` speed up the encoder on this CPU? Eager against compiled, one run.

The encoder is 88-95 % of prediction time (docs/speed.md), so this times the bare encoder
forward pass on exactly the batches prediction builds (length-sorted, same padding, the
CoNLL04 test sentences), in fp32 under ``inference_mode``: eager, then
``torch.compile(dynamic=True)`` (Inductor; one compilation for every batch shape) and, with
``--static``, ``torch.compile()`` (a compilation per shape). The first pass over the batches
is timed apart (it holds the compilation); the speed is the median of ``--repeats`` passes
after it. Each mode runs in its own process, so one cannot warm the other.

Usage::

    SPERTMT_DATA_DIR=../shared/data python benchmarks/encoder_compile.py --threads 1

Writes ``benchmarks/results/encoder_compile_<cpu>_threads<N>.json`` (command, commit, CPU
model and flags, versions, every number).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from records import RESULTS, git_commit, hardware, versions, write_json  # noqa: E402

MODES = ("eager", "compile-dynamic", "compile-static")


def _measure(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Time one mode in this process."""
    import torch

    from spertmt.config import ModelConfig
    from spertmt.data.datasets import resolve_dataset
    from spertmt.data.io import read_documents
    from spertmt.encoding.encoders import load_encoder, load_tokenizer
    from spertmt.encoding.features import pad_id, prepare_documents
    from spertmt.inference.predictor import length_sorted_batches
    from spertmt.sampling import inference_batch
    from spertmt.schema import Document

    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(args.encoder)
    encoder = load_encoder(args.encoder).eval()
    docs = read_documents(resolve_dataset(args.data).path)
    units = [Document(tokens=d.tokens) for d in docs if d.tokens]
    prepared = prepare_documents(units, tokenizer)
    config = ModelConfig(encoder=args.encoder)
    batches = [
        inference_batch([prepared[i] for i in chosen], config, pad_id=pad_id(tokenizer))
        for chosen in length_sorted_batches([p.num_pieces for p in prepared], args.batch_size)
    ]
    forward = encoder
    if mode == "compile-dynamic":
        forward = torch.compile(encoder, dynamic=True)
    elif mode == "compile-static":
        forward = torch.compile(encoder)

    def one_pass() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                forward(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        return time.perf_counter() - start

    first = one_pass()
    times = sorted(one_pass() for _ in range(args.repeats))
    median = times[len(times) // 2]
    return {
        "mode": mode,
        "sentences": len(units),
        "batches": len(batches),
        "first_pass_seconds": round(first, 2),
        "seconds_all": [round(t, 3) for t in times],
        "sentences_per_s": round(len(units) / median, 2),
    }


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--data", default="conll04:test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--static", action="store_true", help="also compile per shape")
    parser.add_argument("--output", help="result file (default benchmarks/results/...)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.child, args)))
        sys.exit(0)
    modes = [m for m in MODES if m != "compile-static" or args.static]
    rows = []
    for mode in modes:
        child = [sys.executable, __file__, "--child", mode, *(argv or sys.argv[1:])]
        print(f"{mode} ...", file=sys.stderr, flush=True)
        done = subprocess.run(child, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{mode} failed:\n{done.stderr[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    eager = rows[0]["sentences_per_s"]
    for row in rows:
        row["x_eager"] = round(row["sentences_per_s"] / eager, 3)
    machine = hardware()
    cpu = "-".join(machine["cpu"].lower().split()[:3]).replace("(r)", "").replace("(tm)", "")
    out = Path(args.output or RESULTS / f"encoder_compile_{cpu}_threads{args.threads}.json")
    write_json(
        out,
        {
            "command": " ".join(["python", "benchmarks/encoder_compile.py", *sys.argv[1:]]),
            "git_commit": git_commit(),
            "hardware": {**machine, "torch_threads": args.threads},
            "versions": versions(),
            "encoder": args.encoder,
            "data": args.data,
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "rows": rows,
        },
    )
    print(f"wrote {out}", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
