#!/usr/bin/env python3
"""PyTorch side of fusionlab-bench's `depthwise` and `efficientnet` workloads (same shapes, same
metrics, JSON lines for Benchmarks/tabulate.py):

    python Benchmarks/peers/pretrained_peer.py --workload depthwise --threads 1 --json
    python Benchmarks/peers/pretrained_peer.py --workload efficientnet --threads 2 --json

`efficientnet` runs the weights' own model code (efficientnet_lite_pytorch 0.1.0's EfficientNet-Lite0,
eval mode, random weights: the speed is the same) under torch.inference_mode.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F


def best_seconds(body, seconds=0.3):
    body()
    best = float("inf")
    for _ in range(5):
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds or n == 0:
            body()
            n += 1
        best = min(best, (time.perf_counter() - start) / n)
    return best


def emit(workload, threads, metric, value):
    print(json.dumps({"workload": workload, "system": "pytorch", "threads": threads, "metric": metric, "value": value}, sort_keys=True))


def depthwise(threads):
    torch.manual_seed(3)
    batch = 16
    for c, k, s, side in [(96, 3, 2, 112), (144, 5, 2, 56), (480, 3, 1, 14), (1152, 5, 1, 7)]:
        x, w, b = torch.randn(batch, c, side, side), torch.randn(c, 1, k, k), torch.randn(c)
        with torch.inference_mode():
            fwd = best_seconds(lambda: F.conv2d(x, w, b, stride=s, padding=k // 2, groups=c))
        xg, wg, bg = (t.clone().requires_grad_(True) for t in (x, w, b))

        def step():
            F.conv2d(xg, wg, bg, stride=s, padding=k // 2, groups=c).sum().backward()
            for t in (xg, wg, bg):
                t.grad = None
        train = best_seconds(step)
        name = f"depthwise-c{c}-k{k}-s{s}-{side}"
        emit(name, threads, "forward_images_per_sec", batch / fwd)
        emit(name, threads, "train_images_per_sec", batch / train)


def efficientnet(threads):
    from efficientnet_lite_pytorch import EfficientNet
    model = EfficientNet.from_name("efficientnet-lite0")
    model.eval()
    for batch in (1, 16):
        x = torch.randn(batch, 3, 224, 224)
        with torch.inference_mode():
            seconds = best_seconds(lambda: model.extract_features(x).mean((2, 3)), seconds=1)
        emit(f"efficientnet-lite0-b{batch}", threads, "inference_images_per_sec", batch / seconds)
    emit("efficientnet-lite0-b16", threads, "peak_rss_mib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=["depthwise", "efficientnet"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    {"depthwise": depthwise, "efficientnet": efficientnet}[args.workload](args.threads)


if __name__ == "__main__":
    main()
