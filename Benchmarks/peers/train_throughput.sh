#!/usr/bin/env bash
# train-avdigits: end-to-end training throughput of `fusionlab run` (batches read from the
# feature cache, the training loop; validation excluded) on the real-data benchmark
# (Experiments/avdigits/avdigits.json: LeNet + MFCC CNN + embedding bag, concat, batch 32)
# against the PyTorch twin's loop on the same exported features, at THREADS (default "1 2").
#   PYTHON=/path/to/venv/bin/python bash Benchmarks/peers/train_throughput.sh [--json]
# Needs Datasets/avdigits-a (scripts/datasets/make_avdigits.py) and a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
FUSIONLAB=${FUSIONLAB:-.build/release/fusionlab}
THREADS=${THREADS:-"1 2"}
EPOCHS=${EPOCHS:-5}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
for n in $THREADS; do
  out=$("$FUSIONLAB" run Experiments/avdigits/avdigits.json --runs "$runs" --set training.threads="$n" --set training.epochs="$EPOCHS" 2>/dev/null)
  seconds=$(echo "$out" | sed -nE 's/.* ([0-9.]+)s training\).*/\1/p')
  run=$(echo "$out" | sed -nE 's/^run directory: (.*)$/\1/p')
  samples=$(grep -c '"split":"train"' Datasets/avdigits-a/samples.jsonl)
  rate=$(python3 -c "print(round($samples * $EPOCHS / $seconds, 2))")
  echo "{\"workload\": \"train-avdigits\", \"system\": \"fusionlab\", \"threads\": $n, \"metric\": \"train_samples_per_sec\", \"value\": $rate}"
  "$PYTHON" Benchmarks/twin/twin.py throughput "$run" --threads "$n" --fusionlab "$FUSIONLAB" --json 2>/dev/null | grep -E '^\{' \
    | sed 's/"workload": "twin-train:[^"]*"/"workload": "train-avdigits"/'
done
