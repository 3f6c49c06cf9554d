#!/usr/bin/env bash
# Fetches Python packages a test needs into .build/<name>-python (pip --target), once:
#   bash scripts/fetch-python-tools.sh notebook nbconvert ipykernel pandas matplotlib   # executing exported notebooks
#   bash scripts/fetch-python-tools.sh onnx onnx onnxruntime numpy safetensors librosa pillow soundfile tokenizers
#                                       # checking ONNX exports, also from raw files (onnx_check.py --raw)
# The tests put that folder on PYTHONPATH and skip, saying why, when it is missing. Needs python3
# with pip and access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: fetch-python-tools.sh NAME PACKAGE..." >&2; exit 2; }
name=$1; shift
dest=.build/$name-python
# The marker holds the package list, so a folder fetched for a shorter list is fetched again.
if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$*" ]; then exit 0; fi
rm -rf "$dest"
python3 -m pip install --quiet --disable-pip-version-check --target "$dest" "$@"
echo "$*" > "$dest/.complete"
echo "fetch-python-tools: $* in $dest"
