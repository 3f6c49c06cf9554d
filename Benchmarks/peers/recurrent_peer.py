#!/usr/bin/env python3
"""PyTorch peer of the `gru` workload: forward + backward of torch.nn.GRU / torch.nn.LSTM,
bidirectional, batch_first, batch 32 × 63 steps × 20 features, 64 hidden units per direction,
loss = sum of every output; best of five timed passes of 10 iterations.

    python Benchmarks/peers/recurrent_peer.py --threads N [--json]
"""

import argparse
import json
import time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--json", action="store_true")
args = ap.parse_args()

import torch  # noqa: E402

torch.set_num_threads(args.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(1)
B, T, I, H = 32, 63, 20, 64


def emit(metric, value):
    line = {"workload": "gru", "system": "pytorch", "threads": args.threads, "metric": metric, "value": float(value)}
    print(json.dumps(line, sort_keys=True) if args.json else f"{metric}: {value:.3f}")


for name, cls in [("gru", torch.nn.GRU), ("lstm", torch.nn.LSTM)]:
    layer = cls(I, H, batch_first=True, bidirectional=True)
    x = torch.randn(B, T, I, requires_grad=True)

    def iteration():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = layer(x)
        out.sum().backward()

    for _ in range(3):
        iteration()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10):
            iteration()
        best = min(best, (time.perf_counter() - start) / 10)
    emit(f"{name}.fwd_bwd_ms", best * 1000)
    emit(f"{name}.samples_per_sec", B / best)
