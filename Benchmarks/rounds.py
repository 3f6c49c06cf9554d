#!/usr/bin/env python3
"""FusionLab against PyTorch in alternating rounds, reported as ratios with their spread.

    python3 Benchmarks/rounds.py [--rounds 5] [--threads 1 2] [--workload train-reference]

On a shared host one process's rate can vary by 1.5x from one minute to the next, so a
single pair of runs says little. Each round runs `fusionlab-bench` and the PyTorch peer
(Benchmarks/peers/train_reference.py) back to back for every thread count, alternating which
goes first, each in its own process; the ratio of a round compares two runs made a few
seconds apart. Prints per metric and thread count the median ratio, its range and the best
rate of each side, and (with --json) one JSON line per round and metric.

Environment: FUSIONLAB_BENCH (default .build/release/fusionlab-bench, built beforehand with
`swift build -c release --product fusionlab-bench`), PYTHON (a Python that imports torch).
The instruction-set caps (FUSIONLAB_ISA, OPENBLAS_CORETYPE, ONEDNN_MAX_CPU_ISA,
ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS) pass through to both sides.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(command):
    """The JSON lines a benchmark prints, as {metric: value}, and the machine it reports."""
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"rounds.py: {' '.join(command)} exited with {out.returncode}:\n{out.stderr[-2000:]}")
    values, machine = {}, None
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            values[record["metric"]] = record["value"]
            machine = record.get("machine", machine)
    return values, machine


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--workload", default="train-reference", choices=["train-reference", "gemm-efficiency"])
    ap.add_argument("--json", action="store_true", help="also print one JSON line per round and metric")
    args = ap.parse_args()
    bench = os.environ.get("FUSIONLAB_BENCH", os.path.join(ROOT, ".build", "release", "fusionlab-bench"))
    python = os.environ.get("PYTHON", "python3")
    if not os.access(bench, os.X_OK):
        sys.exit(f"rounds.py: {bench} is not built; run `swift build -c release --product fusionlab-bench`")
    peer = [python, os.path.join(ROOT, "Benchmarks", "peers", "train_reference.py"), "--workload", args.workload, "--json"]
    ratios, rates, machine = {}, {}, None
    for r in range(args.rounds):
        for threads in args.threads:
            ours_cmd = [bench, args.workload, "--threads", str(threads), "--json"]
            peer_cmd = peer + ["--threads", str(threads)]
            order = [("fusionlab", ours_cmd), ("pytorch", peer_cmd)]
            if r % 2 == 1:
                order.reverse()
            got = {}
            for side, command in order:
                got[side], m = run_json(command)
                machine = m or machine
            for metric, ours in got["fusionlab"].items():
                theirs = got["pytorch"].get(metric)
                if theirs is None or theirs == 0:
                    continue
                key = (metric, threads)
                ratios.setdefault(key, []).append(ours / theirs)
                rates.setdefault(key, {"fusionlab": [], "pytorch": []})
                rates[key]["fusionlab"].append(ours)
                rates[key]["pytorch"].append(theirs)
                if args.json:
                    print(json.dumps({"round": r + 1, "workload": args.workload, "metric": metric, "threads": threads,
                                      "fusionlab": ours, "pytorch": theirs, "ratio": ours / theirs, "machine": machine}))
            print(f"round {r + 1}/{args.rounds}, {threads} thread(s) done", file=sys.stderr)
    caps = {k: os.environ[k] for k in ("FUSIONLAB_ISA", "OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY",
                                      "MKL_ENABLE_INSTRUCTIONS") if k in os.environ}
    print(f"machine: {machine}; caps: {caps or 'none'}; {args.rounds} alternating rounds")
    print("metric (FusionLab / PyTorch; peak RSS: lower is better) | threads | median ratio | range | best FusionLab | best PyTorch")
    for (metric, threads), values in sorted(ratios.items()):
        lower_better = metric.startswith("peak_rss")
        best = min if lower_better else max
        print(f"{metric} | {threads} | {statistics.median(values):.2f} | {min(values):.2f}–{max(values):.2f} | "
              f"{best(rates[(metric, threads)]['fusionlab']):.1f} | {best(rates[(metric, threads)]['pytorch']):.1f}")


if __name__ == "__main__":
    main()
