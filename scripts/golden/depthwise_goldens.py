#!/usr/bin/env python3
"""PyTorch goldens for depthwise convolution (groups = channels), asymmetric zero padding and
ReLU6: Tests/FusionNNTests/Golden/depthwise.safetensors, in make_core_goldens.py's conventions
(every g<name> is the gradient of (y * gy).sum()).

    /work/venv/bin/python scripts/golden/depthwise_goldens.py
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_core_goldens import NN_DIR, conv_case, leaf, rnd, save  # noqa: E402

CASES = {  # name: (input shape, kernel, stride, padding, dilation)
    "case0": ((2, 6, 9, 8), (3, 3), (1, 1), (1, 1), (1, 1)),
    "case1": ((2, 5, 10, 11), (3, 3), (2, 2), (0, 0), (1, 1)),
    "case2": ((1, 4, 12, 12), (5, 5), (2, 2), (2, 2), (1, 1)),
    "case3": ((2, 3, 9, 10), (3, 2), (2, 1), (1, 0), (2, 2)),
    # many channels over small planes: FusionLab's channels-last kernel
    "case4": ((2, 40, 9, 10), (3, 3), (1, 1), (1, 1), (1, 1)),
    "case5": ((1, 64, 7, 7), (5, 5), (2, 2), (2, 2), (1, 1)),
}


def main():
    torch.manual_seed(7)
    torch.set_num_threads(1)
    tensors, meta = {}, {}
    for name, (shape, k, s, p, d) in CASES.items():
        c = shape[1]
        tensors.update(conv_case(f"{name}.", F.conv2d, shape, (c, 1) + k, stride=s, padding=p, dilation=d, groups=c))
        meta[name] = f"stride={s[0]},{s[1]};padding={p[0]},{p[1]};dilation={d[0]},{d[1]};groups={c}"
    # TensorFlow "SAME" for a stride-2 3x3 on an even input: pad (top 0, bottom 1, left 0, right 1), then relu6.
    x = leaf(rnd(2, 3, 6, 8, scale=4.0))
    y = F.relu6(F.pad(x, (0, 1, 0, 1)))
    gy = rnd(*y.shape, scale=1.0)
    (y * gy).sum().backward()
    tensors.update({"pad.x": x, "pad.y": y, "pad.gy": gy, "pad.gx": x.grad})
    meta["pad"] = "top=0;bottom=1;left=0;right=1"
    save(os.path.join(NN_DIR, "depthwise.safetensors"), tensors, dict(meta, generator="scripts/golden/depthwise_goldens.py"))


if __name__ == "__main__":
    main()
