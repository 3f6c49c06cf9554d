#!/usr/bin/env python3
"""The serving peer of `fusionlab serve`: the PyTorch twin of a FusionLab run behind FastAPI + uvicorn.

    python Benchmarks/peers/serve_peer.py <run dir> --port 8090 [--threads 2]

It answers POST /v1/predict (multipart `text`, `image`, `audio`) with the same JSON as FusionLab's
server, preprocessing each upload with the standard Python stack: Pillow for the PNG/JPEG (resize
with Pillow's bilinear filter when the size differs), soundfile + librosa for the audio (resample
with librosa, pad/trim, `librosa.feature.mfcc` with the run's settings, per-row standardisation
when the run asks for it), the run's vocab.txt for the caption (lower case, words and punctuation
split as BERT's basic tokenizer does). The model is `Benchmarks/twin`'s TwinClassifier with the
run's best checkpoint loaded strictly, run per request in FastAPI's thread pool (no batching),
the way such a model is usually served. Needs torch, safetensors, fastapi, uvicorn,
python-multipart, pillow, soundfile, librosa; and `<run dir>/features` (features.json) from
`fusionlab export-features`, which Benchmarks/peers/serve_bench.sh makes.
"""
import argparse
import io
import json
import os
import re
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "twin"))
from twin_model import TwinClassifier  # noqa: E402

MODALITIES = ("text", "image", "audio")


def build(run_dir):
    with open(os.path.join(run_dir, "features", "features.json")) as f:
        info = json.load(f)
    model = TwinClassifier(info)
    model.load_fusionlab_state(load_file(os.path.join(run_dir, "checkpoints", "best.safetensors")), strict=True)
    model.eval()
    with open(os.path.join(run_dir, "config.resolved.json")) as f:
        config = json.load(f)
    with open(os.path.join(run_dir, "vocab.txt")) as f:
        words = f.read().split("\n")
    if words and words[-1] == "":
        words.pop()
    return model, info, config, {w: i for i, w in enumerate(words)}


class Preprocess:
    def __init__(self, config, vocab):
        self.pre = config["preprocessing"]
        self.vocab = vocab

    def image(self, data):
        from PIL import Image
        p = self.pre["image"]
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert({"grey": "L", "rgb": "RGB", "rgba": "RGBA"}[p.get("color", "rgb")])
            if im.size != (p["width"], p["height"]):
                im = im.resize((p["width"], p["height"]), Image.BILINEAR)
            x = np.asarray(im, dtype=np.float32) / 255.0
        x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
        if p.get("mean") is not None:
            x = (x - np.array(p["mean"], np.float32)[:, None, None]) / np.array(p["std"], np.float32)[:, None, None]
        return torch.from_numpy(np.ascontiguousarray(x))

    def audio(self, data):
        import librosa
        import soundfile
        a = self.pre["audio"]
        y, sr = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        rate = int(a["sample_rate"])
        if sr != rate:
            y = librosa.resample(y, orig_sr=sr, target_sr=rate)
        count = int(round(a["duration"] * rate))
        real = min(len(y), count)
        y = np.pad(y[:count], (0, max(0, count - len(y))))
        hop = int(a["hop_length"])
        m = librosa.feature.mfcc(y=y, sr=rate, n_mfcc=int(a["n_mfcc"]), n_fft=int(a["n_fft"]), hop_length=hop,
                                 n_mels=int(a["n_mels"]))
        if a.get("standardize"):
            m = (m - m.mean(axis=1, keepdims=True)) / np.where(m.std(axis=1, keepdims=True) > 1e-5, m.std(axis=1, keepdims=True), 1)
        frames = m.shape[1]
        valid = 0 if real == 0 else min(frames, 1 + real // hop)
        mask = torch.zeros(frames)
        mask[:valid] = 1
        return torch.from_numpy(m.astype(np.float32)), mask

    def text(self, text):
        n = int(self.pre["text"]["max_length"])
        tokens = re.findall(r"\w+|[^\w\s]", text.lower())[:n]
        ids = [self.vocab.get(t, 1) for t in tokens]
        mask = [1] * len(ids) + [0] * (n - len(ids))
        return torch.tensor(ids + [0] * (n - len(ids))), torch.tensor(mask, dtype=torch.float32)


def make_app(run_dir):
    from fastapi import FastAPI, File, Form, HTTPException, UploadFile
    model, info, config, vocab = build(run_dir)
    pre = Preprocess(config, vocab)
    classes = info["classes"]
    modalities = [m for m in MODALITIES if m in info["modalities"]]
    inputs = info["inputs"]
    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok", "classes": classes, "modalities": modalities}

    @app.post("/v1/predict")
    def predict(text: str = Form(None), image: UploadFile = File(None), audio: UploadFile = File(None)):
        batch = {}
        present = []
        try:
            if "image" in modalities:
                x = pre.image(image.file.read()) if image is not None else torch.zeros(inputs["image"])
                batch["image"], batch["presence.image"] = x[None], torch.tensor([float(image is not None)])
                if image is not None:
                    present.append("image")
            if "audio" in modalities:
                if audio is not None:
                    features, mask = pre.audio(audio.file.read())
                    present.append("audio")
                else:
                    features, mask = torch.zeros(inputs["audio"]), torch.ones(inputs["audio"][1])
                batch["audio"], batch["audio_mask"] = features[None], mask[None]
                batch["presence.audio"] = torch.tensor([float(audio is not None)])
            if "text" in modalities:
                ids, mask = pre.text(text if text is not None else "")
                batch["text"], batch["text_mask"] = ids[None], mask[None]
                batch["presence.text"] = torch.tensor([float(text is not None)])
                if text is not None:
                    present.append("text")
        except Exception as e:  # an undecodable upload
            raise HTTPException(status_code=422, detail=str(e))
        with torch.no_grad():
            p = model(batch).softmax(1)[0].tolist()
        best = max(range(len(p)), key=p.__getitem__)
        return {"label": classes[best], "probabilities": dict(zip(classes, p)), "modalities": present}

    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import uvicorn
    uvicorn.run(make_app(args.run_dir), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
