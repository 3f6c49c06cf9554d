#!/usr/bin/env bash
# The main job: installs missing system packages, builds in release mode, and runs the quickstart
# experiment — it generates the default dataset if missing, compares concat and late fusion with
# the unimodal baselines, prints the comparison table and exports a notebook to notebooks-export/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product fusionlab
.build/release/fusionlab compare Experiments/quickstart.json --notebook "$@"
