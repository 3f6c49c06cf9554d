#!/usr/bin/env python3
"""Checks an exported model in onnxruntime against FusionLab's own probabilities.

    python scripts/onnx_check.py model.onnx [--tolerance 1e-5] [--json]
    python scripts/onnx_check.py model.onnx --raw DATASET --predictions PRED.csv [--limit N]

Reads model.onnx.reference.safetensors beside the file (written by `fusionlab export onnx`: test-split
inputs, every other sample with a seeded subset of modalities absent, and FusionLab's
probabilities for them), validates the model with onnx.checker (full check, shape inference),
runs it with onnxruntime on the CPU, and prints the largest |p_onnxruntime - p_fusionlab| and the
predicted-class agreement. Exits 1 when the difference exceeds the tolerance, 2 when something is
missing. Needs onnx, onnxruntime, numpy, safetensors.

--raw is what a client that knows only model.onnx.json does: it builds every input from the raw
files of a dataset folder's split with the reference libraries (librosa for audio, Pillow for
images, Hugging Face tokenizers for text; Benchmarks/twin/twin_raw.py), following the
`preprocessing` block of model.onnx.json alone, runs the model, and compares its probabilities
of the samples in `fusionlab predict <run> --dataset DATASET [--split S] > PRED.csv` (default tolerance 1e-3:
the features agree to about 1e-5). Also needs librosa, Pillow, soundfile and tokenizers.
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
    ap.add_argument("--raw", metavar="DATASET", help="build the inputs from this dataset folder's raw files (see above)")
    ap.add_argument("--predictions", help="--raw: `fusionlab predict --dataset` CSV to compare with")
    ap.add_argument("--limit", type=int, default=0, help="--raw: at most this many samples (0: all)")
    args = ap.parse_args()
    if args.raw:
        return check_raw(args)
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


def check_raw(args):
    import csv
    import numpy as np
    import onnx
    import onnxruntime as ort
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Benchmarks", "twin"))
    from twin_raw import TextEncoder, audio_features, image_features, read_dataset

    tolerance = args.tolerance if args.tolerance != 1e-5 else 1e-3
    description_path = args.model + ".json"
    if not os.path.exists(args.model) or not os.path.exists(description_path) or not args.predictions:
        print(f"onnx_check: --raw needs {args.model}, {description_path} and --predictions", file=sys.stderr)
        return 2
    with open(description_path) as f:
        description = json.load(f)
    pre, classes, modalities = description["preprocessing"], description["classes"], description["modalities"]
    with open(args.predictions, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in classes if f"p_{c}" not in (rows[0] if rows else {})]
    if not rows or missing:
        print(f"onnx_check: {args.predictions}: expected id, label, predicted and p_<class> columns (missing {missing[:3]})", file=sys.stderr)
        return 2
    _, samples = read_dataset(args.raw)
    text = None
    if "text" in modalities:
        t = pre["text"]
        text = TextEncoder(t["tokenizer"], t["max_length"], description.get("vocabulary", ""))
    rows = rows[: args.limit] if args.limit > 0 else rows
    feeds = {}

    def add(name, value):
        feeds.setdefault(name, []).append(value)

    for row in rows:
        s = samples.get(row["id"])
        if s is None:
            print(f"onnx_check: {args.predictions}: sample {row['id']!r} is not in {args.raw}", file=sys.stderr)
            return 2
        for m in modalities:
            present = s.get(m) is not None and (m == "text" or bool(s.get(m)))
            if m == "image":
                add("image", image_features(os.path.join(args.raw, s["image"]), pre["image"]) if present
                    else np.zeros(pre["image"]["shape"], np.float32))
            elif m == "audio":
                x, valid = audio_features(os.path.join(args.raw, s["audio"]), pre["audio"]) if present \
                    else (np.zeros(pre["audio"]["shape"], np.float32), 0)
                mask = np.zeros(x.shape[1], np.float32)
                mask[:valid] = 1
                add("audio", x)
                add("audio_mask", mask)
            else:
                ids, mask = text.encode(s["text"]) if present else ([0] * text.max_length, [0] * text.max_length)
                add("text_ids", np.asarray(ids, np.int64))
                add("text_mask", np.asarray(mask, np.float32))
            add(f"{m}_present", np.float32(1 if present else 0))
    onnx.checker.check_model(onnx.load(args.model), full_check=True)
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    inputs = {i.name: np.stack(feeds[i.name]) for i in session.get_inputs()}
    _, probabilities = session.run(["logits", "probabilities"], inputs)
    expected = np.asarray([[float(r[f"p_{c}"]) for c in classes] for r in rows], dtype=np.float64)
    diff = np.abs(probabilities - expected)
    worst = int(diff.max(axis=1).argmax())
    agree = int((probabilities.argmax(1) == np.asarray([classes.index(r["predicted"]) for r in rows])).sum())
    result = {"model": args.model, "mode": "raw", "dataset": args.raw, "samples": len(rows),
              "max_abs_diff": float(diff.max()), "worst_sample": rows[worst]["id"], "agree": agree,
              "tolerance": tolerance, "onnxruntime": ort.__version__,
              "ok": bool(np.isfinite(probabilities).all()) and float(diff.max()) <= tolerance and agree == len(rows)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"onnx_check {args.model} --raw {args.raw}: {len(rows)} samples built from raw files with librosa, Pillow "
              f"and tokenizers from model.onnx.json alone; max |p_onnxruntime - p_fusionlab_predict| {result['max_abs_diff']:.2e} "
              f"(sample {result['worst_sample']}; tolerance {tolerance:g}), predicted class agrees {agree}/{len(rows)}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
