#!/usr/bin/env python3
"""PyTorch peer for the FusionLab benchmarks (CPU, float32, eager mode).

    python Benchmarks/peers/train_reference.py --threads N [--json] \
        [--workload train-reference|gemm-efficiency]

With --json, prints one JSON object per line with exactly the keys
workload, system ("pytorch"), threads, metric, value.  See Benchmarks/README.md.
"""

import argparse
import sys


def parse_args():
    ap = argparse.ArgumentParser(description="PyTorch peer benchmark for FusionLab")
    ap.add_argument("--threads", type=int, required=True, help="intra-op threads")
    ap.add_argument("--json", action="store_true", help="print JSON lines")
    ap.add_argument("--workload", default="train-reference",
                    choices=["train-reference", "gemm-efficiency"])
    return ap.parse_args()


ARGS = parse_args()

import torch  # noqa: E402  (imported after argument parsing, configured before any op)

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(1)

import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def emit(metric, value):
    value = float(value)
    if ARGS.json:
        print(json.dumps({"workload": ARGS.workload, "system": "pytorch",
                          "threads": ARGS.threads, "metric": metric, "value": value}))
    else:
        print(f"{ARGS.workload:16s} pytorch threads={ARGS.threads} {metric:24s} {value:12.3f}")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# train-reference
# ---------------------------------------------------------------------------

VOCAB, SEQ, EMB = 8000, 32, 64
NUM_CLASSES = 10
TRAIN_BATCH, TRAIN_POOL, TIMED_EPOCHS = 64, 20, 2
INFER_BATCH, INFER_POOL, INFER_WARMUP, INFER_TIMED = 256, 4, 3, 20


def conv_tower():
    """Conv2d 1->16 3x3 p1, ReLU, MaxPool 2, Conv2d 16->32 3x3 p1, ReLU, MaxPool 2."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
    )


class FusionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMB)
        self.text_proj = nn.Linear(EMB, 128)
        self.image_conv = conv_tower()
        self.image_proj = nn.Linear(32 * 8 * 8, 128)      # 32x32 -> 16x16 -> 8x8
        self.audio_conv = conv_tower()
        self.audio_proj = nn.Linear(32 * 16 * 3, 128)     # 64x13 -> 32x6 -> 16x3
        self.fuse = nn.Linear(3 * 128, 128)
        self.head = nn.Linear(128, NUM_CLASSES)

    def forward(self, ids, image, audio):
        t = F.relu(self.text_proj(self.embedding(ids).mean(dim=1)))
        i = F.relu(self.image_proj(self.image_conv(image)))
        a = F.relu(self.audio_proj(self.audio_conv(audio)))
        h = F.relu(self.fuse(torch.cat([t, i, a], dim=1)))
        return self.head(h)


def make_batch(gen, b):
    ids = torch.randint(0, VOCAB, (b, SEQ), generator=gen, dtype=torch.int64)
    image = torch.randn(b, 1, 32, 32, generator=gen)
    audio = torch.randn(b, 1, 64, 13, generator=gen)
    labels = torch.randint(0, NUM_CLASSES, (b,), generator=gen, dtype=torch.int64)
    return ids, image, audio, labels


def train_reference():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    model = FusionNet()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    pool = [make_batch(gen, TRAIN_BATCH) for _ in range(TRAIN_POOL)]

    def step(batch):
        ids, image, audio, labels = batch
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(ids, image, audio), labels)
        loss.backward()
        opt.step()
        return loss

    for batch in pool:                        # warm-up: one epoch
        step(batch)
    # Best of three timed epochs: robust to a busy neighbour, same protocol as fusionlab-bench.
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for batch in pool:
            loss = step(batch)
        loss.item()
        best = min(best, time.perf_counter() - t0)
    emit("train_samples_per_sec", TRAIN_POOL * TRAIN_BATCH / best)

    model.eval()
    ipool = [make_batch(gen, INFER_BATCH)[:3] for _ in range(INFER_POOL)]
    with torch.inference_mode():
        for k in range(INFER_WARMUP):
            model(*ipool[k % INFER_POOL])
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for k in range(INFER_TIMED):
                out = model(*ipool[k % INFER_POOL])
            out.sum().item()
            best = min(best, time.perf_counter() - t0)
    emit("infer_samples_per_sec", INFER_TIMED * INFER_BATCH / best)

    emit("peak_rss_mib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


# ---------------------------------------------------------------------------
# gemm-efficiency
# ---------------------------------------------------------------------------

M, K, N = 256, 1024, 1024


def rate(fn, work, windows=5, min_seconds=0.4, warmup=3):
    """Median over `windows` timing windows of work-per-second.

    Each window runs fn repeatedly for at least min_seconds (and 3 calls).
    """
    for _ in range(warmup):
        fn()
    rates = []
    for _ in range(windows):
        iters, t0 = 0, time.perf_counter()
        while True:
            fn()
            iters += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds and iters >= 3:
                break
        rates.append(iters * work / dt)
    rates.sort()
    return rates[len(rates) // 2]


def gemm_efficiency():
    torch.manual_seed(0)
    lin = nn.Linear(K, N)
    x = torch.randn(M, K, requires_grad=True)
    gy = torch.randn(M, N)

    def linear_step():
        x.grad = None
        lin.weight.grad = None
        lin.bias.grad = None
        lin(x).backward(gy)

    # forward x@W^T, backward dX = gy@W and dW = gy^T@x: 3 GEMMs of 2*M*K*N flops
    emit("linear_gflops", rate(linear_step, 3 * 2 * M * K * N) / 1e9)

    a = torch.randn(M, K)
    b = torch.randn(K, N)
    out = torch.empty(M, N)

    def mm():
        torch.mm(a, b, out=out)

    emit("matmul_gflops", rate(mm, 2 * M * K * N) / 1e9)


if __name__ == "__main__":
    {"train-reference": train_reference, "gemm-efficiency": gemm_efficiency}[ARGS.workload]()
