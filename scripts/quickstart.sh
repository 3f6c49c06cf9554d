#!/usr/bin/env bash
# The main job: installs missing system packages, builds in release mode, runs the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product fusionlab
.build/release/fusionlab demo "$@"
