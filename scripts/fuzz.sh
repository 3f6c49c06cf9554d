#!/usr/bin/env bash
# Fuzzes every reader of untrusted input with libFuzzer under AddressSanitizer (LeakSanitizer
# included): the PNG and JPEG decoders, the audio reader, the dataset parser, the experiment loader,
# the safetensors reader, the feature cache reader and the multipart upload reader of
# `fusionlab serve` (Fuzz/Sources/fusionlab-fuzz).
#
#   bash scripts/fuzz.sh [--runs N] [--time SECONDS] [harness...]
#
# Each harness starts from its committed seed corpus (Fuzz/corpus/<harness>, made by
# Fuzz/make_corpus.py) and grows a working corpus in .build-fuzz/corpus/<harness>. A crash, a
# hang (--timeout, default 10 s per input), a leak or a sanitizer report stops that harness,
# keeps the input in .build-fuzz/crashes/<harness>/ and makes the script exit 1. Replay a saved
# input in an ordinary build: swift run fusionlab-fuzz <harness> <file>.
# Default: 20 seconds per harness (a smoke run). With both --runs and --time, whichever comes
# first ends a harness; the acceptance runs use --runs 10000000. FUSIONLAB_FUZZ_ASAN_OPTIONS adds
# AddressSanitizer options (malloc_context_size=0 runs the allocation-heavy harnesses ~30 %
# faster, at the price of allocation stacks in reports; replay a finding without it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=-1; seconds=20; timed=0; timeout=10; harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; [ "$timed" = 1 ] || seconds=0; shift 2 ;;
    --time) seconds="$2"; timed=1; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[ ${#harnesses[@]} -eq 0 ] && harnesses=(png jpeg audio dataset experiment safetensors cache multipart table overrides)

# SwiftPM's repeated --sanitize flags reach swiftc as separate -sanitize= options, of which the
# last wins; one combined option keeps both coverage instrumentation and AddressSanitizer.
swift build -c release --product fusionlab-fuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | grep -vE "^\[|Compiling|warning: Cannot export local symbol" || true
binary=.build-fuzz/release/fusionlab-fuzz
[ -x "$binary" ] || { echo "fuzz.sh: the fuzz build failed" >&2; exit 1; }

status=0
for harness in "${harnesses[@]}"; do
  [ -d "Fuzz/corpus/$harness" ] || { echo "fuzz.sh: no harness \"$harness\" (Fuzz/corpus/$harness missing)" >&2; exit 2; }
  work=.build-fuzz/corpus/$harness crashes=.build-fuzz/crashes/$harness log=.build-fuzz/$harness.log
  mkdir -p "$work" "$crashes"
  limits=(-timeout="$timeout" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$crashes/")
  [ "$runs" -ge 0 ] && limits+=(-runs="$runs")
  [ "$seconds" -gt 0 ] && limits+=(-max_total_time="$seconds")
  if FUSIONLAB_FUZZ_TARGET=$harness ASAN_OPTIONS="detect_leaks=1${FUSIONLAB_FUZZ_ASAN_OPTIONS:+:$FUSIONLAB_FUZZ_ASAN_OPTIONS}" "$binary" "${limits[@]}" "$work" "Fuzz/corpus/$harness" >"$log" 2>&1; then
    executed=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
    corpus=$(ls "$work" | wc -l)
    echo "fuzz $harness: ${executed:-?} executions (${rate:-?}/s), corpus $corpus inputs, no crash, hang, leak or sanitizer report"
  else
    status=1
    echo "fuzz $harness: FAILED, see $log; the input is in $crashes/" >&2
    grep -E "ERROR|SUMMARY|Fatal error|invariant broken|timeout" "$log" | head -5 >&2 || true
  fi
done
exit $status
