"""Ray Data throughput with 1 and 2 workers: ``BatchPredictor`` over a JSON Lines corpus.

For each worker count (``--workers``, default 1 and 2) it starts a local Ray cluster in a
process of its own, maps ``--documents`` short documents through
:class:`spertmt.inference.batches.BatchPredictor` (one actor per worker, one CPU and
``OMP_NUM_THREADS=1`` each) and records the wall time of the pipeline (reading, prediction,
collecting; not the cluster start) and documents per second. The model is the tiny untrained
one of ``predict_stream.py`` unless ``--model`` is given.

It writes ``benchmarks/results/ray_scaling.json`` (command, git commit, CPU model and flags,
versions, every number). On a machine shared with other jobs the speed-up is a lower bound.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/ray_scaling.py
    python benchmarks/ray_scaling.py --documents 2000 --out /tmp/ray.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_stream import tiny_checkpoint, write_input  # noqa: E402
from records import RESULTS, ROOT, git_commit, hardware, shown, versions, write_json  # noqa: E402

PIPELINE = """
import json, sys, time
import ray
from spertmt.inference.batches import BatchPredictor

source, model, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
ray.init(num_cpus=workers + 2, include_dashboard=False, log_to_driver=False)
started = time.perf_counter()
rows = ray.data.read_json(source).map_batches(
    BatchPredictor,
    fn_constructor_kwargs={"model_dir": model, "batch_size": 32, "device": "cpu"},
    batch_size=256,
    concurrency=workers,
    num_cpus=1,
).take_all()
wall = time.perf_counter() - started
ray.shutdown()
ids = {int(row["orig_id"]) for row in rows}
print(json.dumps({"rows": len(rows), "ids": len(ids), "wall_s": wall}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="checkpoint (default: a tiny untrained one)")
    parser.add_argument("--documents", type=int, default=20000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--out", type=Path, default=RESULTS / "ray_scaling.json")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model = args.model if args.model is not None else tiny_checkpoint(work)
        source = work / "corpus.jsonl"
        write_input(source, args.documents, "jsonl")
        for workers in [int(w) for w in args.workers.split(",")]:
            done = subprocess.run(
                [sys.executable, "-c", PIPELINE, str(source), str(model), str(workers)],
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"{workers} workers failed: {done.stderr[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if result["rows"] != args.documents or result["ids"] != args.documents:
                raise SystemExit(f"{workers} workers: {result} for {args.documents} documents")
            result.update(
                workers=workers,
                wall_s=round(result["wall_s"], 2),
                documents_per_s=round(args.documents / result["wall_s"], 1),
            )
            runs.append(result)
            print(json.dumps(result), flush=True)
    base = runs[0]["documents_per_s"]
    record = {
        "benchmark": "ray_scaling",
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "git_commit": git_commit(),
        "hardware": hardware(),
        "versions": versions(),
        "model": "tiny untrained (tags nothing)" if args.model is None else str(args.model),
        "config": {"documents": args.documents, "batch_size_rows": 256, "batch_size": 32},
        "runs": runs,
        "speedup": {str(r["workers"]): round(r["documents_per_s"] / base, 2) for r in runs},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    write_json(args.out, record)
    print(f"wrote {shown(args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
