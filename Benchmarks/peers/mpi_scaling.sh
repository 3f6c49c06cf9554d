#!/usr/bin/env bash
# mpi-scaling: data-parallel training and job-parallel comparisons on Open MPI, on the
# real-data benchmark (Experiments/avdigits/avdigits.json) and the reference training workload
# (Experiments/quickstart.json, the README's quickstart model on the default dataset):
#   * training seconds of `fusionlab run` at 1 rank x 1 thread, 2 ranks x 1 thread, 1 rank x 2 threads;
#   * the all-reduce time per optimizer step and the gradient bytes (from the run's manifest);
#   * wall time of `fusionlab compare` (one seed) on 1 rank against 2 ranks, 1 thread each;
#   * the machine's own ceiling: two independent 1-thread runs at once against one alone;
#   * the ring all-reduce cost model's predicted efficiency at 8 and 64 machines on 10 and
#     100 Gbit/s links (per-machine batch as here, so compute per step stays the measured one).
# Prints Benchmarks/run.sh JSON lines, then a Markdown table on stderr.
#   bash Benchmarks/peers/mpi_scaling.sh        (EPOCHS=5 by default; a release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
FUSIONLAB=${FUSIONLAB:-.build/release/fusionlab}
EPOCHS=${EPOCHS:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
mpi() { mpirun -np "$1" --bind-to none --oversubscribe "${@:2}"; }
train_seconds() { sed -nE 's/.* ([0-9.]+)s training\).*/\1/p'; }
table="| workload | 1 rank × 1 thread | 2 ranks × 1 thread | 1 rank × 2 threads | 2×1 speed-up | 1×2 speed-up | two runs at once | all-reduce per step | gradient | step (2 ranks) |\n|---|---|---|---|---|---|---|---|---|---|"
models=""
for experiment in Experiments/avdigits/avdigits.json Experiments/quickstart.json; do
  name=$(basename "$experiment" .json)
  set_args=(--set training.epochs="$EPOCHS" --runs "$runs/$name")
  one=$("$FUSIONLAB" run "$experiment" "${set_args[@]}" --set training.threads=1 -q | train_seconds)
  out=$(mpi 2 "$FUSIONLAB" run "$experiment" "${set_args[@]}" --set training.threads=1 -q)
  two=$(echo "$out" | train_seconds)
  dir=$(echo "$out" | sed -nE 's/^run directory: (.*)$/\1/p')
  threads=$("$FUSIONLAB" run "$experiment" "${set_args[@]}" --set training.threads=2 -q | train_seconds)
  read -r ms bytes steps < <(python3 -c "import json; a=json.load(open('$dir/manifest.json'))['allreduce']; print(1000*a['seconds']/a['steps'], a['bytes_per_step'], a['steps'])")
  step=$(python3 -c "print(1000*$two/$steps)")
  # The ceiling: two independent single-thread runs at the same time.
  "$FUSIONLAB" run "$experiment" "${set_args[@]}" --set training.threads=1 -q | train_seconds > "$runs/a.txt" &
  "$FUSIONLAB" run "$experiment" "${set_args[@]}" --set training.threads=1 -q | train_seconds > "$runs/b.txt"
  wait
  ceiling=$(python3 -c "print(f'{4 * $one / ($(cat "$runs/a.txt") + $(cat "$runs/b.txt")):.2f}×')")
  model=$(python3 -c "
step = $one / $steps; b = $bytes
out = []
for n in (8, 64):
    for gbit, latency in ((10, 20e-6), (100, 5e-6)):
        t = 2 * (n - 1) / n * b / (gbit * 1e9 / 8) + 2 * (n - 1) * latency
        out.append(f'{n} × {gbit} Gbit/s: {100 * step / (step + t):.0f} %')
print('; '.join(out))")
  models+="\n- $name: $model (compute $(python3 -c "print(f'{1000 * $one / $steps:.1f}')") ms a step on one machine, $(python3 -c "print(f'{$bytes/1e6:.2f}')") MB a step)"
  for pair in "1x1 $one" "2x1 $two" "1x2 $threads"; do
    set -- $pair
    echo "{\"workload\": \"mpi-$name\", \"system\": \"fusionlab\", \"threads\": 1, \"metric\": \"train_seconds_$1\", \"value\": $2}"
  done
  echo "{\"workload\": \"mpi-$name\", \"system\": \"fusionlab\", \"threads\": 1, \"metric\": \"allreduce_ms_per_step\", \"value\": $ms}"
  table+="\n| $name ($EPOCHS epochs) | ${one} s | ${two} s | ${threads} s | $(python3 -c "print(f'{$one/$two:.2f}×')") | $(python3 -c "print(f'{$one/$threads:.2f}×')") | $ceiling | $(python3 -c "print(f'{$ms:.3f} ms')") | $(python3 -c "print(f'{$bytes/1e6:.2f} MB')") | $(python3 -c "print(f'{$step:.2f} ms')") |"
done
# Job-parallel comparison: the avdigits variants at one seed, 3 epochs.
cmp_args=(--set compare.seeds=[0] --set training.epochs=3 --set training.threads=1 -q)
start=$(date +%s.%N); "$FUSIONLAB" compare Experiments/avdigits/avdigits.json --runs "$runs/c1" "${cmp_args[@]}" >/dev/null; end=$(date +%s.%N)
c1=$(python3 -c "print(round($end - $start, 2))")
start=$(date +%s.%N); mpi 2 "$FUSIONLAB" compare Experiments/avdigits/avdigits.json --runs "$runs/c2" "${cmp_args[@]}" >/dev/null; end=$(date +%s.%N)
c2=$(python3 -c "print(round($end - $start, 2))")
echo "{\"workload\": \"mpi-compare-avdigits\", \"system\": \"fusionlab\", \"threads\": 1, \"metric\": \"wall_seconds_1_rank\", \"value\": $c1}"
echo "{\"workload\": \"mpi-compare-avdigits\", \"system\": \"fusionlab\", \"threads\": 1, \"metric\": \"wall_seconds_2_ranks\", \"value\": $c2}"
printf "%b\n\ncompare (avdigits, 6 runs of 3 epochs, 1 thread each): 1 rank %s s, 2 ranks %s s, %s×\n\npredicted efficiency, ring all-reduce (weak scaling):%b\n" \
  "$table" "$c1" "$c2" "$(python3 -c "print(f'{$c1/$c2:.2f}')")" "$models" >&2
