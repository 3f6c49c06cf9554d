#!/usr/bin/env python3
"""Writes Tests/FusionMediaTests/Golden/image_pillow.json: Pillow's resize filters on float images
(mode "F", as FusionLab resizes in floating point; torchvision's Resize on PIL images is BILINEAR)
and Pillow's 8-bit grey conversion (convert("L")) of RGB pixels.

The inputs are formulas the Swift test rebuilds: pixel (y, x) of an H x W image is
((7 x + 13 y) mod 17) / 16 + 0.01 x; the RGB pixels for the luma check are
R = 37 i mod 256, G = (91 i + 7) mod 256, B = (53 i + 11) mod 256 for i in 0..<4096.

    /work/venv/bin/python scripts/golden/image_goldens.py
"""
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FusionMediaTests", "Golden", "image_pillow.json")
FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "box": Image.BOX}
# (height, width) -> (height, width): shrinking by integer and non-integer factors, mixed, growing.
SIZES = [((4, 4), (2, 2)), ((13, 9), (5, 7)), ((48, 64), (32, 32)), ((8, 8), (28, 28)), ((30, 17), (11, 40))]


def image(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return (((7 * x + 13 * y) % 17) / 16.0 + 0.01 * x).astype(np.float32)


def main():
    cases = []
    for (h, w), (oh, ow) in SIZES:
        src = Image.fromarray(image(h, w), mode="F")
        for name, f in FILTERS.items():
            out = np.asarray(src.resize((ow, oh), f), dtype=np.float64)
            cases.append({"from": [h, w], "to": [oh, ow], "filter": name, "values": [round(float(v), 6) for v in out.ravel()]})
    i = np.arange(4096)
    rgb = np.stack([(37 * i) % 256, (91 * i + 7) % 256, (53 * i + 11) % 256], axis=1).astype(np.uint8).reshape(64, 64, 3)
    luma = np.asarray(Image.fromarray(rgb, mode="RGB").convert("L"), dtype=np.int64).ravel()
    with open(OUT, "w") as f:
        json.dump({"pillow": PIL.__version__, "resize": cases, "luma": [int(v) for v in luma]}, f)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
