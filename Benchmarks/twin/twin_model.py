"""The PyTorch twin of a FusionLab model, built from `features.json`.

Every module, parameter name and shape follows FusionLab's Swift sources, so a FusionLab
checkpoint (`checkpoints/best.safetensors`) loads with `load_state_dict` and the twin's
state dict loads into FusionLab:

* layer stacks  - Sources/FusionModels/Stack/LayerPlan.swift (shapes, layout changes,
  valid lengths) and LayerStack.swift (forward of each layer type);
* fusions       - Sources/FusionModels/Fusions/*.swift;
* head          - Sources/FusionModels/Heads.swift;
* composition   - Sources/FusionModels/MultimodalClassifier.swift.

Keys: `encoders.<modality>.layers.<index or name>.<torch name>`, `fusion.<...>`, `head.<i>.<...>`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

MODALITY_ORDER = ["text", "image", "audio"]  # FusionData.Modality declaration order


class TwinError(Exception):
    """A configuration the twin cannot reproduce."""


# ---------------------------------------------------------------------------------------------
# Shapes and plans (LayerPlan.swift)


@dataclass(frozen=True)
class Shape:
    """Per-sample shape of a value in a stack: kind in tokens/image/channels/sequence/vector."""

    kind: str
    dims: tuple

    def __str__(self):
        return f"{self.kind} {list(self.dims)}"


def convert(shape: Shape, wanted: str) -> Optional[Shape]:
    """LayerPlan.convert: the automatic layout changes."""
    d = shape.dims
    if shape.kind == wanted:
        return shape
    if shape.kind == "channels" and wanted == "image":
        return Shape("image", (1,) + tuple(d))
    if shape.kind == "sequence" and wanted == "channels":
        return Shape("channels", (d[1], d[0]))
    if shape.kind == "channels" and wanted == "sequence":
        return Shape("sequence", (d[1], d[0]))
    if shape.kind == "image" and wanted == "sequence":
        return Shape("sequence", (d[2], d[0] * d[1]))
    return None


def _ints(v, default):
    if v is None:
        v = [default]
    if isinstance(v, int):
        v = [v]
    return list(v)


def _pair(v, default):
    a = _ints(v, default)
    return (a[0], a[1] if len(a) > 1 else a[0])


def _one(v, default):
    return _ints(v, default)[0]


def _sides(spec):
    """conv2d / pooling zeros per side, [top, bottom, left, right] (LayerPlan.sides)."""
    p = _ints(spec.get("padding"), 0)
    if len(p) == 1:
        return [p[0]] * 4
    if len(p) == 2:
        return [p[0], p[0], p[1], p[1]]
    return list(p)


def resolve_same_padding(spec, shape):
    """LayerPlan.resolveSamePadding: TensorFlow's SAME for the input `shape`."""
    def pads(n, k, s, d):
        out = (n + s - 1) // s
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        return total // 2, total - total // 2
    spec = dict(spec)
    if spec["type"] == "conv2d":
        x = shape if shape.kind == "image" else convert(shape, "image")
        k, st, d = _pair(spec.get("kernel"), 1), _pair(spec.get("stride"), 1), _pair(spec.get("dilation"), 1)
        (t, b), (l, r) = pads(x.dims[1], k[0], st[0], d[0]), pads(x.dims[2], k[1], st[1], d[1])
        spec["padding"] = [t, b, l, r]
    else:
        x = shape if shape.kind == "channels" else convert(shape, "channels")
        a, b = pads(x.dims[1], _one(spec.get("kernel"), 1), _one(spec.get("stride"), 1), _one(spec.get("dilation"), 1))
        if a != b:
            raise TwinError("conv1d: \"same\" would pad unequally")
        spec["padding"] = [a]
    return spec


def _out_size(n, k, s, p, d):
    if n + 2 * p - d * (k - 1) < 1:
        raise TwinError(f"a kernel of {k} (dilation {d}) does not fit an axis of {n} (padding {p})")
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@dataclass
class Step:
    spec: dict
    key: str
    input: Shape
    output: Shape
    inner: Optional["Plan"] = None


@dataclass
class Plan:
    steps: List[Step] = field(default_factory=list)
    input: Shape = None
    output: Shape = None

    @property
    def output_dim(self) -> int:
        return int(math.prod(self.output.dims))


def resolve(spec: dict, shape: Shape, vocabulary: int):
    """LayerPlan.resolve: (input after layout change, output, inner plan)."""
    t = spec["type"]

    def want(kinds, from_image=True):
        # LayerPlan.resolve's want: a value already of an accepted kind stays as it is; else the
        # first automatic layout change that applies (none from an image unless from_image).
        if shape.kind in kinds:
            return shape
        for k in kinds:
            if not from_image and shape.kind == "image":
                continue
            s = convert(shape, k)
            if s is not None:
                return s
        raise TwinError(f"{t}: expects {' or '.join(kinds)}, got {shape}")

    if t in ("conv2d", "max_pool2d", "avg_pool2d"):
        x = want(["image"])
        kh, kw = _pair(spec.get("kernel"), 0)
        pool = t != "conv2d"
        sh, sw = _pair(spec.get("stride") if spec.get("stride") is not None else ([kh, kw] if pool else None), 1)
        t_, b_, l_, r_ = _sides(spec)
        dh, dw = (1, 1) if pool else _pair(spec.get("dilation"), 1)
        c = x.dims[0] if pool else spec["channels"]
        return x, Shape("image", (c, _out_size(x.dims[1] + t_ + b_, kh, sh, 0, dh), _out_size(x.dims[2] + l_ + r_, kw, sw, 0, dw))), None
    if t in ("conv1d", "max_pool1d", "avg_pool1d"):
        x = want(["channels"])
        k = _one(spec.get("kernel"), 0)
        pool = t != "conv1d"
        s = _one(spec.get("stride") if spec.get("stride") is not None else ([k] if pool else None), 1)
        p = _one(spec.get("padding"), 0)
        d = 1 if pool else _one(spec.get("dilation"), 1)
        c = x.dims[0] if pool else spec["channels"]
        return x, Shape("channels", (c, _out_size(x.dims[1], k, s, p, d))), None
    if t == "flatten":
        return shape, Shape("vector", (int(math.prod(shape.dims)),)), None
    if t == "global_pool":
        feats = shape.dims[1] if shape.kind == "sequence" else shape.dims[0]
        return shape, Shape("vector", (feats,)), None
    if t == "linear":
        x = want(["vector", "sequence"], from_image=False)
        return x, Shape(x.kind, tuple(x.dims[:-1]) + (spec["units"],)), None
    if t == "layer_norm":
        x = want(["vector", "sequence"], from_image=False)
        return x, x, None
    if t == "batch_norm":
        # A `channels` value stays 1-D (BatchNorm1d over its channels); a sequence becomes channels.
        x = want(["image", "channels", "vector"])
        return x, x, None
    if t in ("dropout", "relu", "relu6", "gelu", "tanh", "sigmoid", "leaky_relu", "clamp"):
        return shape, shape, None
    if t == "residual":
        inner = build_plan(spec["layers"], shape, vocabulary, require_vector=False)
        if inner.output != shape:
            raise TwinError(f"residual: the block maps {shape} to {inner.output}")
        return shape, shape, inner
    if t in ("gru", "lstm"):
        x = want(["sequence"])
        width = spec["hidden"] * (2 if spec.get("bidirectional") else 1)
        if spec.get("output", "last") == "last":
            return x, Shape("vector", (width,)), None
        return x, Shape("sequence", (x.dims[0], width)), None
    if t in ("transformer", "positional"):
        x = want(["sequence"])
        return x, x, None
    if t == "embedding":
        if shape.kind != "tokens":
            raise TwinError("embedding expects token ids")
        return shape, Shape("sequence", (shape.dims[0], spec["units"])), None
    if t == "bag_of_words":
        if shape.kind != "tokens":
            raise TwinError("bag_of_words expects token ids")
        return shape, Shape("vector", (vocabulary,)), None
    raise TwinError(f"unknown layer type {t!r}")


def normalise_spec(spec) -> dict:
    """`"relu"` → `{"type": "relu"}`."""
    return {"type": spec} if isinstance(spec, str) else dict(spec)


def build_plan(specs, input_shape: Shape, vocabulary: int, require_vector=True) -> Plan:
    shape = input_shape
    plan = Plan(input=input_shape)
    for i, raw in enumerate(specs):
        spec = normalise_spec(raw)
        if spec.get("padding") == "same":
            spec = resolve_same_padding(spec, shape)
        key = spec.get("name") or str(i)
        ins, outs, inner = resolve(spec, shape, vocabulary)
        plan.steps.append(Step(spec, key, ins, outs, inner))
        shape = outs
    if require_vector and shape.kind != "vector":
        raise TwinError(f"the encoder must end in a vector, got {shape}")
    plan.output = shape
    return plan


def valid_steps(lengths: torch.Tensor, output_length: int, kernel: int, stride: int, padding: int, dilation: int) -> torch.Tensor:
    """LayerPlan.validSteps: a step is valid when its window's centre lies on a valid frame."""
    numerator = 2 * lengths + 2 * padding - dilation * (kernel - 1)
    count = torch.where(numerator <= 0, torch.zeros_like(numerator), (numerator + 2 * stride - 1) // (2 * stride))
    return count.clamp(min=1).clamp(max=output_length)


# ---------------------------------------------------------------------------------------------
# Values flowing through a stack (LayerStack.swift)


@dataclass
class Value:
    x: Optional[torch.Tensor]
    shape: Shape
    lengths: Optional[torch.Tensor] = None  # [B] long, valid steps on the time axis
    tokens: Optional[torch.Tensor] = None  # [B, T] long

    def replace(self, x, shape, lengths="keep"):
        return Value(x, shape, self.lengths if isinstance(lengths, str) else lengths, self.tokens)


def adapt(v: Value, target: Shape) -> Value:
    if v.shape.kind == target.kind:
        return v
    a, b = v.shape.kind, target.kind
    if a == "channels" and b == "image":
        x = v.x.unsqueeze(1)
    elif (a, b) in (("sequence", "channels"), ("channels", "sequence")):
        x = v.x.transpose(1, 2)
    elif a == "image" and b == "sequence":
        n, c, h, w = v.x.shape
        x = v.x.permute(0, 3, 1, 2).reshape(n, w, c * h)
    else:
        raise TwinError(f"no layout change from {v.shape} to {target}")
    return Value(x, target, v.lengths, v.tokens)


def position_mask(v: Value) -> Optional[torch.Tensor]:
    if v.lengths is None:
        return None
    dev = v.x.device
    if v.shape.kind == "image":
        h, w = v.shape.dims[1], v.shape.dims[2]
        col = torch.arange(h * w, device=dev) % w
        return (col[None, :] < v.lengths[:, None]).to(v.x.dtype)
    if v.shape.kind in ("channels", "sequence"):
        n = v.shape.dims[1] if v.shape.kind == "channels" else v.shape.dims[0]
        return (torch.arange(n, device=dev)[None, :] < v.lengths[:, None]).to(v.x.dtype)
    return None


def positions(v: Value) -> torch.Tensor:
    if v.shape.kind == "image":
        return v.x.reshape(v.x.shape[0], v.shape.dims[0], -1).transpose(1, 2)
    if v.shape.kind == "channels":
        return v.x.transpose(1, 2)
    return v.x


def masked_mean(x, mask):
    if mask is None:
        return x.mean(1)
    counts = mask.sum(1, keepdim=True).clamp(min=1e-9)
    return (x * mask.unsqueeze(2)).sum(1) / counts


def masked_max(x, mask):
    if mask is None:
        return x.max(1).values
    return (x + (mask.unsqueeze(2) - 1) * 1e9).max(1).values


# ---------------------------------------------------------------------------------------------
# Modules with FusionLab's parameter names


class BatchNorm(nn.Module):
    """FusionNN.BatchNorm: BatchNorm1d/2d over axis 1, keys weight/bias/running_mean/running_var
    (no num_batches_tracked; momentum 0.1, eps 1e-5; unbiased variance in the running estimate)."""

    def __init__(self, channels, momentum=0.1, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.momentum, self.eps = momentum, eps

    def forward(self, x):
        # Frozen (neither scale nor shift trains): running statistics, left as they are (BatchNorm.isFrozen).
        frozen = not self.weight.requires_grad and not self.bias.requires_grad
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training and not frozen, self.momentum, self.eps)


class AttentionPool(nn.Module):
    """global_pool op=attention: key `score.weight`, `score.bias`."""

    def __init__(self, features):
        super().__init__()
        self.score = nn.Linear(features, 1)

    def forward(self, x, mask):
        b, p = x.shape[0], x.shape[1]
        s = self.score(x).reshape(b, p)
        if mask is not None:
            s = s + (mask - 1) * 1e9
        w = s.softmax(1).unsqueeze(2)
        return (x * w).sum(1)


class LearnedPositions(nn.Module):
    def __init__(self, steps, width):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(steps, width) * 0.02)


def sinusoidal_positions(steps, width):
    pe = torch.zeros(steps, width, dtype=torch.float64)
    for t in range(steps):
        for i in range(0, width, 2):
            angle = t / math.pow(10000, i / width)
            pe[t, i] = math.sin(angle)
            if i + 1 < width:
                pe[t, i + 1] = math.cos(angle)
    return pe.float()


class MultiheadAttention(nn.Module):
    """FusionNN.MultiHeadAttention (torch.nn.MultiheadAttention's keys, batch first). No dropout
    on the attention weights (FusionLab has none); a fully masked row attends to nothing (zeros),
    as FusionLab's softmax gives zeros for a row of -inf."""

    def __init__(self, dim, heads):
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)
        self.dim, self.heads = dim, heads

    def forward(self, x, key_padding_mask=None):
        b, l, e = x.shape
        h, dh = self.heads, e // self.heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(e, dim=2)

        def split(t):
            return t.reshape(b, l, h, dh).permute(0, 2, 1, 3)

        scores = split(q) @ split(k).transpose(-1, -2) * (1 / math.sqrt(dh))
        empty = None
        if key_padding_mask is not None:
            empty = key_padding_mask.all(1)
            mask = key_padding_mask & ~empty[:, None]
            scores = scores.masked_fill(mask[:, None, None, :], float("-inf"))
        probs = scores.softmax(-1)
        if empty is not None and bool(empty.any()):
            probs = probs * (~empty).to(probs.dtype)[:, None, None, None]
        ctx = (probs @ split(v)).permute(0, 2, 1, 3).reshape(b, l, e)
        return self.out_proj(ctx)


def activation_fn(kind):
    return {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "identity": (lambda x: x)}[kind]


class TransformerEncoderLayer(nn.Module):
    """FusionNN.TransformerEncoderLayer = torch.nn.TransformerEncoderLayer(batch_first=True) keys
    and math (post-norm by default, pre-norm with norm_first), without attention-weight dropout."""

    def __init__(self, dim, heads, feed_forward, dropout=0.1, activation="relu", norm_first=False, eps=1e-5):
        super().__init__()
        self.self_attn = MultiheadAttention(dim, heads)
        self.linear1 = nn.Linear(dim, feed_forward)
        self.linear2 = nn.Linear(feed_forward, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.act = activation_fn(activation)
        self.norm_first = norm_first

    def _ff(self, h):
        return self.linear2(self.dropout(self.act(self.linear1(h))))

    def forward(self, x, key_padding_mask=None):
        if self.norm_first:
            a = x + self.dropout1(self.self_attn(self.norm1(x), key_padding_mask))
            return a + self.dropout2(self._ff(self.norm2(a)))
        a = self.norm1(x + self.dropout1(self.self_attn(x, key_padding_mask)))
        return self.norm2(a + self.dropout2(self._ff(a)))


class TransformerStack(nn.Module):
    def __init__(self, dim, heads, feed_forward, num_layers, dropout, activation, norm_first):
        super().__init__()
        self.layers = nn.ModuleList([TransformerEncoderLayer(dim, heads, feed_forward, dropout, activation, norm_first)
                                     for _ in range(num_layers)])

    def forward(self, x, key_padding_mask=None):
        for layer in self.layers:
            x = layer(x, key_padding_mask)
        return x


def make_recurrent(kind, input_size, hidden, num_layers, bidirectional, dropout):
    """gru / lstm: torch.nn.GRU / LSTM (batch first); its weights sit directly under the layer key
    (`layers.3.weight_ih_l0`), as FusionLab's RecurrentLayer."""
    cls = nn.GRU if kind == "gru" else nn.LSTM
    return cls(input_size, hidden, num_layers=num_layers, bidirectional=bidirectional,
               dropout=dropout if num_layers > 1 else 0.0, batch_first=True)


def run_recurrent(rnn, x, lengths):
    """Runs over packed sequences (padding never enters the state); returns every step's output
    of the last layer (zeros past each length) and the final state: forward state at the last
    valid step ++ backward state after step 0 (PyTorch's h_n). Lengths are clamped to 1...T."""
    b, t = x.shape[0], x.shape[1]
    if lengths is not None and bool((lengths < t).any()):
        lens = lengths.clamp(1, t).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        out, state = rnn(packed)
        out = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)[0]
    else:
        out, state = rnn(x)
    h_n = state[0] if isinstance(rnn, nn.LSTM) else state
    last = torch.cat([h_n[-2], h_n[-1]], dim=1) if rnn.bidirectional else h_n[-1]
    return out, last


class LayerStack(nn.Module):
    """A LayerPlan's modules (`layers.<key>`), run in order with the automatic layout changes."""

    def __init__(self, plan: Plan, vocabulary: int):
        super().__init__()
        self.plan = plan
        self.vocabulary = vocabulary
        self.layers = nn.ModuleDict()
        self._aux = {}
        for step in plan.steps:
            module = self._build(step)
            if module is not None:
                self.layers[step.key] = module

    def _build(self, step: Step):
        s, ins, outs, t = step.spec, step.input, step.output, step.spec["type"]
        if t == "conv2d":
            t_, b_, l_, r_ = _sides(s)
            symmetric = t_ == b_ and l_ == r_
            return nn.Conv2d(ins.dims[0], outs.dims[0], _pair(s.get("kernel"), 1), stride=_pair(s.get("stride"), 1),
                             padding=(t_, l_) if symmetric else 0, dilation=_pair(s.get("dilation"), 1),
                             groups=s.get("groups", 1), bias=s.get("bias", True) is not False)
        if t == "conv1d":
            return nn.Conv1d(ins.dims[0], outs.dims[0], _one(s.get("kernel"), 1), stride=_one(s.get("stride"), 1),
                             padding=_one(s.get("padding"), 0), dilation=_one(s.get("dilation"), 1),
                             groups=s.get("groups", 1), bias=s.get("bias", True) is not False)
        if t == "global_pool" and s.get("op", "avg") == "attention":
            return AttentionPool(outs.dims[0])
        if t == "linear":
            return nn.Linear(ins.dims[-1], s["units"], bias=s.get("bias", True) is not False)
        if t == "layer_norm":
            return nn.LayerNorm(ins.dims[-1], eps=1e-5)
        if t == "batch_norm":
            return BatchNorm(ins.dims[0], momentum=s.get("momentum", 0.1), eps=s.get("eps", 1e-5))
        if t == "dropout":
            return nn.Dropout(s.get("p", 0.5))
        if t == "residual":
            return LayerStack(step.inner, self.vocabulary)
        if t in ("gru", "lstm"):
            return make_recurrent(t, ins.dims[1], s["hidden"], s.get("num_layers", 1), bool(s.get("bidirectional", False)),
                                  s.get("p", 0.0))
        if t == "transformer":
            width = ins.dims[1]
            return TransformerStack(width, s.get("heads", 1), s.get("feed_forward", 4 * width), s.get("num_layers", 1),
                                    s.get("p", 0.1), "gelu" if s.get("activation") == "gelu" else "relu",
                                    bool(s.get("norm_first", False)))
        if t == "positional":
            if s.get("encoding") == "learned":
                return LearnedPositions(ins.dims[0], ins.dims[1])
            self._aux[step.key] = sinusoidal_positions(ins.dims[0], ins.dims[1])
            return None
        if t == "embedding":
            emb = nn.Embedding(self.vocabulary, s["units"], padding_idx=0)
            return emb
        return None

    def forward(self, v: Value) -> Value:
        for step in self.plan.steps:
            v = self._apply(step, adapt(v, step.input))
        return v

    def _apply(self, step: Step, v: Value) -> Value:
        s, outs, t = step.spec, step.output, step.spec["type"]
        m = self.layers[step.key] if step.key in self.layers else None
        if t == "conv2d":
            k, st, d = _pair(s.get("kernel"), 1), _pair(s.get("stride"), 1), _pair(s.get("dilation"), 1)
            t_, b_, l_, r_ = _sides(s)
            x = v.x if (t_ == b_ and l_ == r_) else F.pad(v.x, (l_, r_, t_, b_))
            lengths = None if v.lengths is None else valid_steps(v.lengths, outs.dims[2], k[1], st[1], l_, d[1])
            return v.replace(m(x), outs, lengths)
        if t in ("max_pool2d", "avg_pool2d"):
            k = _pair(s.get("kernel"), 1)
            st = _pair(s.get("stride") if s.get("stride") is not None else s.get("kernel"), 1)
            p = _pair(s.get("padding"), 0)
            y = F.max_pool2d(v.x, k, st, p) if t == "max_pool2d" else F.avg_pool2d(v.x, k, st, p, count_include_pad=True)
            lengths = None if v.lengths is None else valid_steps(v.lengths, outs.dims[2], k[1], st[1], p[1], 1)
            return v.replace(y, outs, lengths)
        if t == "conv1d":
            k, st, p, d = _one(s.get("kernel"), 1), _one(s.get("stride"), 1), _one(s.get("padding"), 0), _one(s.get("dilation"), 1)
            lengths = None if v.lengths is None else valid_steps(v.lengths, outs.dims[1], k, st, p, d)
            return v.replace(m(v.x), outs, lengths)
        if t in ("max_pool1d", "avg_pool1d"):
            k = _one(s.get("kernel"), 1)
            st = _one(s.get("stride"), k) if s.get("stride") is not None else k
            p = _one(s.get("padding"), 0)
            y = F.max_pool1d(v.x, k, st, p) if t == "max_pool1d" else F.avg_pool1d(v.x, k, st, p, count_include_pad=True)
            lengths = None if v.lengths is None else valid_steps(v.lengths, outs.dims[1], k, st, p, 1)
            return v.replace(y, outs, lengths)
        if t == "flatten":
            return v.replace(v.x.reshape(v.x.shape[0], -1), outs, None)
        if t == "global_pool":
            op = s.get("op", "avg")
            if s.get("rows"):
                # Rows (H) first, then the columns (W, time) as steps of a channels value.
                x = v.x.amax(2) if s["rows"] == "max" else v.x.mean(2)
                v = v.replace(x, Shape("channels", (v.shape.dims[0], v.shape.dims[2])), v.lengths)
            mask = position_mask(v) if s.get("masked", True) else None
            if op == "attention":
                y = m(positions(v), mask)
            elif op == "avg":
                y = v.x.mean((2, 3)) if (mask is None and v.shape.kind == "image") else masked_mean(positions(v), mask)
            else:
                y = masked_max(positions(v), mask)
            return v.replace(y, outs, None)
        if t in ("linear", "layer_norm", "batch_norm", "dropout"):
            return v.replace(m(v.x), outs)
        if t == "relu":
            return v.replace(F.relu(v.x), outs)
        if t == "relu6":
            return v.replace(F.relu6(v.x), outs)
        if t == "clamp":
            return v.replace(torch.clamp(v.x, s.get("lower"), s.get("upper")), outs)
        if t == "gelu":
            return v.replace(F.gelu(v.x), outs)
        if t == "tanh":
            return v.replace(torch.tanh(v.x), outs)
        if t == "sigmoid":
            return v.replace(torch.sigmoid(v.x), outs)
        if t == "leaky_relu":
            return v.replace(F.leaky_relu(v.x, s.get("slope", 0.01)), outs)
        if t == "residual":
            y = m(v)
            return v.replace(v.x + y.x, outs)
        if t in ("gru", "lstm"):
            seq, last = run_recurrent(m, v.x, v.lengths)
            if s.get("output", "last") == "last":
                return v.replace(last, outs, None)
            return v.replace(seq, outs)
        if t == "transformer":
            steps = step.input.dims[0]
            pad = None
            if v.lengths is not None:
                pad = torch.arange(steps, device=v.x.device)[None, :] >= v.lengths[:, None]
            return v.replace(m(v.x, pad), outs)
        if t == "positional":
            if s.get("encoding") == "learned":
                return v.replace(v.x + m.weight, outs)
            return v.replace(v.x + self._aux[step.key].to(v.x.device), outs)
        if t == "embedding":
            out = v.replace(m(v.tokens), outs)
            out.tokens = None
            return out
        if t == "bag_of_words":
            ids = v.tokens
            b, n = ids.shape
            lengths = v.lengths if v.lengths is not None else torch.full((b,), n, dtype=torch.long, device=ids.device)
            valid = (torch.arange(n, device=ids.device)[None, :] < lengths[:, None]) & (ids > 0) & (ids < self.vocabulary)
            counts = torch.zeros(b, self.vocabulary, device=ids.device)
            counts.scatter_add_(1, ids.clamp(0, self.vocabulary - 1), valid.float())
            if s.get("binary", False):
                counts = (counts > 0).float()
            out = v.replace(counts, outs, None)
            out.tokens = None
            return out
        raise TwinError(f"unknown layer type {t!r}")


class StackEncoder(LayerStack):
    """encoders.<modality>: the stack (its `layers` directly under the encoder's key)."""

    def encode(self, features=None, tokens=None, mask=None) -> torch.Tensor:
        lengths = None if mask is None else (mask > 0.5).sum(1).long()
        if tokens is not None:
            v = Value(None, self.plan.input, lengths, tokens)
        else:
            if tuple(features.shape[1:]) != tuple(self.plan.input.dims):
                raise TwinError(f"expected input [B, {list(self.plan.input.dims)}], got {list(features.shape)}")
            v = Value(features, self.plan.input, lengths)
        return self.forward(v).x


# ---------------------------------------------------------------------------------------------
# Fusions (Sources/FusionModels/Fusions)


def _col(p):
    return p.reshape(-1, 1)


class Fusion(nn.Module):
    produces_logits = False

    def __init__(self, dims: Dict[str, int]):
        super().__init__()
        self.order = [m for m in MODALITY_ORDER if m in dims]
        self.dims = dims


def _projections(dims, order, width):
    return nn.ModuleDict({m: nn.Linear(dims[m], width) for m in order})


class ConcatFusion(Fusion):
    def __init__(self, dims):
        super().__init__(dims)
        self.missing = nn.ParameterDict({m: nn.Parameter(torch.zeros(dims[m])) for m in self.order})
        self.output_dim = sum(dims.values())

    def forward(self, emb, presence):
        parts = []
        for m in self.order:
            p = _col(presence[m])
            parts.append(emb[m] * p + (1 - p) * self.missing[m])
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


class PoolingFusion(Fusion):
    def __init__(self, dims, dim, operation):
        super().__init__(dims)
        self.proj = _projections(dims, self.order, dim)
        self.operation = operation
        self.output_dim = dim

    def forward(self, emb, presence):
        result = None
        for m in self.order:
            p = _col(presence[m])
            u = self.proj[m](emb[m])
            term = u * p if self.operation == "sum" else u * p + (1 - p)
            result = term if result is None else (result + term if self.operation == "sum" else result * term)
        return result


class LateFusion(Fusion):
    produces_logits = True

    def __init__(self, dims, classes, learned_weights):
        super().__init__(dims)
        self.heads = nn.ModuleDict({m: nn.Linear(dims[m], classes) for m in self.order})
        self.modalityWeights = nn.Parameter(torch.zeros(len(dims))) if learned_weights else None
        self.output_dim = classes

    def forward(self, emb, presence):
        soft = self.modalityWeights.softmax(0) if self.modalityWeights is not None else None
        total = norm = None
        for i, m in enumerate(self.order):
            w = _col(presence[m])
            if soft is not None:
                w = w * soft[i:i + 1]
            term = self.heads[m](emb[m]) * w
            total = term if total is None else total + term
            norm = w if norm is None else norm + w
        return total / norm.clamp(min=1e-6)


class GatedFusion(Fusion):
    def __init__(self, dims, dim):
        super().__init__(dims)
        self.proj = _projections(dims, self.order, dim)
        total = sum(dims.values())
        self.gate = nn.ModuleDict({m: nn.Linear(total, dim) for m in self.order})
        self.output_dim = dim

    def forward(self, emb, presence):
        masked = [(emb[m] * _col(presence[m]), _col(presence[m])) for m in self.order]
        joint = masked[0][0] if len(masked) == 1 else torch.cat([e for e, _ in masked], 1)
        result = None
        for m, (e, p) in zip(self.order, masked):
            term = torch.sigmoid(self.gate[m](joint)) * torch.tanh(self.proj[m](e)) * p
            result = term if result is None else result + term
        return result


class TensorFusion(Fusion):
    def __init__(self, dims, projection):
        super().__init__(dims)
        self.proj = _projections(dims, self.order, projection)
        self.output_dim = int(math.prod(projection + 1 for _ in self.order))

    def forward(self, emb, presence):
        z = None
        for m in self.order:
            e = F.relu(self.proj[m](emb[m]))
            b = e.shape[0]
            ext = torch.cat([e * _col(presence[m]), torch.ones(b, 1, dtype=e.dtype, device=e.device)], 1)
            z = ext if z is None else (z.unsqueeze(2) * ext.unsqueeze(1)).reshape(b, -1)
        return z


class LowRankFusion(Fusion):
    def __init__(self, dims, dim, rank):
        super().__init__(dims)
        factors = {}
        for m in self.order:
            rows = dims[m] + 1
            bound = math.sqrt(6 / (rows + dim))
            factors[m] = nn.Parameter(torch.empty(rows, rank * dim).uniform_(-bound, bound))
        self.factors = nn.ParameterDict(factors)
        wb = math.sqrt(6 / (1 + rank))
        self.rankWeights = nn.Parameter(torch.empty(rank).uniform_(-wb, wb))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.rank, self.output_dim = rank, dim

    def forward(self, emb, presence):
        product = None
        for m in self.order:
            e = emb[m]
            b = e.shape[0]
            ext = torch.cat([e * _col(presence[m]), torch.ones(b, 1, dtype=e.dtype, device=e.device)], 1)
            z = (ext @ self.factors[m]).reshape(b, self.rank, self.output_dim)
            product = z if product is None else product * z
        return (product * self.rankWeights.reshape(1, self.rank, 1)).sum(1) + self.bias


def _tokens(proj, order, emb, presence):
    tokens = torch.stack([proj[m](emb[m]) for m in order], 1)
    present = torch.stack([presence[m] for m in order], 1)
    return tokens, present


class AttentionFusion(Fusion):
    def __init__(self, dims, dim, heads=4):
        super().__init__(dims)
        heads = heads if dim % heads == 0 else 1  # AttentionFusions.swift: fusion.heads, 1 when dim is not divisible
        self.proj = _projections(dims, self.order, dim)
        self.score = nn.Linear(dim, dim)
        self.scoreOut = nn.Linear(dim, heads)
        nn.init.zeros_(self.scoreOut.weight)
        nn.init.zeros_(self.scoreOut.bias)
        self.heads, self.output_dim = heads, dim

    def forward(self, emb, presence):
        tokens, present = _tokens(self.proj, self.order, emb, presence)
        b, m, d = tokens.shape
        logits = self.scoreOut(torch.tanh(self.score(tokens)))
        mask = present.unsqueeze(2)
        alpha = ((logits + (mask - 1) * 1e9).softmax(1) * mask).unsqueeze(3)
        pooled = (tokens.reshape(b, m, self.heads, d // self.heads) * alpha).sum(1).reshape(b, d)
        return pooled * present.sum(1, keepdim=True)


class TransformerFusion(Fusion):
    def __init__(self, dims, dim, layers, heads, dropout=0.1):
        super().__init__(dims)
        self.proj = _projections(dims, self.order, dim)
        self.modalityEmbedding = nn.Parameter(torch.randn(len(dims), dim) * 0.02)
        self.layers = nn.ModuleList([TransformerEncoderLayer(dim, heads, 2 * dim, dropout, "gelu", True) for _ in range(layers)])
        self.output_dim = dim

    def forward(self, emb, presence):
        tokens, present = _tokens(self.proj, self.order, emb, presence)
        h = tokens + self.modalityEmbedding.unsqueeze(0)
        pad = present < 0.5
        for layer in self.layers:
            h = layer(h, pad)
        return masked_mean(h, present)


def build_fusion(f: dict, dims: Dict[str, int], classes: int) -> Fusion:
    kind = f.get("kind", "concat")
    if kind == "concat":
        return ConcatFusion(dims)
    if kind == "late":
        return LateFusion(dims, classes, f.get("learned_weights", True))
    if kind == "gated":
        return GatedFusion(dims, f.get("dim", 64))
    if kind == "tensor":
        return TensorFusion(dims, f.get("projection", 8))
    if kind == "low_rank":
        return LowRankFusion(dims, f.get("dim", 64), f.get("rank", 4))
    if kind == "attention":
        return AttentionFusion(dims, f.get("dim", 64), f.get("heads", 2))
    if kind == "transformer":
        return TransformerFusion(dims, f.get("dim", 64), f.get("layers", 1), f.get("heads", 2))
    if kind in ("sum", "product"):
        return PoolingFusion(dims, f.get("dim", 64), kind)
    raise TwinError(f"unknown fusion kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# The classifier


class Activation(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.fn = activation_fn(kind)

    def forward(self, x):
        return self.fn(x)


def build_head(h: dict, input_dim: int, classes: int) -> nn.Sequential:
    parts, width = [], input_dim
    for size in h.get("hidden", [64]):
        parts += [nn.Linear(width, size), Activation(h.get("activation", "relu"))]
        if h.get("dropout", 0) > 0:
            parts.append(nn.Dropout(h["dropout"]))
        width = size
    parts.append(nn.Linear(width, classes))
    return nn.Sequential(*parts)


class TwinClassifier(nn.Module):
    """MultimodalClassifier: encoders → fusion → head, under FusionLab's keys."""

    def __init__(self, info: dict):
        super().__init__()
        exp = info["experiment"]
        model = exp["model"]
        if float(model.get("fusion", {}).get("modality_dropout", 0) or 0) > 0:
            raise TwinError("model.fusion.modality_dropout > 0 is not supported by the twin")
        self.modalities = [m for m in MODALITY_ORDER if m in set(info["modalities"])]
        vocab = int(info["vocabulary"])
        inputs = info["inputs"]
        encoders = {}
        for m in self.modalities:
            if m not in info["layers"]:
                raise TwinError(f"the {m} encoder is not a layer stack (pretrained text is not supported by the twin)")
            if m == "image":
                shape = Shape("image", tuple(inputs["image"]))
            elif m == "audio":
                shape = Shape("channels", tuple(inputs["audio"]))
            else:
                shape = Shape("tokens", (int(inputs["text_length"]),))
            encoders[m] = StackEncoder(build_plan(info["layers"][m], shape, vocab), vocab)
        self.encoders = nn.ModuleDict(encoders)
        dims = {m: encoders[m].plan.output_dim for m in self.modalities}
        classes = len(info["classes"])
        self.fusion = build_fusion(model.get("fusion", {}), dims, classes)
        self.head = None if self.fusion.produces_logits else build_head(model.get("head", {}), self.fusion.output_dim, classes)

    def embed(self, batch: dict) -> Dict[str, torch.Tensor]:
        out = {}
        for m in self.modalities:
            if m == "text":
                out[m] = self.encoders[m].encode(tokens=batch["text"].long(), mask=batch.get("text_mask"))
            elif m == "audio":
                out[m] = self.encoders[m].encode(features=batch["audio"], mask=batch.get("audio_mask"))
            else:
                out[m] = self.encoders[m].encode(features=batch["image"])
        return out

    def forward(self, batch: dict) -> torch.Tensor:
        emb = self.embed(batch)
        b = next(iter(emb.values())).shape[0]
        presence = {m: batch.get("presence." + m, torch.ones(b)) for m in self.modalities}
        fused = self.fusion(emb, presence)
        return fused if self.head is None else self.head(fused)

    def load_fusionlab_state(self, state: Dict[str, torch.Tensor], strict=True):
        """Loads a FusionLab state dict (num_batches_tracked, if any, ignored); checks every key and shape."""
        own = self.state_dict()
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise TwinError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        for k, v in state.items():
            if k in own and tuple(v.shape) != tuple(own[k].shape):
                raise TwinError(f"{k}: FusionLab shape {list(v.shape)}, twin shape {list(own[k].shape)}")
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
        return missing, unexpected
