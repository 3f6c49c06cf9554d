#!/usr/bin/env python3
"""Writes the JPEG golden files of FusionData's tests: small JPEGs made by Pillow (baseline 4:2:0,
progressive 4:4:4, greyscale, and a real handwritten-digit scan from scikit-learn's digits,
upscaled), and Pillow's decoded pixels of each (RGB and "L"), which libjpeg-turbo must match.

    /work/venv/bin/python scripts/golden/jpeg_goldens.py     (numpy, pillow, scikit-learn)
"""
import io
import json
import os

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FusionMediaTests", "Golden")
rng = np.random.default_rng(7)

y, x = np.mgrid[0:20, 0:24]
smooth = np.stack([x * 10, y * 12, (x + y) * 5], axis=2) + rng.integers(0, 40, (20, 24, 3))
digit = load_digits().images[0]  # an 8×8 scan, 0..16
digit = np.kron(digit * 255 / 16, np.ones((3, 3)))
images = {
    "baseline_420.jpg": (Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8), "RGB"), {"quality": 80, "subsampling": 2}),
    "progressive_444.jpg": (Image.fromarray(np.clip(smooth[::-1], 0, 255).astype(np.uint8), "RGB"),
                            {"quality": 90, "subsampling": 0, "progressive": True}),
    "grey.jpg": (Image.fromarray(np.clip(smooth[:, :, 0], 0, 255).astype(np.uint8), "L"), {"quality": 75}),
    "digit_scan.jpg": (Image.fromarray(digit.astype(np.uint8), "L").convert("RGB"), {"quality": 85}),
}
golden = {}
for name, (image, options) in images.items():
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(buffer.getvalue())
    if name == "digit_scan.jpg":  # also the importer's test input (Tests/FusionDataTests)
        with open(os.path.join(OUT, "..", "..", "FusionDataTests", "Golden", name), "wb") as f:
            f.write(buffer.getvalue())
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    golden[name] = {
        "mode": decoded.mode,
        "width": decoded.width,
        "height": decoded.height,
        "rgb": np.asarray(decoded.convert("RGB")).transpose(2, 0, 1).ravel().tolist(),
        "grey": np.asarray(decoded.convert("L")).ravel().tolist(),
    }
with open(os.path.join(OUT, "jpeg_pillow.json"), "w") as f:
    json.dump(golden, f, separators=(",", ":"))
    f.write("\n")
