#!/usr/bin/env python3
"""Writes Tests/FusionMediaTests/Golden/padded_mfcc_librosa.json: what a PyTorch pipeline gets
from raw WAV files of variable length with librosa, for FusionLab's fixed-length audio features.

The reference pipeline, per clip (the one FusionLab's `AudioPreprocessing.features` must equal):
    y = librosa.load(path, sr=target)              # soundfile, mono, soxr_hq resampling
    y = y[:round(duration * target)]               # trimmed when longer than `duration`
    m = librosa.feature.mfcc(y=y, sr=target, n_fft=, hop_length=, n_mels=, n_mfcc=)
    deltas: librosa.feature.delta(m, order=k, width=9, mode="interp"),
            mode="nearest" when the clip has fewer than 9 frames (interp needs 9)
    standardise each row over the clip's own frames (population std; rows with variance
            below 1e-10 only centred)
    pad with zero frames to the frame count of `duration` (1 + samples // hop_length)

The clips are not stored: they are a formula of the sample index (tones, a chirp, an envelope
and an integer-hash noise) quantised to 16-bit, which the Swift test rebuilds bit for bit (it
checks the sum of the samples first), writes as WAV and reads with FusionLab.

    /work/venv/bin/python scripts/golden/padded_mfcc_goldens.py
"""
import json
import math
import os
import sys
import tempfile

import librosa
import numpy as np
import soundfile as sf

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FusionMediaTests", "Golden", "padded_mfcc_librosa.json")

# (source rate, seconds): 0.1 to 1.7 s at 8, 16, 22.05 and 44.1 kHz.
SOURCES = {"s8k_0.1": (8000, 0.1), "s8k_0.6": (8000, 0.6), "s16k_0.45": (16000, 0.45),
           "s22k_0.9": (22050, 0.9), "s44k_1.7": (44100, 1.7)}
SETTINGS = {"r8k": dict(sr=8000, n_fft=256, hop_length=128, n_mels=32, n_mfcc=13),
            "r16k": dict(sr=16000, n_fft=512, hop_length=160, n_mels=40, n_mfcc=13)}
# (source, settings, duration, deltas, standardize)
CASES = [
    ("s8k_0.1", "r8k", 1.0, 0, False),    # a 7-frame clip padded to 63 frames, raw MFCCs
    ("s8k_0.1", "r8k", 1.0, 2, True),     # shorter than the delta window: mode nearest
    ("s16k_0.45", "r8k", 1.6, 1, True),   # resampled down, padded to 4x its length
    ("s16k_0.45", "r16k", 1.0, 0, True),  # native rate
    ("s8k_0.6", "r16k", 1.0, 2, True),    # resampled up
    ("s22k_0.9", "r16k", 1.0, 2, True),   # 22.05 kHz down to 16 kHz
    ("s44k_1.7", "r16k", 1.0, 2, True),   # trimmed
    ("s44k_1.7", "r8k", 1.0, 0, False),   # trimmed, raw MFCCs
]


def clip_ints(sr, seconds):
    """The test clip as int16 values (the Swift test computes the same formula)."""
    count = int(round(seconds * sr))
    out = np.zeros(count, dtype=np.int16)
    state = 12345
    for n in range(count):
        t = n / sr
        state = (state * 1103515245 + 12345) % 2147483648
        noise = state / 2147483648.0 - 0.5
        y = 0.35 * math.sin(2 * math.pi * 330.0 * t) + 0.2 * math.sin(2 * math.pi * (900.0 + 700.0 * t) * t)
        y = y * (0.55 + 0.45 * math.sin(2 * math.pi * 2.5 * t)) + 0.03 * noise
        out[n] = int(math.floor(y * 20000.0 + 0.5))
    return out


def features(path, s, duration, deltas, standardize):
    sr = s["sr"]
    y, _ = librosa.load(path, sr=sr, mono=True)
    n = int(round(duration * sr))
    y = y[:n]
    total = 1 + n // s["hop_length"]
    m = librosa.feature.mfcc(y=y, **s)
    frames = m.shape[1]
    rows = [m]
    for order in range(1, deltas + 1):
        mode = "interp" if frames >= 9 else "nearest"
        rows.append(librosa.feature.delta(m, order=order, width=9, mode=mode))
    x = np.concatenate(rows).astype(np.float64)
    if standardize:
        mean = x.mean(axis=1, keepdims=True)
        var = x.var(axis=1, keepdims=True)
        x = (x - mean) / np.where(var > 1e-10, np.sqrt(var), 1.0)
    out = np.zeros((x.shape[0], total))
    valid = min(frames, total)
    out[:, :valid] = x[:, :valid]
    return out, valid


def main():
    sources = {}
    cases = []
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, (sr, seconds) in SOURCES.items():
            ints = clip_ints(sr, seconds)
            paths[name] = os.path.join(folder, name + ".wav")
            sf.write(paths[name], ints, sr, subtype="PCM_16")
            sources[name] = {"sample_rate": sr, "seconds": seconds, "count": int(ints.size), "sum": int(ints.astype(np.int64).sum())}
        for source, setting, duration, deltas, standardize in CASES:
            s = SETTINGS[setting]
            x, valid = features(paths[source], s, duration, deltas, standardize)
            cases.append({"source": source, "settings": s, "duration": duration, "deltas": deltas, "standardize": standardize,
                          "shape": list(x.shape), "valid_frames": valid,
                          "values": [[round(float(v), 4) for v in row[:valid]] for row in x]})
    with open(OUT, "w") as f:
        json.dump({"librosa": librosa.__version__, "sources": sources, "cases": cases}, f)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
