#!/usr/bin/env bash
# The CoNLL04 experiment of the model issue, in the order it is run. Every run writes its own
# JSON to benchmarks/results/ and is skipped when that file exists, so the plan can be resumed
# across sessions: run it (or a part of it, e.g. `bash benchmarks/conll04_plan.sh spert`) and
# commit the new result files. One run is about 23 minutes on 2 cores (MiniLM, 20 epochs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export SPERTMT_DATA_DIR=${SPERTMT_DATA_DIR:-$(cd .. && pwd)/shared/data}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
what=${1:-all}
run() { "$PY" benchmarks/accuracy.py "$@" --threads 2; }

if [[ $what == all || $what == spert ]]; then
  run configs/spert.toml --variant spert --seeds 1 2 3
fi
if [[ $what == all || $what == spertmt ]]; then
  run configs/spertmt.toml --variant spertmt --seeds 1 2 3
fi
if [[ $what == all || $what == ablations ]]; then
  run configs/spertmt.toml --variant spertmt-no-AC --seeds 1 2 \
    --set model.entity_binary_head=false --set model.relation_binary_head=false
  run configs/spertmt.toml --variant spertmt-no-B --seeds 1 2 --set model.iou_mode=off
  run configs/spertmt.toml --variant spertmt-no-D --seeds 1 2 --set model.entity_logits_in_pair=false
  run configs/spertmt.toml --variant spertmt-B2 --seeds 1 2 --set model.iou_mode=soft_label
  run configs/spertmt.toml --variant spertmt-B3 --seeds 1 2 --set model.iou_mode=weight
  run configs/spertmt.toml --variant spertmt-no-shape --seeds 1 2 --set model.word_shape=false
fi
