#!/usr/bin/env bash
# Run the FusionLab benchmarks against the PyTorch peer and print a table.
#
#   bash Benchmarks/run.sh [workload...] [--json]
#
# Workloads: train-reference gemm-efficiency fusion-cost gru train-avdigits int8-avdigits int8-layers serve mfcc png-decode wordpiece feature-cache
# (default: the first three; the front-end four need PYTHON with librosa, Pillow, tokenizers).
# Thread counts: 1 2 (override with THREADS="1 2 4").
# SKIP_BUILD=1 skips `swift build`; FUSIONLAB_BENCH=/path overrides the binary.
# Peer: $PYTHON (default python3) must be able to `import torch`; otherwise the
# peer is skipped.  Every configuration runs in its own process so peak RSS is
# per configuration.  See Benchmarks/README.md.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

PYTHON=${PYTHON:-python3}
THREADS=${THREADS:-"1 2"}
JSON=0
WORKLOADS=()
for arg in "$@"; do
    case "$arg" in
        --json) JSON=1 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
        *) WORKLOADS+=("$arg") ;;
    esac
done
[ ${#WORKLOADS[@]} -eq 0 ] && WORKLOADS=(train-reference gemm-efficiency fusion-cost)

log() { echo "[run.sh] $*" >&2; }

RESULTS=$(mktemp "${TMPDIR:-/tmp}/fusionlab-bench.XXXXXX")
ERRLOG=$(mktemp "${TMPDIR:-/tmp}/fusionlab-bench-err.XXXXXX")
trap 'rm -f "$RESULTS" "$ERRLOG"' EXIT

# --- FusionLab side -------------------------------------------------------
BENCH=${FUSIONLAB_BENCH:-"$ROOT/.build/release/fusionlab-bench"}
HAVE_BENCH=0
BUILD_OK=1
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building: swift build -c release --product fusionlab-bench"
    if ! swift build -c release --product fusionlab-bench >&2; then
        BUILD_OK=0
        log "ERROR: swift build failed; FusionLab side skipped"
    fi
fi
if [ $BUILD_OK -eq 1 ]; then
    if [ -x "$BENCH" ]; then HAVE_BENCH=1; else log "ERROR: $BENCH not found; FusionLab side skipped"; fi
fi

# --- PyTorch peer ---------------------------------------------------------
HAVE_PEER=0
if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    HAVE_PEER=1
else
    log "PyTorch peer skipped: '$PYTHON -c \"import torch\"' failed (set PYTHON=/path/to/venv/bin/python)"
fi

# Workloads the PyTorch peer implements; the others run on the FusionLab side only.
PEER_WORKLOADS="train-reference gemm-efficiency"
peer_supports() { case " $PEER_WORKLOADS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# Runs one configuration; keeps only JSON lines, reports failures and continues.
run_one() {
    local label=$1; shift
    log "$label: $*"
    : >"$ERRLOG"
    if "$@" >>"$RESULTS.part" 2>"$ERRLOG"; then
        grep -E '^\{' "$RESULTS.part" >>"$RESULTS" || log "$label: produced no JSON lines"
    else
        local rc=$?
        log "ERROR: $label exited with status $rc"
        sed 's/^/    /' "$ERRLOG" | tail -n 20 >&2
        grep -E '^\{' "$RESULTS.part" >>"$RESULTS" 2>/dev/null || true
    fi
    rm -f "$RESULTS.part"
}

FRONTEND=0
for w in "${WORKLOADS[@]}"; do
    case "$w" in
        mfcc|png-decode|wordpiece|feature-cache) FRONTEND=1; continue ;;
        int8-avdigits)
            # int8 inference on the real-data benchmark against PyTorch's quantized model (needs Datasets/avdigits-a).
            log "int8-avdigits: fusionlab compress --quantize int8 vs torch.ao.quantization, threads $THREADS"
            THREADS="$THREADS" PYTHON="$PYTHON" bash "$ROOT/Benchmarks/peers/int8_avdigits.sh" 2>"$ERRLOG" >>"$RESULTS" \
                || { log "int8-avdigits failed:"; tail -n 20 "$ERRLOG" >&2; }
            continue ;;
        serve)
            # fusionlab serve vs FastAPI + uvicorn serving the PyTorch twin, wrk at concurrency 1, 8, 32
            # (needs Datasets/avdigits-a and wrk); prints its own table.
            log "serve: fusionlab serve vs FastAPI+uvicorn+torch on avdigits"
            runs=$(mktemp -d)
            "$ROOT/.build/release/fusionlab" run "$ROOT/Experiments/avdigits/avdigits.json" --runs "$runs" -q >/dev/null 2>"$ERRLOG" \
                && "$PYTHON" "$ROOT/Benchmarks/peers/serve_bench.py" "$(ls -d "$runs"/avdigits/*/ | head -1)" --fusionlab "$ROOT/.build/release/fusionlab" >&2 \
                || { log "serve failed:"; tail -n 20 "$ERRLOG" >&2; }
            rm -rf "$runs"
            continue ;;
        train-avdigits)
            # End to end on the real-data benchmark, against the PyTorch twin (needs Datasets/avdigits-a).
            log "train-avdigits: fusionlab run vs the twin, threads $THREADS"
            THREADS="$THREADS" PYTHON="$PYTHON" bash "$ROOT/Benchmarks/peers/train_throughput.sh" 2>"$ERRLOG" | grep -E '^\{' >>"$RESULTS" \
                || { log "train-avdigits failed:"; tail -n 20 "$ERRLOG" >&2; }
            continue ;;
    esac
    for n in $THREADS; do
        if [ $HAVE_BENCH -eq 1 ]; then
            run_one "fusionlab $w threads=$n" "$BENCH" "$w" --threads "$n" --json
        fi
        # Only train-reference and gemm-efficiency have a peer (fusion-cost compares
        # FusionLab's own strategies; the front-end workloads have none either).
        if [ $HAVE_PEER -eq 1 ] && [ "$w" = gru ]; then
            run_one "pytorch $w threads=$n" "$PYTHON" "$ROOT/Benchmarks/peers/recurrent_peer.py" --threads "$n" --json
        fi
        if [ $HAVE_PEER -eq 1 ] && { [ "$w" = depthwise ] || [ "$w" = efficientnet ]; }; then
            run_one "pytorch $w threads=$n" "$PYTHON" "$ROOT/Benchmarks/peers/pretrained_peer.py" --workload "$w" --threads "$n" --json
        fi
        if [ $HAVE_PEER -eq 1 ] && peer_supports "$w"; then
            run_one "pytorch $w threads=$n" "$PYTHON" "$ROOT/Benchmarks/peers/train_reference.py" \
                --workload "$w" --threads "$n" --json
        fi
    done
done

# The front-end workloads run on shared input files against their own peers (librosa,
# torchaudio, Pillow, Hugging Face tokenizers), one thread; see frontend_compare.sh.
if [ $FRONTEND -eq 1 ]; then
    SKIP_BUILD=1 FUSIONLAB_BENCH="$BENCH" bash "$ROOT/Benchmarks/peers/frontend_compare.sh" --json 2>"$ERRLOG" | grep -E '^\{' >>"$RESULTS" \
        || { log "front-end benchmarks failed:"; tail -n 20 "$ERRLOG" >&2; }
fi

if [ $JSON -eq 1 ]; then
    cat "$RESULTS"
else
    # The tabulator is standard-library only; any python3 will do.
    TAB_PY=python3
    command -v python3 >/dev/null 2>&1 || TAB_PY=$PYTHON
    "$TAB_PY" "$ROOT/Benchmarks/tabulate.py" "$RESULTS"
fi
