#!/bin/bash
# The prediction sweep of this folder: SpERT's code at batch 1 (its fastest) and spertmt in
# each precision at batch 32 and 64, interleaved, three passes.
# Usage, from the spertmt checkout (with .venv), after run_side_by_side.sh:
#   bash benchmarks/results/side_by_side/2026-12-04_intel-xeon-amx_exact/sweep/sweep.sh RUN
# RUN: the tool's run folder (/tmp/spertbench/runs/<timestamp>); writes RUN/sweep/*.json.
set -u
RUN=$1
TOOL=${TOOL:-../shared/tools/spert_side_by_side}
DATA=${DATA:-../shared/data}
BENCH=${SPERTBENCH_DIR:-/tmp/spertbench}
TOOL=$(cd "$TOOL" && pwd); DATA=$(cd "$DATA" && pwd)
mkdir -p "$RUN/sweep"
for pass in 1 2 3; do
  env -C "$BENCH/spert_src" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$BENCH/venv/bin/python" \
    "$TOOL/bench_spert.py" eval --spert-dir "$BENCH/spert_src" \
    --timing-json "$RUN/sweep/spert_eval_pass$pass.json" --config "$RUN/spert_eval.conf" \
    > "$RUN/sweep/spert_eval_pass$pass.log" 2>&1
  for spec in "fp32:32:" "bf16:32:--precision bf16" "bf16:64:--precision bf16" \
      "int8bf16:32:--quantize --precision bf16" "int8bf16:64:--quantize --precision bf16"; do
    IFS=: read -r name b opts <<< "$spec"
    # shellcheck disable=SC2086  # opts holds several options
    SPERTBENCH_TIMING="$RUN/sweep/spertmt_${name}_b${b}_pass$pass.json" HF_HUB_OFFLINE=1 \
      .venv/bin/python "$TOOL/bench_spertmt.py" predict --model "$RUN/spertmt_run/model" \
      "$DATA/conll04/conll04_test.json" -o "$RUN/sweep/pred.json" --batch-size "$b" \
      --device cpu $opts > "$RUN/sweep/spertmt_${name}_b${b}_pass$pass.log" 2>&1
  done
  echo "pass $pass done $(date +%T)"
done
