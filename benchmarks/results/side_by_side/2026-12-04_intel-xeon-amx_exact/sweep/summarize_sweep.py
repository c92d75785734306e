"""Print the sweep's table: SpERT's code at batch 1, spertmt's medians and their ratios.

Usage: python summarize_sweep.py [SWEEP_FOLDER]   (default: the folder of this file)
"""

import json
import statistics
import sys
from pathlib import Path

folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
spert = [
    json.loads(p.read_text())["eval_docs"][0] / json.loads(p.read_text())["eval_loop_s"]
    for p in sorted(folder.glob("spert_eval_pass*.json"))
]
mean = statistics.mean(spert)
print(f"SpERT's code, batch 1: {', '.join(f'{x:.2f}' for x in spert)} -> mean {mean:.2f}")
settings = sorted({p.name.rsplit("_pass", 1)[0] for p in folder.glob("spertmt_*_pass*.json")})
for setting in settings:
    rates = sorted(
        json.loads(p.read_text())["predict_docs"] / json.loads(p.read_text())["predict_s"]
        for p in folder.glob(f"{setting}_pass*.json")
    )
    median = statistics.median(rates)
    shown = ", ".join(f"{x:.1f}" for x in rates)
    print(f"{setting}: {shown} -> median {median:.1f}, {median / mean:.2f}x SpERT's code")
