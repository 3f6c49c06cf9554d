"""The twin's own preprocessing: model-ready features built from the dataset's raw files with the
reference libraries, never from FusionLab's exported features.

- **image**: Pillow decodes (PNG, JPEG) and converts the colours (`convert("L")` for grey, 8-bit
  luma; `convert("RGB")`); transparency is composited onto white (in float, as FusionLab's
  decoder); 16-bit grey PNGs are scaled by 1/65535. Pixels in [0, 1] are resized with Pillow's
  filter on mode "F" images (`preprocessing.image.resize`: bilinear, bicubic or box; `area`, which
  Pillow lacks, is OpenCV's INTER_AREA written out in numpy), then normalised with
  `preprocessing.image.mean` / `std`.
- **audio**: `librosa.load(path, sr=sample_rate)` (soundfile, mono, soxr_hq), trimmed to
  `duration`; `librosa.feature.mfcc` on the real clip; `librosa.feature.delta` (width 9, mode
  interp, or nearest for clips of fewer than 9 frames); standardisation over the clip's own
  frames; then zero frames up to the frame count of `duration`, with a frame mask.
- **text**: Hugging Face tokenizers: BERT's normaliser and pre-tokeniser (lower case, accents
  kept) over the run's `vocab.txt` for the word tokenizer; `BertWordPieceTokenizer` with
  truncation and padding for wordpiece.

From FusionLab the twin takes only what is not preprocessing: which sample ids are in which split
(FusionLab may have made a seeded split), the class names and the encoders' layer specs
(features.json). `compare_features` then reads FusionLab's exported tensors to report the
largest difference per modality; training never sees them.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

import numpy as np

SPLITS = ("train", "val", "test")


class RawError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Dataset


def read_dataset(root: str):
    with open(os.path.join(root, "dataset.json")) as f:
        info = json.load(f)
    samples = {}
    with open(os.path.join(root, info.get("samples", "samples.jsonl"))) as f:
        for line in f:
            if line.strip():
                s = json.loads(line)
                samples[s["id"]] = s
    return info, samples


def dataset_root(run_dir: str, cwd: str) -> str:
    with open(os.path.join(run_dir, "manifest.json")) as f:
        manifest = json.load(f)
    root = manifest.get("dataset")
    if root and os.path.exists(os.path.join(root, "dataset.json")):
        return root
    with open(os.path.join(run_dir, "config.resolved.json")) as f:
        rel = json.load(f)["dataset"]["path"]
    root = rel if os.path.isabs(rel) else os.path.join(cwd, rel)
    if not os.path.exists(os.path.join(root, "dataset.json")):
        raise RawError(f"{run_dir}: cannot find the dataset folder ({root})")
    return root


# ---------------------------------------------------------------------------------------------
# Images


def decode_image(path: str, color: str) -> np.ndarray:
    """[C, H, W] float32 in [0, 1]."""
    from PIL import Image
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            mode = im.mode
        elif mode in ("L", "RGB") and "transparency" in im.info:
            im = im.convert("LA" if mode == "L" else "RGBA")
            mode = im.mode
        if mode.startswith("I;16") or mode == "I":
            grey = np.asarray(im, dtype=np.float64) / 65535.0
            planes = [grey] if color == "grey" else [grey, grey, grey]
            if color == "rgba":
                planes.append(np.ones_like(grey))
            return np.stack(planes).astype(np.float32)
        if color == "rgba":
            return (np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()
        if mode in ("LA", "RGBA", "PA"):
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
            a = rgba[..., 3]
            if color == "grey":
                y = rgba[..., 0] if mode == "LA" else 0.299 * rgba[..., 0] + 0.587 * rgba[..., 1] + 0.114 * rgba[..., 2]
                return (a * y + (1 - a))[None].astype(np.float32)
            return (a[..., None] * rgba[..., :3] + (1 - a[..., None])).transpose(2, 0, 1).astype(np.float32).copy()
        if color == "grey":
            return (np.asarray(im.convert("L"), dtype=np.float32) / 255.0)[None]
        return (np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """OpenCV INTER_AREA: each output pixel averages the input pixels it overlaps, by overlap."""
    scale = n_in / n_out
    w = np.zeros((n_out, n_in))
    for o in range(n_out):
        start, end = o * scale, (o + 1) * scale
        i = int(np.floor(start))
        while i < end and i < n_in:
            overlap = min(end, i + 1) - max(start, i)
            if overlap > 1e-12:
                w[o, i] = overlap / scale
            i += 1
    return w


def resize(x: np.ndarray, height: int, width: int, method: str) -> np.ndarray:
    from PIL import Image
    c, h, w = x.shape
    if (h, w) == (height, width):
        return x
    if method == "area":
        rows, cols = area_weights(h, height), area_weights(w, width)
        return np.einsum("oh,chw,pw->cop", rows, x.astype(np.float64), cols).astype(np.float32)
    filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "box": Image.BOX}
    if method not in filters:
        raise RawError(f"preprocessing.image.resize: {method!r} is not reproduced by the twin")
    return np.stack([np.asarray(Image.fromarray(x[i], mode="F").resize((width, height), filters[method]), dtype=np.float32)
                     for i in range(c)])


def center_crop(x: np.ndarray, fraction: float) -> np.ndarray:
    """TensorFlow's EfficientNet evaluation crop: a centred square of int(f · min(h, w))."""
    if not 0 < fraction < 1:
        return x
    _, h, w = x.shape
    side = max(1, int(fraction * min(h, w)))
    top, left = (h - side + 1) // 2, (w - side + 1) // 2
    return x[:, top:top + side, left:left + side]


def image_features(path: str, p: dict) -> np.ndarray:
    x = center_crop(decode_image(path, p.get("color", "grey")), float(p.get("center_crop", 0) or 0))
    x = resize(np.ascontiguousarray(x), int(p["height"]), int(p["width"]), p.get("resize", "bilinear"))
    mean, std = p.get("mean") or [], p.get("std") or []
    if mean and std:
        x = (x - np.asarray(mean, dtype=np.float32)[:, None, None]) / np.asarray(std, dtype=np.float32)[:, None, None]
    return x


# ---------------------------------------------------------------------------------------------
# Audio


def audio_features(path: str, p: dict):
    """[rows, frames] float32 and the number of real frames, from an experiment's
    `preprocessing.audio` or a model description's (which also states win_length, fmin, fmax,
    top_db, mel_scale, mel_norm, center and pad_mode; the experiment format fixes them at
    librosa's defaults)."""
    import librosa
    sr = int(p["sample_rate"])
    n = int(round(float(p["duration"]) * sr))
    hop, n_fft = int(p["hop_length"]), int(p["n_fft"])
    center = bool(p.get("center", True))
    if not center:
        total = max(0, 1 + (n - n_fft) // hop)
    elif p.get("framing", "librosa") == "essentia":
        total = (n + n_fft // 2 + hop - 1) // hop
    else:
        total = 1 + n // hop
    deltas, width = int(p.get("deltas", 0)), int(p.get("delta_width", 9))
    rows = (int(p["n_mels"]) if p.get("features", "mfcc") == "log_mel" else int(p["n_mfcc"])) * (1 + deltas)
    y, _ = librosa.load(path, sr=sr, mono=True)
    y = y[:n]
    out = np.zeros((rows, total), dtype=np.float32)
    if y.size == 0:
        return out, 0
    y = y * float(p.get("input_scale", 1.0))
    win = int(p.get("win_length") or n_fft)
    # Essentia's symmetric Hann (window "hann_symmetric") or librosa's periodic one.
    window = np.hanning(win) if p.get("window", "hann") == "hann_symmetric" else "hann"
    essentia = center and p.get("framing", "librosa") == "essentia"
    if essentia:
        # Essentia's FrameCutter: every centred frame that starts before the clip ends. The extra
        # frames only see zeros, so librosa's frames of the zero-extended clip are the same.
        count = (y.size + n_fft // 2 + hop - 1) // hop
        y = np.concatenate([y, np.zeros(n_fft, dtype=y.dtype)])
    norm = {"slaney": "slaney", "sum": 1.0, "none": None}[p.get("mel_norm", "slaney")]
    htk = p.get("mel_scale", "slaney") == "htk"
    fmin, fmax = float(p.get("fmin", 0.0)), float(p.get("fmax") or sr / 2)
    if p.get("mel_triangles", "hz") == "mel":
        # Triangles linear in mels (Essentia's MelBands weighting "warping").
        edges = np.linspace(librosa.hz_to_mel(fmin, htk=htk), librosa.hz_to_mel(fmax, htk=htk), int(p["n_mels"]) + 2)
        bins = librosa.hz_to_mel(np.fft.rfftfreq(n_fft, 1.0 / sr), htk=htk)
        basis = np.maximum(0, np.minimum((bins[None] - edges[:-2, None]) / np.diff(edges)[:-1, None],
                                         (edges[2:, None] - bins[None]) / np.diff(edges)[1:, None]))
        if norm == "slaney":
            hz = librosa.mel_to_hz(edges, htk=htk)
            basis *= (2.0 / (hz[2:] - hz[:-2]))[:, None]
        elif norm == 1.0:
            basis /= np.maximum(basis.sum(axis=1, keepdims=True), 1e-30)
    else:
        basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=int(p["n_mels"]), fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, window=window, center=center,
                                pad_mode=p.get("pad_mode", "constant"))) ** 2
    if essentia:
        power = power[:, :count]
    mel = basis.astype(np.float32) @ power
    if p.get("compression", "db") == "log10_1p":
        db = np.log10(1 + float(p.get("log_gain", 10000.0)) * mel)
    else:
        top_db = p.get("top_db", 80.0)
        db = librosa.power_to_db(mel, ref=float(p.get("ref", 1.0)), amin=float(p.get("amin", 1e-10)), top_db=top_db if top_db else None)
    if p.get("features", "mfcc") == "log_mel":
        m = db * float(p.get("log_scale", 1.0)) + float(p.get("log_offset", 0.0))
    else:
        m = librosa.feature.mfcc(S=db, n_mfcc=int(p["n_mfcc"]))  # what librosa.feature.mfcc(y=...) computes
    frames = m.shape[1]
    parts = [m]
    for order in range(1, deltas + 1):
        parts.append(librosa.feature.delta(m, order=order, width=width, mode="interp" if frames >= width else "nearest"))
    x = np.concatenate(parts).astype(np.float64)
    if p.get("standardize", True):
        mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
        x = (x - mean) / np.where(var > 1e-10, np.sqrt(var), 1.0)
    valid = min(frames, total)
    out[:, :valid] = x[:, :valid]
    return out, valid


# ---------------------------------------------------------------------------------------------
# Text


class TextEncoder:
    """`kind` "word" (vocab_path: one word a line, [PAD] and [UNK] first) or "wordpiece" (a BERT vocab.txt)."""

    def __init__(self, kind: str, max_length: int, vocab_path: str):
        from tokenizers import normalizers, pre_tokenizers
        self.kind, self.max_length = kind, int(max_length)
        if kind == "wordpiece":
            from tokenizers import BertWordPieceTokenizer
            self.tokenizer = BertWordPieceTokenizer(vocab_path, lowercase=True)
            self.tokenizer.enable_truncation(max_length=self.max_length)
            self.tokenizer.enable_padding(length=self.max_length, pad_id=self.tokenizer.token_to_id("[PAD]") or 0)
        else:
            with open(vocab_path, encoding="utf-8") as f:
                words = f.read().split("\n")
            if words and words[-1] == "":
                words.pop()
            self.ids = {w: i for i, w in reversed(list(enumerate(words)))}
            self.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True)
            self.pre = pre_tokenizers.BertPreTokenizer()

    @staticmethod
    def for_run(experiment: dict, run_dir: str) -> "TextEncoder":
        t = experiment.get("preprocessing", {}).get("text", {})
        kind = t.get("tokenizer", "word")
        if kind == "wordpiece":
            vocab = t.get("vocab") or os.path.join(experiment.get("model", {}).get("text", {}).get("pretrained", ""), "vocab.txt")
        else:
            vocab = os.path.join(run_dir, "vocab.txt")
            if not os.path.exists(vocab):
                vocab = t.get("vocab", "")
        return TextEncoder(kind, int(t.get("max_length", 16)), vocab)

    def encode(self, text: str):
        if self.kind == "wordpiece":
            enc = self.tokenizer.encode(text)
            return enc.ids, enc.attention_mask
        words = [w for w, _ in self.pre.pre_tokenize_str(self.normalizer.normalize_str(text))]
        ids = [self.ids.get(w, 1) for w in words][: self.max_length]
        return ids + [0] * (self.max_length - len(ids)), [1] * len(ids) + [0] * (self.max_length - len(ids))


# ---------------------------------------------------------------------------------------------
# All splits


def build_splits(run_dir: str, info: dict, cwd: str, log=print):
    """The twin's own tensors for every split (same names and order as FusionLab's export)."""
    import torch
    experiment = info["experiment"]
    root = dataset_root(run_dir, cwd)
    dataset, samples = read_dataset(root)
    classes = info["classes"]
    modalities = info.get("modalities") or experiment["model"]["modalities"]
    pre = experiment.get("preprocessing", {})
    text = TextEncoder.for_run(experiment, run_dir) if "text" in modalities else None
    splits = {}
    for split in SPLITS:
        ids = info.get("ids", {}).get(split)
        if not ids:
            continue
        tensors: Dict[str, List] = {"labels": []}
        for m in modalities:
            tensors[f"presence.{m}"] = []
        for sid in ids:
            s = samples.get(sid)
            if s is None:
                raise RawError(f"{root}: sample {sid!r} of split {split} is not in the dataset")
            label = s["label"]
            tensors["labels"].append(float(classes.index(label)) if isinstance(label, str) else float(label))
            if "image" in modalities:
                shape = info["inputs"]["image"]
                present = bool(s.get("image"))
                tensors.setdefault("image", []).append(
                    image_features(os.path.join(root, s["image"]), pre["image"]) if present else np.zeros(shape, dtype=np.float32))
                tensors["presence.image"].append(1.0 if present else 0.0)
            if "audio" in modalities:
                shape = info["inputs"]["audio"]
                present = bool(s.get("audio"))
                x, valid = audio_features(os.path.join(root, s["audio"]), pre["audio"]) if present \
                    else (np.zeros(shape, dtype=np.float32), 0)
                mask = np.zeros(shape[1], dtype=np.float32)
                mask[:valid] = 1
                tensors.setdefault("audio", []).append(x)
                tensors.setdefault("audio_mask", []).append(mask)
                tensors["presence.audio"].append(1.0 if present else 0.0)
            if "text" in modalities:
                present = s.get("text") is not None
                ids_, mask = text.encode(s["text"]) if present else ([0] * text.max_length, [0] * text.max_length)
                tensors.setdefault("text", []).append(np.asarray(ids_, dtype=np.float32))
                tensors.setdefault("text_mask", []).append(np.asarray(mask, dtype=np.float32))
                tensors["presence.text"].append(1.0 if present else 0.0)
        splits[split] = {k: torch.from_numpy(np.stack(v).astype(np.float32)) if k in ("image", "audio", "audio_mask", "text", "text_mask")
                         else torch.tensor(v, dtype=torch.float32) for k, v in tensors.items()}
        log(f"  twin preprocessing: {split}: {len(ids)} samples from the raw files of {root}")
    return splits


def compare_features(ours, theirs, ids: Dict[str, List[str]], threshold=1e-3) -> Dict[str, dict]:
    """Per modality: the largest |twin − FusionLab| over every present sample of every split, and
    the first sample and position that differ by more than `threshold`."""
    import torch
    report = {}
    for m, keys in (("image", ("image",)), ("audio", ("audio", "audio_mask")), ("text", ("text", "text_mask"))):
        worst, first, count = 0.0, None, 0
        for split in SPLITS:
            if split not in ours or m not in ours[split]:
                continue
            presence = ours[split].get(f"presence.{m}")
            for key in keys:
                a, b = ours[split][key], theirs.get(split, {}).get(key)
                if b is None or a.shape != b.shape:
                    raise RawError(f"{split}.{key}: twin shape {tuple(a.shape)}, FusionLab {None if b is None else tuple(b.shape)}")
                diff = (a.double() - b.double()).abs()
                if presence is not None:
                    diff = diff * presence.double().view(-1, *([1] * (diff.dim() - 1)))
                count += int(presence.sum()) if presence is not None and key == keys[0] else 0
                worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
                if first is None and diff.numel() and float(diff.max()) > threshold:
                    flat = int(torch.nonzero(diff.reshape(-1) > threshold)[0])
                    index = np.unravel_index(flat, tuple(diff.shape))
                    first = {"split": split, "key": key, "sample": ids[split][int(index[0])],
                             "position": [int(i) for i in index[1:]],
                             "twin": float(a.reshape(-1)[flat]), "fusionlab": float(b.reshape(-1)[flat])}
        if count or worst:
            report[m] = {"max_abs_diff": worst, "samples": count, "first_over_1e-3": first}
    return report


def report_lines(report: Dict[str, dict]) -> List[str]:
    lines = []
    for m, r in report.items():
        line = f"  features {m}: max |twin − FusionLab| = {r['max_abs_diff']:.3g} over {r['samples']} samples"
        f = r["first_over_1e-3"]
        if f:
            line += (f"; first > 1e-3: {f['split']} sample {f['sample']} {f['key']}{f['position']} "
                     f"(twin {f['twin']:.6g}, FusionLab {f['fusionlab']:.6g})")
        lines.append(line)
    return lines
