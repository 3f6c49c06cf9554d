"""Writes the committed seed corpus of the fuzz harnesses (Fuzz/corpus/<harness>/): small valid
inputs of every kind each reader takes, so libFuzzer starts from the formats' real structure.

    /path/to/venv/bin/python Fuzz/make_corpus.py    (numpy, pillow, soundfile, safetensors)
"""
import io
import json
import os
import struct

import numpy as np
import soundfile as sf
from PIL import Image
from safetensors.numpy import save as save_safetensors

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = np.random.default_rng(0)


def put(harness, name, data):
    folder = os.path.join(ROOT, harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def png(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


pixels = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
put("png", "grey-1x1", png(Image.fromarray(np.array([[128]], dtype=np.uint8), "L")))
put("png", "rgb-4x3", png(Image.fromarray(pixels.reshape(3, 4, 4)[:, :, :3], "RGB")))
put("png", "rgba-3x4", png(Image.fromarray(pixels.transpose(1, 0, 2)[:, :, :4].copy(), "RGBA")))
put("png", "palette-4x4", png(Image.fromarray(pixels[0] % 4, "L").convert("P")))
put("png", "grey16-2x2", png(Image.fromarray(np.array([[0, 65535], [300, 40000]], dtype=np.uint16))))
put("png", "bilevel-8x2", png(Image.fromarray(np.array([[0, 255] * 4] * 2, dtype=np.uint8), "L").convert("1")))
put("png", "interlaced-5x5", png(Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8), "RGB"), interlace=1))

def jpeg(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


smooth = Image.fromarray(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8), "RGB")
put("jpeg", "baseline-420", jpeg(smooth, quality=70, subsampling=2))
put("jpeg", "progressive-444", jpeg(smooth, quality=90, subsampling=0, progressive=True))
put("jpeg", "grey", jpeg(smooth.convert("L"), quality=60))
put("jpeg", "png-too", png(smooth))

tone = (0.5 * np.sin(np.arange(64) / 3)).astype(np.float32)
for name, fmt, subtype, channels in [("pcm16.wav", "WAV", "PCM_16", 1), ("float.wav", "WAV", "FLOAT", 2),
                                     ("ulaw.wav", "WAV", "ULAW", 1), ("pcm24.aiff", "AIFF", "PCM_24", 1),
                                     ("pcm8.wav", "WAV", "PCM_U8", 1), ("flac16.flac", "FLAC", "PCM_16", 1)]:
    buffer = io.BytesIO()
    data = tone if channels == 1 else np.stack([tone, -tone], axis=1)
    sf.write(buffer, data, 8000, format=fmt, subtype=subtype)
    put("audio", name, buffer.getvalue())

info = {"name": "seed", "labels": ["a", "b"], "samples": "samples.jsonl"}
lines = [{"id": "s1", "split": "train", "label": "a", "text": "hello world", "image": "a.png"},
         {"id": "s2", "split": "val", "label": "b", "audio": "b.wav"},
         {"id": "s3", "split": "test", "label": "a", "text": "x", "image": "a.png", "audio": "b.wav"}]
put("dataset", "three-splits", json.dumps(info).encode() + b"\0" + "\n".join(json.dumps(l) for l in lines).encode() + b"\n")
put("dataset", "bad-line", json.dumps(info).encode() + b"\0" + b'{"id": "s1", "split": "train", "label": "c"}\n{"id": 3}\n')

base = {"name": "base", "model": {"modalities": ["image", "audio"], "fusion": {"kind": "gated"}},
        "training": {"epochs": 2, "batch_size": 8}}
experiment = {"extends": "base.json", "name": "seed",
              "model": {"image": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3}, "relu", "global_pool"]},
                        "audio": {"layers": [{"type": "gru", "hidden": 8}]}}}
put("experiment", "extends-layers",
    json.dumps(experiment).encode() + b"\0" + json.dumps(base).encode() + b"\0training.epochs=3\nmodel.fusion.kind=late\n")
put("experiment", "text-transformer",
    json.dumps({"name": "t", "model": {"modalities": ["text"], "text": {"preset": "transformer", "dim": 8, "heads": 2}}}).encode()
    + b"\0{}\0preprocessing.text.max_length=6\n")

put("safetensors", "two-tensors", save_safetensors({"a.weight": rng.standard_normal((2, 3)).astype(np.float32),
                                                    "a.bias": np.zeros(3, dtype=np.float32)}, metadata={"format": "pt"}))
put("safetensors", "scalar-f16", save_safetensors({"s": np.array(1.5, dtype=np.float16)}))

# A feature cache of two samples: image [1, 2, 2], audio [2, 3] (rows, frames), text length 2.
n, image_row, audio_row, text_len = 2, 4, 6, 2
payload = struct.pack("<2i", 0, 1) + struct.pack("<2i", 3, 2) + bytes([1, 1, 1, 0, 1, 1]) + bytes(2)
payload += np.linspace(0, 1, n * image_row, dtype=np.float32).tobytes()
payload += np.linspace(-1, 1, n * audio_row, dtype=np.float32).tobytes()
payload += struct.pack("<8i", 5, 6, 1, 1, 7, 0, 1, 0)
header = {"version": 2, "key": "seed", "split": "train", "ids": ["s1", "s2"], "imageShape": [1, 2, 2],
          "audioShape": [2, 3], "textLength": text_len, "payloadBytes": len(payload), "checksum": "auto"}
put("cache", "two-samples", json.dumps(header).encode() + b"\0" + payload)

# multipart: a Content-Type line, then the body (what `fusionlab serve` reads from an upload).
put("multipart", "text-image", b"multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n"
    b"a red square\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
    b"\x89PNG\r\n\x1a\n\x00\x00\r\n--XyZ--\r\n")
put("multipart", "quoted-boundary", b"multipart/form-data; charset=utf-8; boundary=\"a b\"\npreamble\r\n--a b\r\n"
    b"Content-Disposition: form-data; name=\"audio\"; filename=\"x;y.wav\"\r\n\r\nRIFF\r\n--a b--")
put("multipart", "empty-part", b"multipart/form-data; boundary=B\n--B\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--B--\r\n")

# table: the first byte picks the format (0 CSV, 1 TSV, 2 JSONL); media under raw/ exist.
put("table", "csv", b"\x00id,label,text,image,audio\n\xd0\xb0,cat,\"a \"\"quoted\"\", comma\nand newline\",raw/0.png,raw/0.wav\nb,dog,plain,,raw/0.wav\n")
put("table", "tsv", b"\x01sample_id\tcategory\tcaption\timage\ns1\tbird\ta bird\traw/0.png\ns2\tcat\t\traw/0.png\n")
put("table", "jsonl", b"\x02{\"id\": \"x\", \"label\": \"cat\", \"image\": \"raw/0.png\", \"split\": \"train\"}\r\n{\"id\": 7, \"label\": 3, \"text\": \"seven\"}\n")
# overrides: --set lines over a small valid experiment.
put("overrides", "numbers", b"training.epochs=3\npreprocessing.audio.n_mels=16\nmodel.fusion.kind=gated\nevaluation.conformal_alpha=0.1")
put("overrides", "lists", b"model.image.channels=[4,8]\nmodel.modalities=[\"text\",\"image\"]\ntraining.learning_rate=1e-3")
put("overrides", "layers", b"model.image.layers=[{\"type\": \"conv2d\", \"channels\": 2, \"kernel\": 3}, \"relu\", \"flatten\"]")
