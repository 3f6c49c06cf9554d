#!/usr/bin/env python3
"""Generate the PyTorch golden values for FusionLab's numeric-core tests.

Run from the repository root with a Python that has torch, numpy and safetensors
(keep that venv OUTSIDE the repository):

    /path/to/venv/bin/python scripts/golden/make_core_goldens.py
    /path/to/venv/bin/python scripts/golden/make_core_goldens.py --check-only

The first form rewrites every golden file below and then, if the Swift tests have
written Tests/FusionNNTests/Golden/from_swift.safetensors, checks that PyTorch reads
it correctly.  ``--check-only`` runs only that interop check (and fails if the file
is missing).

Conventions
-----------
* ``torch.manual_seed(0)`` once, single-threaded, everything computed in float32
  (like the Swift Float32 kernels) with inputs of small magnitude.
* Every stored gradient ``g<name>`` is the autograd gradient of ``(y * gy).sum()``
  where ``gy`` is the stored random upstream gradient.
* All tensors are float32, except the deliberately half-precision tensors in
  ``from_python.safetensors``.  Integer data (targets) is stored as float32.

Files written (keys are listed in each builder below):
    Tests/FusionNNTests/Golden/{linear,conv2d,conv1d,pooling,layernorm,batchnorm,
                                attention,cross_entropy,from_python}.safetensors
    Tests/FusionOptimTests/Golden/optimizers.safetensors
"""

import argparse
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

NN_DIR = os.path.join("Tests", "FusionNNTests", "Golden")
OPTIM_DIR = os.path.join("Tests", "FusionOptimTests", "Golden")
FROM_SWIFT = os.path.join(NN_DIR, "from_swift.safetensors")

BASE_META = {
    "generator": "scripts/golden/make_core_goldens.py",
    "torch": torch.__version__.split("+")[0],
    "grad_convention": "grad of (y * gy).sum()",
}


def rnd(*shape, scale=0.5):
    """Small-magnitude float32 normal samples."""
    return torch.randn(*shape, dtype=torch.float32) * scale


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def save(path, tensors, extra_meta=None, base_meta=True):
    meta = dict(BASE_META) if base_meta else {}
    if extra_meta:
        meta.update(extra_meta)
    out = {}
    for k, v in tensors.items():
        v = v.detach().contiguous()
        if v.dtype == torch.float64:
            raise ValueError(f"{k}: float64 not allowed")
        out[k] = v
    save_file(out, path, metadata=meta)
    canonicalize_metadata_order(path)
    size = os.path.getsize(path)
    print(f"wrote {path} ({size} bytes, {len(out)} tensors)")
    return out


def canonicalize_metadata_order(path):
    """Sort the ``__metadata__`` keys in the header so reruns are byte-identical.

    safetensors serialises the metadata map in hash order, which changes between
    runs; the tensor entries and data are untouched (same JSON length, same
    offsets), so the file stays a valid safetensors file.
    """
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    new = {}
    if meta is not None:
        new["__metadata__"] = dict(sorted(meta.items()))
    new.update(header)
    text = json.dumps(new, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(text) > n:
        raise RuntimeError(f"{path}: canonical header longer than original")
    text += b" " * (n - len(text))
    with open(path, "wb") as f:
        f.write(raw[:8] + text + raw[8 + n:])


def backprop(y, gy):
    (y * gy).sum().backward()


# ---------------------------------------------------------------------------
# nn layers
# ---------------------------------------------------------------------------

def make_linear():
    x, w, b = leaf(rnd(4, 5)), leaf(rnd(3, 5)), leaf(rnd(3))
    y = F.linear(x, w, b)
    gy = rnd(3 * 4, scale=1.0).reshape(4, 3)
    backprop(y, gy)
    save(os.path.join(NN_DIR, "linear.safetensors"), {
        "x": x, "weight": w, "bias": b, "y": y, "gy": gy,
        "gx": x.grad, "gweight": w.grad, "gbias": b.grad,
    })


def conv_case(prefix, conv, x_shape, w_shape, stride, padding, dilation, groups):
    x, w, b = leaf(rnd(*x_shape)), leaf(rnd(*w_shape)), leaf(rnd(w_shape[0]))
    y = conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    gy = rnd(*y.shape, scale=1.0)
    backprop(y, gy)
    return {
        f"{prefix}x": x, f"{prefix}weight": w, f"{prefix}bias": b, f"{prefix}y": y,
        f"{prefix}gy": gy, f"{prefix}gx": x.grad, f"{prefix}gweight": w.grad,
        f"{prefix}gbias": b.grad,
    }


def make_conv2d():
    t = {}
    t.update(conv_case("case0.", F.conv2d, (2, 4, 7, 6), (6, 2, 3, 2),
                       stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2))
    t.update(conv_case("case1.", F.conv2d, (2, 3, 5, 5), (4, 3, 3, 3),
                       stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1))
    save(os.path.join(NN_DIR, "conv2d.safetensors"), t, {
        "case0": "stride=2,1;padding=1,0;dilation=1,2;groups=2",
        "case1": "stride=1,1;padding=1,1;dilation=1,1;groups=1",
    })


def make_conv1d():
    t = conv_case("case0.", F.conv1d, (2, 4, 11), (6, 2, 3),
                  stride=2, padding=2, dilation=2, groups=2)
    save(os.path.join(NN_DIR, "conv1d.safetensors"), t, {
        "case0": "stride=2;padding=2;dilation=2;groups=2",
    })


def make_pooling():
    n = 2 * 3 * 7 * 8
    # Distinct values (no ties for max pooling), spread over [-1, 1).
    x0 = (torch.randperm(n).to(torch.float32) / n * 2.0 - 1.0).reshape(2, 3, 7, 8)
    t = {"x": x0}
    cases = {
        "max0.": lambda x: F.max_pool2d(x, kernel_size=2, stride=2),
        "max1.": lambda x: F.max_pool2d(x, kernel_size=3, stride=2, padding=1),
        "avg0.": lambda x: F.avg_pool2d(x, kernel_size=2, stride=2),
        "avg1.": lambda x: F.avg_pool2d(x, kernel_size=3, stride=2, padding=1,
                                        count_include_pad=True),
    }
    for p, fn in cases.items():
        x = leaf(x0)
        y = fn(x)
        gy = rnd(*y.shape, scale=1.0)
        backprop(y, gy)
        t.update({f"{p}y": y, f"{p}gy": gy, f"{p}gx": x.grad})
    save(os.path.join(NN_DIR, "pooling.safetensors"), t, {
        "max0": "max_pool2d;kernel=2,2;stride=2,2;padding=0,0",
        "max1": "max_pool2d;kernel=3,3;stride=2,2;padding=1,1",
        "avg0": "avg_pool2d;kernel=2,2;stride=2,2;padding=0,0",
        "avg1": "avg_pool2d;kernel=3,3;stride=2,2;padding=1,1;count_include_pad=true",
    })


def make_layernorm():
    x = leaf(rnd(3, 4, 8, scale=1.0))
    w = leaf(1.0 + rnd(8, scale=0.3))
    b = leaf(rnd(8, scale=0.3))
    y = F.layer_norm(x, (8,), w, b, eps=1e-5)
    gy = rnd(*y.shape, scale=1.0)
    backprop(y, gy)
    save(os.path.join(NN_DIR, "layernorm.safetensors"), {
        "x": x, "weight": w, "bias": b, "y": y, "gy": gy,
        "gx": x.grad, "gweight": w.grad, "gbias": b.grad,
    }, {"normalized_shape": "8", "eps": "1e-05"})


def make_batchnorm():
    bn = torch.nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
    bn.train()
    with torch.no_grad():
        bn.weight.copy_(1.0 + rnd(3, scale=0.3))
        bn.bias.copy_(rnd(3, scale=0.3))
    x = leaf(rnd(4, 3, 5, 5, scale=1.0) + 0.3)
    y = bn(x)
    gy = rnd(*y.shape, scale=1.0)
    backprop(y, gy)
    save(os.path.join(NN_DIR, "batchnorm.safetensors"), {
        "x": x, "weight": bn.weight, "bias": bn.bias, "y": y, "gy": gy,
        "gx": x.grad, "gweight": bn.weight.grad, "gbias": bn.bias.grad,
        "running_mean": bn.running_mean, "running_var": bn.running_var,
    }, {
        "eps": "1e-05", "momentum": "0.1", "mode": "train",
        "running_init": "mean=0;var=1",
        "running_var_note": "updated with the unbiased (n-1) batch variance",
    })


def make_attention():
    mha = torch.nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
    mha.train()  # dropout is 0; training mode also keeps us off the fused fast path
    with torch.no_grad():
        mha.in_proj_bias.copy_(rnd(24, scale=0.3))
        mha.out_proj.bias.copy_(rnd(8, scale=0.3))
    x = leaf(rnd(2, 5, 8, scale=1.0))
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[1, 3:] = True
    y = mha(x, x, x, key_padding_mask=mask, need_weights=False)[0]
    gy = rnd(*y.shape, scale=1.0)
    backprop(y, gy)
    sd = mha.state_dict()
    assert set(sd) == {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}, sd.keys()
    t = {k: v for k, v in sd.items()}
    t.update({"x": x, "key_padding_mask": mask.to(torch.float32), "y": y, "gy": gy, "gx": x.grad})
    for name, p in mha.named_parameters():
        t[f"grad.{name}"] = p.grad
    save(os.path.join(NN_DIR, "attention.safetensors"), t, {
        "embed_dim": "8", "num_heads": "2", "batch_first": "true",
        "call": "mha(x, x, x, key_padding_mask=mask, need_weights=False)[0]",
        "key_padding_mask": "1.0 = padded (ignored key)",
    })


def make_cross_entropy():
    logits0 = rnd(6, 4, scale=1.0)
    targets = torch.randint(0, 4, (6,))
    class_weights = 0.5 + torch.rand(4)
    t = {"logits": logits0, "targets": targets.to(torch.float32), "class_weights": class_weights}

    lg = leaf(logits0)
    loss = F.cross_entropy(lg, targets)
    loss.backward()
    t.update({"plain.loss": loss.reshape(1), "plain.glogits": lg.grad})

    lg = leaf(logits0)
    loss = F.cross_entropy(lg, targets, weight=class_weights, label_smoothing=0.1)
    loss.backward()
    t.update({"smooth.loss": loss.reshape(1), "smooth.glogits": lg.grad})

    z0 = rnd(6, 4, scale=1.0)
    tb = torch.randint(0, 2, (6, 4)).to(torch.float32)
    z = leaf(z0)
    loss = F.binary_cross_entropy_with_logits(z, tb, pos_weight=torch.tensor(2.0))
    loss.backward()
    t.update({"bce.z": z0, "bce.t": tb, "bce.loss": loss.reshape(1), "bce.gz": z.grad})

    T = 2.0
    s0, tt = rnd(6, 4, scale=1.0), rnd(6, 4, scale=1.0)
    s = leaf(s0)
    loss = F.kl_div(F.log_softmax(s / T, -1), F.softmax(tt / T, -1), reduction="batchmean") * T * T
    loss.backward()
    t.update({"kl.s": s0, "kl.t": tt, "kl.loss": loss.reshape(1), "kl.gs": s.grad})

    save(os.path.join(NN_DIR, "cross_entropy.safetensors"), t, {
        "plain": "F.cross_entropy(logits, targets)",
        "smooth": "F.cross_entropy(logits, targets, weight=class_weights, label_smoothing=0.1)",
        "bce": "F.binary_cross_entropy_with_logits(z, t, pos_weight=2.0) (mean)",
        "kl": "F.kl_div(log_softmax(s/T), softmax(t/T), reduction=batchmean)*T*T; T=2",
        "T": "2.0",
    })


# ---------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------

def make_optimizers():
    p0 = rnd(5, 3, scale=1.0)
    grads = [rnd(5, 3, scale=1.0) for _ in range(3)]
    t = {"p0": p0, "g1": grads[0], "g2": grads[1], "g3": grads[2]}
    makers = {
        "adam.": lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8,
                                            weight_decay=0.1),
        "adamw.": lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1),
        "sgd.": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True,
                                          weight_decay=0.01),
    }
    for prefix, make in makers.items():
        p = torch.nn.Parameter(p0.clone())
        opt = make(p)
        for k, g in enumerate(grads, start=1):
            p.grad = g.clone()
            opt.step()
            t[f"{prefix}p{k}"] = p.detach().clone()
    save(os.path.join(OPTIM_DIR, "optimizers.safetensors"), t, {
        "adam": "Adam(lr=0.01, betas=(0.9,0.999), eps=1e-8, weight_decay=0.1) [L2 added to grad]",
        "adamw": "AdamW(lr=0.01, betas=(0.9,0.999), eps=1e-8, weight_decay=0.1) [decoupled]",
        "sgd": "SGD(lr=0.1, momentum=0.9, dampening=0, nesterov=True, weight_decay=0.01)",
        "protocol": "start from p0; for k in 1..3: p.grad = g_k; step(); store p_k",
    })


# ---------------------------------------------------------------------------
# interop
# ---------------------------------------------------------------------------

def make_from_python():
    f32 = torch.linspace(-2, 2, 12, dtype=torch.float32).reshape(3, 4)
    f16 = f32.to(torch.float16)
    bf16 = f32.to(torch.bfloat16)
    special = torch.tensor([float("inf"), float("-inf"), 6.1035e-05, 5.96e-08, -0.0, 65504.0],
                           dtype=torch.float32).to(torch.float16)
    t = {
        "f32": f32,
        "f16": f16,
        "bf16": bf16,
        "f16_expected": f16.to(torch.float32),
        "bf16_expected": bf16.to(torch.float32),
        "f16_special": special,
        "f16_special_expected": special.to(torch.float32),
    }
    # sanity: the special values landed where intended
    exp = t["f16_special_expected"]
    assert exp[2].item() == 2.0 ** -14 and exp[3].item() == 2.0 ** -24, exp
    assert exp[4].item() == 0.0 and torch.signbit(exp[4]).item(), exp
    assert exp[5].item() == 65504.0, exp
    save(os.path.join(NN_DIR, "from_python.safetensors"), t,
         {"producer": "python-safetensors", "format": "pt"}, base_meta=False)


def check_from_swift(required):
    if not os.path.exists(FROM_SWIFT):
        if required:
            sys.exit(f"ERROR: {FROM_SWIFT} does not exist (run the Swift interop test first)")
        print(f"{FROM_SWIFT}: not present, skipped")
        return
    tensors = load_file(FROM_SWIFT)
    with safe_open(FROM_SWIFT, framework="pt") as f:
        meta = f.metadata() or {}
        keys = set(f.keys())
    problems = []
    expected = {
        "arange": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "neg": -0.5 * torch.arange(6, dtype=torch.float32).reshape(2, 3),
    }
    for name, want in expected.items():
        if name not in tensors:
            problems.append(f"missing tensor {name!r} (has {sorted(keys)})")
            continue
        got = tensors[name]
        if got.dtype != want.dtype or tuple(got.shape) != tuple(want.shape):
            problems.append(f"{name}: got {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}")
        elif not torch.equal(got, want):
            problems.append(f"{name}: values differ: {got.tolist()} != {want.tolist()}")
    if meta.get("producer") != "FusionLab":
        problems.append(f"metadata producer is {meta.get('producer')!r}, want 'FusionLab' (metadata={meta})")
    if problems:
        for p in problems:
            print(f"from_swift.safetensors: FAIL: {p}", file=sys.stderr)
        sys.exit(1)
    print("from_swift.safetensors: OK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-only", action="store_true",
                    help="only verify Tests/FusionNNTests/Golden/from_swift.safetensors")
    args = ap.parse_args()
    if not os.path.isdir("Tests"):
        sys.exit("run from the repository root")
    if args.check_only:
        check_from_swift(required=True)
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(NN_DIR, exist_ok=True)
    os.makedirs(OPTIM_DIR, exist_ok=True)
    make_linear()
    make_conv2d()
    make_conv1d()
    make_pooling()
    make_layernorm()
    make_batchnorm()
    make_attention()
    make_cross_entropy()
    make_optimizers()
    make_from_python()
    check_from_swift(required=False)
    print("all goldens written")


if __name__ == "__main__":
    main()
