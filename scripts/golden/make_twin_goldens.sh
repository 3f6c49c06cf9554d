#!/usr/bin/env bash
# Regenerates the forward-parity goldens of Tests/FusionConfigTests/TwinForwardTests.swift:
# the PyTorch twin builds each experiment (Tests/FusionConfigTests/Golden/twin_*.json),
# takes 4 test samples of the default dataset as a batch and writes its weights, the batch and
# its logits. Needs a Python with torch and safetensors (PYTHON) and a built fusionlab.
#   PYTHON=/path/to/venv/bin/python bash scripts/golden/make_twin_goldens.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
FUSIONLAB=${FUSIONLAB:-.build/release/fusionlab}
[ -f Datasets/default/dataset.json ] || "$FUSIONLAB" generate-dataset Datasets/default
for name in kitchen lenet_gru_bow; do
  features=$(mktemp -d)
  "$PYTHON" Benchmarks/twin/twin.py forward-golden "Tests/FusionConfigTests/Golden/twin_$name.json" --fusionlab "$FUSIONLAB" \
    --features "$features" --out "Tests/FusionConfigTests/Golden/twin_$name.safetensors" --vary-presence
  rm -rf "$features"
done
