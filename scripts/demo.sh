#!/usr/bin/env bash
# The main job, offline: dataset statistics, a short SpERT training run on CoNLL04 with the
# packaged MiniLM encoder, evaluation on the test split (both evaluator modes), and prediction
# on a few new sentences. Run it with `make demo` (which creates the environment first).
# DEMO_EPOCHS (default 5) trades time for accuracy; each epoch is about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
EPOCHS=${DEMO_EPOCHS:-5}
OUT=runs/demo
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}

DATA_DIR=${SPERTMT_DATA_DIR:-$HOME/.cache/spertmt/datasets}
if [ ! -d "$DATA_DIR/conll04" ]; then
  echo "CoNLL04 not found: set SPERTMT_DATA_DIR to a folder holding conll04/, or run" >&2
  echo "  $BIN/spertmt download conll04" >&2
  exit 1
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/5 Dataset statistics: spertmt stats conll04"
"$BIN/spertmt" stats conll04 --json "$OUT-stats.json"

step "2/5 Train SpERT on CoNLL04 train, MiniLM encoder, $EPOCHS epochs (SpERT's settings otherwise)"
rm -rf "$OUT"
"$BIN/spertmt" train configs/spert.toml --output "$OUT" \
  --set train.epochs="$EPOCHS" --set train.eval_every=0 --set data.dev=none

step "3/5 Score the trained model on the CoNLL04 test split: spertmt evaluate --model"
"$BIN/spertmt" evaluate --model "$OUT/model" --data conll04:test --json "$OUT/test_scores.json"

step "4/5 The same scores from the predictions file: spertmt evaluate --gold --pred --types"
"$BIN/spertmt" evaluate --gold "$DATA_DIR/conll04/conll04_test.json" \
  --pred "$OUT/predictions_test.json" --types "$DATA_DIR/conll04/conll04_types.json" \
  --json "$OUT/test_scores_from_file.json" > /dev/null
"$BIN/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
a = json.load(open(f"{out}/test_scores.json"))
b = json.load(open(f"{out}/test_scores_from_file.json"))
assert a == b, "the two evaluation modes disagree"
print("both modes agree: relation strict F1 (micro) = %.2f, entity F1 (micro) = %.2f"
      % (a["relation_strict"]["micro"]["f1"], a["entity"]["micro"]["f1"]))
PY

step "5/5 Predict new sentences (tokenised, then raw text to HTML): spertmt predict"
"$BIN/spertmt" predict --model "$OUT/model" examples/sentences.json -o "$OUT/examples_predictions.json"
"$BIN/python" - "$OUT/examples_predictions.json" <<'PY'
import json, sys
for doc in json.load(open(sys.argv[1])):
    tokens = doc["tokens"]
    print("\n" + " ".join(tokens))
    ents = doc["entities"]
    for e in ents:
        print(f"  entity   {e['type']:<6} {' '.join(tokens[e['start']:e['end']])!r} ({e['score']:.2f})")
    for r in doc["relations"]:
        h, t = ents[r["head"]], ents[r["tail"]]
        print(f"  relation {r['type']}: {' '.join(tokens[h['start']:h['end']])!r} -> "
              f"{' '.join(tokens[t['start']:t['end']])!r} ({r['score']:.2f})")
PY
"$BIN/spertmt" predict --model "$OUT/model" examples/news.txt -o "$OUT/news.html"
echo
echo "Done. Model: $OUT/model  Scores: $OUT/test_scores.json  Run log: $OUT/metrics.jsonl"
echo "Predictions on raw text, as a page for any browser: $OUT/news.html"
