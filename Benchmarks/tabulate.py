#!/usr/bin/env python3
"""Tabulate benchmark JSON lines (standard library only).

    python3 Benchmarks/tabulate.py [FILE ...]      # reads stdin when no FILE

Each input line that parses as a JSON object with the keys workload, system,
threads, metric, value is used; every other line is ignored (so build noise or
error text mixed into the stream is harmless).  Prints one row per
(workload, metric, threads) with the FusionLab and PyTorch values and their
ratio fusionlab/pytorch.  For throughput metrics higher is better; for
peak_rss_mib lower is better (marked in the table).  Missing values show "-".
"""

import json
import sys

REQUIRED = ("workload", "system", "threads", "metric", "value")
LOWER_IS_BETTER = {"peak_rss_mib"}
WORKLOAD_ORDER = ["train-reference", "gemm-efficiency"]
METRIC_ORDER = ["train_samples_per_sec", "infer_samples_per_sec", "peak_rss_mib",
                "sgemm_gflops", "matmul_gflops", "linear_gflops", "efficiency"]


def read_records(streams):
    records = []
    for stream in streams:
        for line in stream:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict) or any(k not in obj for k in REQUIRED):
                continue
            try:
                obj["value"] = float(obj["value"])
                obj["threads"] = int(obj["threads"])
            except (TypeError, ValueError):
                continue
            records.append(obj)
    return records


def order_key(values, order):
    return lambda v: (order.index(v) if v in order else len(order), v)


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def build_rows(records):
    """One row per (workload, metric, threads, peer system): FusionLab's value, the peer's, the ratio."""
    table = {}
    for r in records:
        key = (r["workload"], r["metric"], r["threads"])
        # the last value reported for a (key, system) wins
        table.setdefault(key, {})[str(r["system"]).lower()] = r["value"]
    wl_key = order_key(None, WORKLOAD_ORDER)
    m_key = order_key(None, METRIC_ORDER)
    rows = []
    for (w, m, t) in sorted(table, key=lambda k: (wl_key(k[0]), m_key(k[1]), k[2])):
        systems = table[(w, m, t)]
        fl = systems.get("fusionlab")
        peers = sorted(s for s in systems if s != "fusionlab") or ["-"]
        for peer in peers:
            pt = systems.get(peer)
            ratio = fl / pt if (fl is not None and pt) else None
            ratio_s = fmt(ratio) + "x" if ratio is not None else "-"
            note = "lower is better" if m in LOWER_IS_BETTER or m.endswith("_ms") else ""
            rows.append([w, m, str(t), fmt(fl), peer, fmt(pt), ratio_s, note])
    return rows


def render(rows):
    header = ["workload", "metric", "threads", "fusionlab", "peer", "peer value", "ratio", ""]
    right = {2, 3, 5, 6}
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [line(header), line(["-" * w for w in widths])]
    lines += [line(r) for r in rows]
    lines.append("ratio = fusionlab / peer (higher is better except where noted)")
    return "\n".join(lines)


def render_fusion_cost(records):
    """fusion-cost metrics are "<strategy>.<metric>": one row per strategy and thread count."""
    table = {}
    for r in records:
        if r["workload"] != "fusion-cost" or "." not in r["metric"]:
            continue
        strategy, metric = r["metric"].split(".", 1)
        table.setdefault((strategy, r["threads"]), {})[metric] = r["value"]
    if not table:
        return None
    header = ["fusion", "threads", "parameters", "MACs/sample", "train samples/s"]
    rows = [[s, str(t), f"{m.get('parameters', 0):,.0f}", f"{m.get('macs_per_sample', 0):,.0f}",
             f"{m.get('train_samples_per_sec', 0):.1f}"] for (s, t), m in table.items()]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main(argv):
    if argv:
        streams = [open(p, encoding="utf-8", errors="replace") for p in argv]
    else:
        streams = [sys.stdin]
    records = read_records(streams)
    if not records:
        print("no benchmark results to tabulate", file=sys.stderr)
        return 1
    others = [r for r in records if r["workload"] != "fusion-cost"]
    if others:
        print(render(build_rows(others)))
    fusion = render_fusion_cost(records)
    if fusion:
        print(("\n" if others else "") + "fusion-cost (reference network, concat replaced; batch 64, Adam)\n" + fusion)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
