#!/usr/bin/env python3
"""Python peers for FusionLab's front-end benchmarks (one thread).

    python Benchmarks/peers/frontend_peers.py --workload png-decode [--dir DIR] [--json]
    python Benchmarks/peers/frontend_peers.py --workload mfcc [--dir DIR] [--json]
    python Benchmarks/peers/frontend_peers.py --workload wordpiece --corpus FILE --vocab FILE [--json]
    python Benchmarks/peers/frontend_peers.py --make-inputs DIR [--vocab FILE]

png-decode: Pillow + numpy (Image.open → np.asarray float32 / 255), images/s.
mfcc: librosa.feature.mfcc on the [N, 16000] array (batched) and per clip, and
      torchaudio.transforms.MFCC per clip, with the same settings as FusionLab (16 kHz,
      n_fft 512, win 400, hop 160, 40 mels, 13 coefficients), clips/s.
wordpiece: Hugging Face tokenizers' BertWordPieceTokenizer.encode_batch, MB/s.
--make-inputs writes the shared inputs both sides can read: DIR/png (1000 grey 28×28 and
1000 RGB 64×64 PNGs), DIR/wav (200 one-second 16 kHz clips), DIR/corpus.txt (~10 MB of
English text, one text per line). Libraries that are missing are skipped with a note.
Every --json line has exactly the keys workload, system, threads, metric, value.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ARGS = None


def emit(workload, system, metric, value):
    if ARGS.json:
        print(json.dumps({"workload": workload, "system": system, "threads": 1, "metric": metric, "value": float(value)}))
    else:
        print(f"{workload}  {system}  threads=1  {metric} = {value:.2f}")
    sys.stdout.flush()


def best_time(fn, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def note(text):
    print(f"frontend_peers: {text}", file=sys.stderr)


def make_inputs(out):
    from PIL import Image
    import soundfile as sf
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(out, "png"), exist_ok=True)
    os.makedirs(os.path.join(out, "wav"), exist_ok=True)
    for i in range(2000):
        size, mode, prefix = (28, "L", "grey28") if i < 1000 else (64, "RGB", "rgb64")
        y, x = np.mgrid[0:size, 0:size]
        fx, fy = rng.uniform(0, 0.5, 2)
        chans = [0.5 + 0.35 * np.sin(x * fx + c) * np.cos(y * fy) + 0.05 * rng.standard_normal((size, size))
                 for c in range(1 if mode == "L" else 3)]
        arr = (np.clip(np.stack(chans, -1), 0, 1) * 255).round().astype(np.uint8)
        Image.fromarray(arr[..., 0] if mode == "L" else arr, mode).save(os.path.join(out, "png", f"{prefix}_{i % 1000:04d}.png"))
    t = np.arange(16000) / 16000
    for i in range(200):
        f = rng.uniform(200, 1000)
        clip = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(16000)
        sf.write(os.path.join(out, "wav", f"clip{i:03d}.wav"), clip, 16000, subtype="PCM_16")
    words = ("the of and to in a is that for it as was with be by on not he this are or his from at which but "
             "have an had they you were their one all we can her has there been if more when will would who so no "
             "model training fusion image audio dataset tokenization researchers unbelievable multimodal "
             "experiments learning networks café naïve résumé 2026 3.14").split()
    lines, total = [], 0
    while total < 10_000_000:
        n = int(rng.integers(8, 38))
        ws = [words[j] for j in rng.integers(0, len(words), n)]
        ws[0] = ws[0].capitalize()
        line = " ".join(w + ("," if rng.integers(0, 9) == 0 else "") for w in ws) + ("?" if rng.integers(0, 5) == 0 else ".")
        lines.append(line)
        total += len(line.encode()) + 1
    with open(os.path.join(out, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    note(f"wrote {out}/png, {out}/wav, {out}/corpus.txt")


def png_decode(directory):
    from PIL import Image
    if directory is None:
        raise SystemExit("png-decode needs --dir (make one with --make-inputs)")
    paths = sorted(os.path.join(directory, p) for p in os.listdir(directory) if p.lower().endswith(".png"))
    sets = [("images_per_sec", paths)]
    grey = [p for p in paths if "grey28" in os.path.basename(p)]
    rgb = [p for p in paths if "rgb64" in os.path.basename(p)]
    if grey and rgb:
        sets = [("grey28_images_per_sec", grey), ("rgb64_images_per_sec", rgb)] + sets

    def decode(ps):
        for p in ps:
            with Image.open(p) as im:
                np.asarray(im.convert("L" if "grey" in p else "RGB"), dtype=np.float32) / 255.0

    for metric, ps in sets:
        emit("png-decode", "pillow", metric, len(ps) / best_time(lambda: decode(ps)))


def load_clips(directory):
    if directory is None:
        rng = np.random.default_rng(5)
        t = np.arange(16000) / 16000
        return np.stack([0.3 * np.sin(2 * np.pi * rng.uniform(200, 1000) * t) + 0.05 * rng.standard_normal(16000)
                         for _ in range(200)]).astype(np.float32)
    paths = sorted(os.path.join(directory, p) for p in os.listdir(directory) if p.lower().endswith(".wav"))
    try:
        import soundfile as sf
        return np.stack([sf.read(p, dtype="float32")[0] for p in paths])
    except ImportError:  # 16-bit PCM mono through the standard library
        import wave
        clips = []
        for p in paths:
            with wave.open(p) as w:
                clips.append(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768)
        return np.stack(clips)


def mfcc(directory):
    clips = load_clips(directory)
    params = dict(sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, n_mfcc=13)
    try:
        import librosa
        librosa.feature.mfcc(y=clips[:2], **params)  # warm up (numba, caches)
        emit("mfcc", "librosa", "batched_clips_per_sec", len(clips) / best_time(lambda: librosa.feature.mfcc(y=clips, **params)))
        emit("mfcc", "librosa", "clips_per_sec", len(clips) / best_time(lambda: [librosa.feature.mfcc(y=c, **params) for c in clips]))
    except ImportError:
        note("librosa not installed: librosa peer skipped")
    try:
        import torch
        import torchaudio
        torch.set_num_threads(1)
        transform = torchaudio.transforms.MFCC(
            sample_rate=16000, n_mfcc=13,
            melkwargs=dict(n_fft=512, win_length=400, hop_length=160, n_mels=40, center=True,
                           pad_mode="constant", norm="slaney", mel_scale="slaney"))
        tensors = [torch.from_numpy(c) for c in clips]
        with torch.inference_mode():
            transform(tensors[0])
            emit("mfcc", "torchaudio", "clips_per_sec", len(clips) / best_time(lambda: [transform(t) for t in tensors]))
            batch = torch.from_numpy(clips)
            emit("mfcc", "torchaudio", "batched_clips_per_sec", len(clips) / best_time(lambda: transform(batch)))
    except ImportError:
        note("torch/torchaudio not installed: torchaudio peer skipped")


def wordpiece(corpus, vocab):
    if corpus is None or vocab is None:
        raise SystemExit("wordpiece needs --corpus FILE --vocab FILE")
    from tokenizers import BertWordPieceTokenizer
    with open(corpus, encoding="utf-8") as f:
        lines = f.read().split("\n")
    size = sum(len(line.encode()) + 1 for line in lines)
    tok = BertWordPieceTokenizer(vocab, lowercase=True)
    seconds = best_time(lambda: tok.encode_batch(lines))
    emit("wordpiece", "hf-tokenizers", "MB_per_sec", size / 1e6 / seconds)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=["png-decode", "mfcc", "wordpiece"])
    ap.add_argument("--dir")
    ap.add_argument("--corpus")
    ap.add_argument("--vocab")
    ap.add_argument("--make-inputs", metavar="DIR")
    ap.add_argument("--threads", type=int, default=1, help="only 1 is supported")
    ap.add_argument("--json", action="store_true")
    ARGS = ap.parse_args()
    if ARGS.make_inputs:
        make_inputs(ARGS.make_inputs)
    if ARGS.workload == "png-decode":
        png_decode(ARGS.dir)
    elif ARGS.workload == "mfcc":
        mfcc(ARGS.dir)
    elif ARGS.workload == "wordpiece":
        wordpiece(ARGS.corpus, ARGS.vocab)


if __name__ == "__main__":
    main()
