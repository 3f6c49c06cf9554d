#!/usr/bin/env bash
# Fetches what checking an exported ONNX model needs (onnx, onnxruntime, numpy, safetensors)
# into .build/onnx-python, for the tests that run scripts/onnx_check.py on exports.
# Needs python3 with pip and access to PyPI; does nothing when already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.build/onnx-python
if [ -f "$dest/.complete" ]; then exit 0; fi
rm -rf "$dest"
python3 -m pip install --quiet --disable-pip-version-check --target "$dest" onnx onnxruntime numpy safetensors
touch "$dest/.complete"
echo "fetch-onnx-tools: onnx and onnxruntime are in $dest"
