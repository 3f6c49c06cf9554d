#!/usr/bin/env bash
# int8-avdigits: post-training int8 quantization on the real-data benchmark
# (Experiments/avdigits/avdigits.json), FusionLab (oneDNN) against PyTorch (fbgemm/x86 static
# convolutions + quantize_dynamic Linear) on the same trained weights and test split:
# batch-256 inference samples/s of both float and int8 models, and int8 test accuracy, at
# THREADS (default "1 2"). See Benchmarks/peers/quantize_peer.py.
#   PYTHON=/path/to/venv/bin/python bash Benchmarks/peers/int8_avdigits.sh
# Needs Datasets/avdigits-a (scripts/datasets/make_avdigits.py) and a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
FUSIONLAB=${FUSIONLAB:-.build/release/fusionlab}
THREADS=${THREADS:-"1 2"}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
"$FUSIONLAB" run Experiments/avdigits/avdigits.json --runs "$runs" -q >/dev/null
run=$(ls -d "$runs"/avdigits/*/ | head -1)
for n in $THREADS; do
  "$PYTHON" Benchmarks/peers/quantize_peer.py "$run" --threads "$n" --fusionlab "$FUSIONLAB" --json-lines 2>/dev/null | grep -E '^\{'
done
