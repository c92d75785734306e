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
# SpERT.MT's inference thresholds are chosen per run on the dev split (never on test).
# Each grid was widened whenever dev chose its edge value: τ_r to 0.9 (dev chose 0.7, the first
# grid's edge, for every seed), the relation threshold and τ_e to 0.9 (dev chose 0.5 and
# 0.7-0.8, the edges of the earlier grids; seed 3 still chose τ_e 0.9).
RT=model.relation_threshold=0.3,0.4,0.5,0.6,0.7,0.8,0.9
# The runs before the overlap step kept overlapping entities and, before the score-modes step,
# used the gate rule for entities (the preset's settings then; both are inference-only): ALLOW
# and GATE keep them reproducible now that the preset's settings changed.
ALLOW=(--set model.entity_overlap=allow)
GATE=(--set model.entity_score=gate "${ALLOW[@]}")
TUNE=("${GATE[@]}" --tune-grid model.entity_threshold=0.4,0.5,0.6,0.7,0.8,0.9
      --tune-grid model.iou_threshold=0.0,0.5
      --tune-grid model.relation_binary_threshold=0.5,0.7,0.8,0.9 --tune-grid "$RT")

if [[ $what == all || $what == spert ]]; then
  run configs/spert.toml --variant spert --seeds 1 2 3
  # The same runs with SpERT's relation threshold chosen on dev too, for a like-for-like
  # comparison with SpERT.MT's tuned thresholds (no training).
  run configs/spert.toml --variant spert-dev-tuned --run-of spert --seeds 1 2 3 --tune-grid "$RT"
fi
if [[ $what == all || $what == spertmt ]]; then
  run configs/spertmt.toml --variant spertmt --seeds 1 2 3 "${TUNE[@]}"
fi
if [[ $what == all || $what == ablations ]]; then
  # Seed-major: every variant gets seed 1 before any gets seed 2, so a partial plan still
  # covers every component.
  for seed in 1 2; do
    run configs/spertmt.toml --variant spertmt-no-AC --seeds $seed \
      --set model.entity_binary_head=false --set model.relation_binary_head=false "${GATE[@]}" \
      --tune-grid model.iou_threshold=0.0,0.5 --tune-grid "$RT"
    run configs/spertmt.toml --variant spertmt-no-B --seeds $seed --set model.iou_mode=off "${TUNE[@]}"
    run configs/spertmt.toml --variant spertmt-no-D --seeds $seed \
      --set model.entity_logits_in_pair=false "${TUNE[@]}"
    run configs/spertmt.toml --variant spertmt-B2 --seeds $seed --set model.iou_mode=soft_label \
      "${TUNE[@]}"
    run configs/spertmt.toml --variant spertmt-B3 --seeds $seed --set model.iou_mode=weight \
      "${TUNE[@]}"
    run configs/spertmt.toml --variant spertmt-no-shape --seeds $seed \
      --set model.word_shape=false "${TUNE[@]}"
  done
  # A third seed for the word-shape switch: its relation effect changed sign between seeds 1, 2.
  run configs/spertmt.toml --variant spertmt-no-shape --seeds 3 --set model.word_shape=false \
    "${TUNE[@]}"
fi
if [[ $what == all || $what == weights ]]; then
  # Loss weights, chosen on dev like the thresholds, screened on seed 1: a candidate whose dev
  # relation F1 is below the preset's on the same seed (65.29; seeds 1-3 range 65.03-65.29) is
  # dropped, one that beats it gets seeds 2 and 3. Dropped: λ_C = 2 (63.92), λ_C = 0.5 (63.05),
  # λ_B = 0.5 (64.80; B1's soft-target BCE is ~90% of the final training loss), λ_B = 2 (64.12),
  # λ_A = 0.5 (64.55).
  for variant_weight in rel2:relation=2.0 rel0.5:relation=0.5 iou0.5:iou=0.5 iou2:iou=2.0 \
      ent0.5:entity=0.5; do
    variant=${variant_weight%%:*} weight=${variant_weight#*:}
    run configs/spertmt.toml --variant "spertmt-lambda-$variant" --seeds 1 \
      --set "model.lambda_${weight%%=*}=${weight#*=}" "${TUNE[@]}"
  done
fi
if [[ $what == all || $what == screen ]]; then
  # The other training-time settings not chosen yet, screened the same way as the weights
  # (seed 1, dev relation F1 against the preset's 65.29): B1's loss as MSE instead of BCE
  # (65.32: beats it, so it gets seeds 2 and 3 below), D with softmax probabilities instead of
  # logits (64.08: dropped), and λ_A = 2 (65.65: beats it, so it gets seeds 2 and 3 below).
  run configs/spertmt.toml --variant spertmt-iou-mse --seeds 1 --set model.iou_loss=mse "${TUNE[@]}"
  run configs/spertmt.toml --variant spertmt-pair-probs --seeds 1 \
    --set model.pair_entity_feature=probs "${TUNE[@]}"
  run configs/spertmt.toml --variant spertmt-lambda-ent2 --seeds 1 --set model.lambda_entity=2.0 \
    "${TUNE[@]}"
  # A's other reading in method.md §3: the typed classifier's loss on positives plus
  # down-weighted negatives (weight 0.5; the preset keeps SpERT's 1): 64.90, dropped.
  run configs/spertmt.toml --variant spertmt-neg-half --seeds 1 \
    --set model.entity_negative_weight=0.5 "${TUNE[@]}"
fi
if [[ $what == all || $what == confirm ]]; then
  # A screened setting that beat the preset on seed-1 dev, with seeds 2 and 3: it replaces the
  # preset's setting only if its dev relation F1 averaged over seeds 1-3, at the one threshold
  # setting that is best on that average (how the preset's thresholds are chosen), beats the
  # preset's (65.02; docs/results.md, "One threshold setting per variant").
  # B1 with MSE: 64.74, so BCE stays. λ_A = 2: 64.58, so λ_A stays 1.
  for seed in 2 3; do
    run configs/spertmt.toml --variant spertmt-iou-mse --seeds $seed --set model.iou_loss=mse \
      "${TUNE[@]}"
    run configs/spertmt.toml --variant spertmt-lambda-ent2 --seeds $seed \
      --set model.lambda_entity=2.0 "${TUNE[@]}"
  done
fi
if [[ $what == all || $what == score-modes ]]; then
  # The entity decision rule is inference-only too: choose it on dev with the thresholds
  # (gate: p_entity >= τ_e and IoU >= τ_iou; product: p_type·p_entity·IoU >= τ_e), on the
  # preset's own runs (no training).
  run configs/spertmt.toml --variant spertmt-score-modes --run-of spertmt --seeds 1 2 3 "${ALLOW[@]}" \
    --tune-grid model.entity_score=gate,product \
    --tune-grid model.entity_threshold=0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 \
    --tune-grid model.iou_threshold=0.0,0.5 --tune-grid model.relation_binary_threshold=0.5,0.7,0.8,0.9 \
    --tune-grid "$RT"
fi
if [[ $what == all || $what == rel-modes ]]; then
  # The relation decision rule (C) is inference-only too: the product rule (p_type·p_pair >=
  # relation threshold; τ_r unused) against the gate rule of the score-modes grid (65.21), on
  # the preset's runs, with the same entity grid: 64.57, so the gate rule stays.
  run configs/spertmt.toml --variant spertmt-rel-product --run-of spertmt --seeds 1 2 3 \
    --set model.relation_score=product "${ALLOW[@]}" --tune-grid model.entity_score=gate,product \
    --tune-grid model.entity_threshold=0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 \
    --tune-grid model.iou_threshold=0.0,0.5 --tune-grid model.relation_threshold=0.2,0.3,0.4,0.5,0.6,0.7,0.8
fi
if [[ $what == all || $what == overlap ]]; then
  # Overlap resolution is inference-only too (CoNLL04's entities never overlap): of kept spans
  # that share a word only the best-scoring survive. The score-modes grid with it on, on the
  # preset's runs, against that grid without it (65.21): 66.36, so the preset resolves overlaps.
  run configs/spertmt.toml --variant spertmt-flat --run-of spertmt --seeds 1 2 3 \
    --set model.entity_overlap=resolve --tune-grid model.entity_score=gate,product \
    --tune-grid model.entity_threshold=0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 \
    --tune-grid model.iou_threshold=0.0,0.5 --tune-grid model.relation_binary_threshold=0.5,0.7,0.8,0.9 \
    --tune-grid "$RT"
  # The same decoding step for SpERT's runs (relation threshold chosen on dev, as for
  # spert-dev-tuned): how much of SpERT.MT's gain the decoding step alone would give SpERT.
  run configs/spert.toml --variant spert-flat --run-of spert --seeds 1 2 3 \
    --set model.entity_overlap=resolve --tune-grid "$RT"
fi
if [[ $what == all || $what == preset ]]; then
  # The preset's one setting (configs/spertmt.toml: the best dev average of the overlap grid
  # above) on the preset's runs, the headline row. With the gate rule and an IoU threshold of
  # 0.0 the IoU head's output is not used at inference: B1 acts through training only.
  run configs/spertmt.toml --variant spertmt-preset-thresholds --run-of spertmt --seeds 1 2 3 \
    --force --tune-grid model.entity_overlap=resolve --tune-grid model.entity_score=gate \
    --tune-grid model.entity_threshold=0.5 --tune-grid model.iou_threshold=0.0 \
    --tune-grid model.relation_binary_threshold=0.7 --tune-grid model.relation_threshold=0.6
fi
