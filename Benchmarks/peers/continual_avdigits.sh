#!/usr/bin/env bash
# continual-avdigits: `fusionlab update` on the real-data benchmark's two voice domains. For each
# seed: a parent trained on domain a (Experiments/avdigits/avdigits.json), then four updates on
# Datasets/avdigits-b: fine-tune only (--rehearsal 0), learning without forgetting (--lwf 0.5),
# rehearsal (--rehearsal 300, also with lr 0.003 and a cosine schedule) and the joint model
# trained from scratch on both (--from-scratch).
# Prints one line per run: accuracy on domain a's test split (the parent's) and on domain b's.
#   bash Benchmarks/peers/continual_avdigits.sh [seeds...]     (default 0 1 2; release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
FUSIONLAB=${FUSIONLAB:-.build/release/fusionlab}
SEEDS=${*:-0 1 2}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
for seed in $SEEDS; do
  "$FUSIONLAB" run Experiments/avdigits/avdigits.json --runs "$runs/s$seed" --set seed="$seed" -q > "$runs/parent.out"
  parent=$(sed -n 's/^run directory: //p' "$runs/parent.out")
  a=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accuracy'])" "$parent/metrics.json")
  b=$("$FUSIONLAB" evaluate "$parent" --dataset Datasets/avdigits-b --split test -q | python3 -c "import json,sys; print(json.load(sys.stdin)['accuracy'])")
  echo "seed $seed parent a $a b $b"
  for variant in "fine-tune:--rehearsal 0" "lwf:--rehearsal 0 --lwf 0.5" "rehearsal:--rehearsal 300" "rehearsal+lwf:--rehearsal 300 --lwf 0.5" "rehearsal-lr3-cosine:--rehearsal 300 --set training.lr=0.003 --set training.schedule.kind=cosine" "joint:--from-scratch"; do
    name=${variant%%:*}; flags=${variant#*:}
    # shellcheck disable=SC2086
    out=$("$FUSIONLAB" update "$parent" --data Datasets/avdigits-b --runs "$runs/s$seed" $flags -q)
    echo "seed $seed $name $(echo "$out" | head -1)"
  done
done
