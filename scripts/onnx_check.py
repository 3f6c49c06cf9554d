#!/usr/bin/env python3
"""Checks an exported model in onnxruntime against FusionLab's own probabilities.

    python scripts/onnx_check.py model.onnx [--tolerance 1e-5] [--json]

Reads model.onnx.reference.safetensors beside the file (written by `fusionlab export onnx`: test-split
inputs, every other sample with a seeded subset of modalities absent, and FusionLab's
probabilities for them), validates the model with onnx.checker (full check, shape inference),
runs it with onnxruntime on the CPU, and prints the largest |p_onnxruntime - p_fusionlab| and the
predicted-class agreement. Exits 1 when the difference exceeds the tolerance, 2 when something is
missing. Needs onnx, onnxruntime, numpy, safetensors.
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import numpy as np
    import onnx
    import onnxruntime as ort
    from safetensors.numpy import load_file

    if not args.model.endswith(".onnx") or not os.path.exists(args.model):
        print(f"onnx_check: {args.model}: expected an existing .onnx file", file=sys.stderr)
        return 2
    reference_path = args.model + ".reference.safetensors"
    if not os.path.exists(reference_path):
        print(f"onnx_check: {reference_path} is missing (export with --reference-samples > 0)", file=sys.stderr)
        return 2
    proto = onnx.load(args.model)
    onnx.checker.check_model(proto, full_check=True)
    reference = load_file(reference_path)
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in session.get_inputs():
        if i.name not in reference:
            print(f"onnx_check: the reference has no input {i.name}", file=sys.stderr)
            return 2
        value = reference[i.name]
        feeds[i.name] = value.astype(np.int64) if i.type == "tensor(int64)" else value.astype(np.float32)
    logits, probabilities = session.run(["logits", "probabilities"], feeds)
    expected = reference["probabilities"]
    diff = float(np.abs(probabilities - expected).max())
    agree = int((probabilities.argmax(1) == expected.argmax(1)).sum())
    finite = bool(np.isfinite(logits).all())
    result = {"model": args.model, "samples": int(expected.shape[0]), "opset": int(proto.opset_import[0].version),
              "max_abs_diff": diff, "agree": agree, "finite": finite, "tolerance": args.tolerance,
              "onnxruntime": ort.__version__, "ok": finite and diff <= args.tolerance}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"onnx_check {args.model}: opset {result['opset']}, {result['samples']} reference samples, "
              f"max |p_onnxruntime - p_fusionlab| {diff:.2e} (tolerance {args.tolerance:g}), predicted class agrees "
              f"{agree}/{result['samples']}, onnxruntime {ort.__version__}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
