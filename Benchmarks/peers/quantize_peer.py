"""int8 post-training quantization: FusionLab (oneDNN) against PyTorch on the same model and data.

    python Benchmarks/peers/quantize_peer.py <finished run dir> [--calibration-batches 16] [--threads N] [--json out.json]

In one process run, on the run's test split:
1. `fusionlab compress <run> --quantize int8` (release build): FusionLab's float and int8 test
   accuracy, checkpoint sizes and batch-256 inference samples/s (both measured by FusionLab).
2. The PyTorch twin (Benchmarks/twin) with the run's float weights: accuracy and batch-256
   samples/s; then quantized the way PyTorch documents for x86: static quantization of every
   convolution (fused with its ReLU where one follows, `get_default_qconfig("x86")`, calibrated
   on the same training batches) and `torch.ao.quantization.quantize_dynamic` for every Linear.
3. FusionLab's int8 checkpoint read with the `safetensors` package: int8 weights times their
   per-channel scales, loaded into the float twin; its accuracy shows the file is usable from PyTorch.

Needs torch, numpy, safetensors. Timings: best of `--repeats` rounds of >= 1 s each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Benchmarks", "twin"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import twin  # noqa: E402
from twin_model import TwinClassifier  # noqa: E402
from twin_train import batch_of, evaluate  # noqa: E402

BATCH = 256


class QuantizedConv(nn.Module):
    """QuantStub → conv (→ ReLU) → DeQuantStub: the float interface FusionLab's int8 layers keep too."""

    def __init__(self, conv: nn.Module, relu: bool):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = torch.ao.nn.intrinsic.ConvReLU2d(conv, nn.ReLU()) if relu else conv
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.conv(self.quant(x)))


def quantize_twin(model: TwinClassifier, calibration, threads: int) -> TwinClassifier:
    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    qconfig = torch.ao.quantization.get_default_qconfig(torch.backends.quantized.engine)
    model.eval()
    for encoder in model.encoders.values():
        steps = encoder.plan.steps
        for i, step in enumerate(steps):
            if step.spec["type"] == "conv2d" and step.key in encoder.layers:
                relu = i + 1 < len(steps) and steps[i + 1].spec["type"] == "relu"
                wrapped = QuantizedConv(encoder.layers[step.key], relu)
                wrapped.qconfig = qconfig
                encoder.layers[step.key] = wrapped
    torch.ao.quantization.prepare(model, inplace=True)
    with torch.no_grad():
        for batch in calibration:
            model(batch)
    torch.ao.quantization.convert(model, inplace=True)
    return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def throughput(model, batch, repeats: int) -> float:
    model.eval()
    with torch.no_grad():
        model(batch)
        best = 0.0
        for _ in range(repeats):
            n, start = 0, time.perf_counter()
            while True:
                model(batch)
                n += 1
                elapsed = time.perf_counter() - start
                if elapsed >= 1 and n >= 5:
                    break
            best = max(best, n * BATCH / elapsed)
    return best


def dequantized_state(path: str):
    """FusionLab's int8 checkpoint as float tensors: I8 weights × weight_scale per output channel."""
    state = {}
    with safe_open(path, framework="pt") as f:
        keys = list(f.keys())
        raw = {k: f.get_tensor(k) for k in keys}
    for k, v in raw.items():
        if k.endswith((".weight_scale", ".input_scale", ".input_zero_point")):
            continue
        scale = raw.get(k[: -len("weight")] + "weight_scale") if k.endswith(".weight") else None
        if scale is not None:
            assert v.dtype == torch.int8, f"{k}: expected I8, got {v.dtype}"
            v = v.float() * scale.reshape((-1,) + (1,) * (v.dim() - 1))
        state[k] = v.float()
    return state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--calibration-batches", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fusionlab", default=None)
    parser.add_argument("--json", default=None, help="write the table and ratios to this file")
    parser.add_argument("--json-lines", action="store_true", help="print Benchmarks/run.sh's JSON lines instead of the table")
    args = parser.parse_args(argv)

    binary = twin.fusionlab_binary(args.fusionlab)
    command = [binary, "compress", args.run_dir, "--quantize", "int8", "--calibration-batches", str(args.calibration_batches), "-q"]
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"fusionlab compress failed: {done.stderr.strip()}")
    int8_run = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("  int8: "))
    with open(os.path.join(int8_run, "compression.json")) as f:
        ours = json.load(f)

    features = twin.features_for_run(args.run_dir, args)
    threads = twin.set_threads(args.threads, features.experiment)
    test = features.splits["test"]
    n = int(test["labels"].shape[0])
    index = torch.arange(BATCH) % n
    batch = batch_of(test, index)
    classes = len(features.info["classes"])
    bs = int(features.experiment["training"]["batch_size"])

    model = TwinClassifier(features.info)
    model.load_fusionlab_state(load_file(os.path.join(args.run_dir, "checkpoints", "best.safetensors")))
    float_acc = evaluate(model, test, bs, classes).metrics["accuracy"]
    float_speed = throughput(model, batch, args.repeats)

    train = features.splits["train"]
    calibration = [batch_of(train, slice(i * bs, (i + 1) * bs)) for i in range(args.calibration_batches)
                   if i * bs < int(train["labels"].shape[0])]
    qmodel = quantize_twin(model, calibration, threads)
    q_acc = evaluate(qmodel, test, bs, classes).metrics["accuracy"]
    q_speed = throughput(qmodel, batch, args.repeats)

    readback = TwinClassifier(features.info)
    readback.load_fusionlab_state(dequantized_state(os.path.join(int8_run, "checkpoints", "best.safetensors")))
    readback_acc = evaluate(readback, test, bs, classes).metrics["accuracy"]

    rows = [
        ("FusionLab float32", ours["source_test_accuracy"], ours["source_file_bytes"], ours["source_samples_per_second"]),
        ("FusionLab int8 (oneDNN)", ours["test_accuracy"], ours["file_bytes"], ours["samples_per_second"]),
        ("PyTorch float32", float_acc, None, float_speed),
        (f"PyTorch int8 ({torch.backends.quantized.engine})", q_acc, None, q_speed),
    ]
    if args.json_lines:
        for system, metric, value in [("fusionlab", "float_samples_per_sec", ours["source_samples_per_second"]),
                                      ("fusionlab", "int8_samples_per_sec", ours["samples_per_second"]),
                                      ("pytorch", "float_samples_per_sec", float_speed), ("pytorch", "int8_samples_per_sec", q_speed),
                                      ("fusionlab", "int8_accuracy", ours["test_accuracy"]), ("pytorch", "int8_accuracy", q_acc)]:
            print(json.dumps({"workload": "int8-avdigits", "system": system, "threads": threads, "metric": metric, "value": round(value, 4)}))
        return
    print(f"| model | test accuracy | checkpoint | samples/s (batch {BATCH}, {threads} thread{'s' if threads > 1 else ''}) |")
    print("|---|---|---|---|")
    for name, acc, size, speed in rows:
        print(f"| {name} | {acc:.4f} | {'' if size is None else f'{size / 1024:.0f} KiB'} | {speed:.0f} |")
    ratios = {
        "accuracy_drop_points": 100 * (ours["source_test_accuracy"] - ours["test_accuracy"]),
        "file_ratio": ours["file_ratio"],
        "int8_vs_fusionlab_float": ours["samples_per_second"] / ours["source_samples_per_second"],
        "int8_vs_pytorch_int8": ours["samples_per_second"] / q_speed,
        "int8_vs_pytorch_float": ours["samples_per_second"] / float_speed,
        "pytorch_reads_fusionlab_int8_accuracy": readback_acc,
    }
    print()
    for k, v in ratios.items():
        print(f"{k}: {v:.4f}")
    print(f"int8 run: {int8_run}; torch {torch.__version__}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "ratios": ratios, "threads": threads, "torch": torch.__version__}, f, indent=2)


if __name__ == "__main__":
    main()
