#!/usr/bin/env python3
"""Generate the PyTorch golden values for FusionLab's recurrent-layer (GRU / LSTM) tests.

Run from the repository root with a Python that has torch, numpy and safetensors
(keep that venv OUTSIDE the repository), e.g.:

    /work/venv/bin/python scripts/golden/make_recurrent_goldens.py

It rewrites Tests/FusionNNTests/Golden/recurrent.safetensors (a few tens of KB).

Conventions (same as make_core_goldens.py)
-----------------------------------------
* ``torch.manual_seed(0)`` once, single-threaded, CPU, everything in float32 with
  inputs of small magnitude.  Parameters are re-initialised explicitly with small
  normal samples (in ``named_parameters()`` order) so the values do not depend on
  PyTorch's default init scheme.
* All modules use ``batch_first=True``; ``y`` is ``[B, T, H * dirs]``.
* Every stored gradient ``g<name>`` is the autograd gradient of

      L = (y * gy).sum() + (last * glast).sum()

  where ``gy`` / ``glast`` are the stored random upstream gradients.
* ``lengths`` (float32, ``[B]``) holds the valid length of every sequence.  Cases
  with ``packed=1`` run through ``pack_padded_sequence(x, lengths, batch_first=True,
  enforce_sorted=False)`` and ``pad_packed_sequence(..., batch_first=True,
  total_length=T)``, so ``y[b, t] == 0`` for ``t >= lengths[b]`` (and ``gx`` is 0
  there too).  Cases with ``packed=0`` call the module on the dense ``x`` directly
  (all steps valid).
* ``last`` is the final hidden state ``h_n`` of the LAST layer as ``[B, H * dirs]``:
  ``h_n.view(layers, dirs, B, H)[-1].permute(1, 0, 2).reshape(B, dirs * H)``, i.e.
  the forward direction's state (after step ``lengths[b] - 1``) followed by the
  backward direction's state (after step 0).  For LSTM this is ``h_n`` (not ``c_n``).

Cases and keys (``<c>`` is the case name, every key is ``<c>.<name>``):
    gru_1    GRU(4, 3, num_layers=1),                      x [2, 5, 4], dense
    gru_bi   GRU(4, 3, num_layers=2, bidirectional=True),  x [3, 6, 4], lengths [6, 3, 1], packed
    lstm_1   LSTM(4, 3, num_layers=1),                     x [2, 5, 4], dense
    lstm_bi  LSTM(4, 3, num_layers=2, bidirectional=True), x [3, 6, 4], lengths [6, 3, 1], packed

    <c>.x  <c>.lengths  <c>.y  <c>.last  <c>.gy  <c>.glast  <c>.gx
    <c>.<p> and <c>.g<p> for every parameter name p exactly as PyTorch names it
    (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, plus the
    ``_reverse`` variants for bidirectional modules), e.g. ``gru_bi.bias_hh_l1_reverse``
    and ``gru_bi.gbias_hh_l1_reverse``.

Metadata: ``meta[<c>] = "cell=gru;layers=2;bidirectional=1;hidden=3;input=4;batch=3;steps=6;packed=1"``
plus the shared notes in ``RNN_META`` (gate order, GRU formulation, ``last`` layout).
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_core_goldens import canonicalize_metadata_order, leaf, rnd  # noqa: E402  (shared with the core goldens)

NN_DIR = os.path.join("Tests", "FusionNNTests", "Golden")
OUT = os.path.join(NN_DIR, "recurrent.safetensors")

BASE_META = {
    "generator": "scripts/golden/make_recurrent_goldens.py",
    "torch": torch.__version__.split("+")[0],
    "grad_convention": "grad of (y * gy).sum() + (last * glast).sum()",
}

RNN_META = {
    "layout": "batch_first=1; y [B,T,H*dirs]; last [B,H*dirs] = [h_n fwd | h_n bwd] of the last layer",
    "last": "h_n.view(layers,dirs,B,H)[-1].permute(1,0,2).reshape(B,dirs*H); LSTM: h_n, not c_n",
    "lengths": "float32 [B]; packed=1: pack_padded_sequence(enforce_sorted=False) + "
               "pad_packed_sequence(total_length=T), padded y steps are 0",
    "gate_order_gru": "r,z,n (rows of weight_ih/weight_hh/bias_ih/bias_hh, H each)",
    "gate_order_lstm": "i,f,g,o (rows of weight_ih/weight_hh/bias_ih/bias_hh, H each)",
    "gru_cell": "r=sig(Wir x+bir+Whr h+bhr); z=sig(Wiz x+biz+Whz h+bhz); "
                "n=tanh(Win x+bin+r*(Whn h+bhn)); h'=(1-z)*n+z*h",
    "lstm_cell": "c'=f*c+i*g; h'=o*tanh(c'); h0=c0=0",
    "init_state": "zeros",
    "param_init": "normal * 0.5 in named_parameters() order",
}


def save(path, tensors, extra_meta=None):
    meta = dict(BASE_META)
    if extra_meta:
        meta.update(extra_meta)
    out = {}
    for k, v in tensors.items():
        v = v.detach().contiguous()
        if v.dtype != torch.float32:
            raise ValueError(f"{k}: {v.dtype} not allowed (float32 only)")
        out[k] = v
    save_file(out, path, metadata=meta)
    canonicalize_metadata_order(path)
    size = os.path.getsize(path)
    print(f"wrote {path} ({size} bytes, {len(out)} tensors)")
    return out


# ---------------------------------------------------------------------------
# recurrent cases
# ---------------------------------------------------------------------------

def rnn_case(name, cell, input_size, hidden, layers, bidirectional, batch, steps, lengths=None):
    """Build one GRU/LSTM case; returns (tensors, metadata string)."""
    cls = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
    mod = cls(input_size=input_size, hidden_size=hidden, num_layers=layers,
              bidirectional=bidirectional, batch_first=True)
    mod.train()  # no dropout (dropout=0); mode does not matter otherwise
    with torch.no_grad():
        for _, p in mod.named_parameters():
            p.copy_(rnd(*p.shape, scale=0.5))
    dirs = 2 if bidirectional else 1
    packed = lengths is not None
    if lengths is None:
        lengths = [steps] * batch
    assert len(lengths) == batch and max(lengths) == steps

    x = leaf(rnd(batch, steps, input_size, scale=1.0))
    if packed:
        seq = pack_padded_sequence(x, torch.tensor(lengths, dtype=torch.int64),
                                   batch_first=True, enforce_sorted=False)
        out, state = mod(seq)
        y, out_len = pad_packed_sequence(out, batch_first=True, total_length=steps)
        assert out_len.tolist() == list(lengths), out_len
    else:
        y, state = mod(x)
    h_n = state[0] if cell == "lstm" else state
    assert tuple(h_n.shape) == (layers * dirs, batch, hidden), h_n.shape
    last = h_n.view(layers, dirs, batch, hidden)[-1].permute(1, 0, 2).reshape(batch, dirs * hidden)
    assert tuple(y.shape) == (batch, steps, hidden * dirs), y.shape

    # Sanity: padded outputs are zero; `last` matches y at the direction's final step.
    for b, n in enumerate(lengths):
        assert torch.all(y[b, n:] == 0), (name, b)
        assert torch.allclose(last[b, :hidden], y[b, n - 1, :hidden]), (name, b)
        if dirs == 2:
            assert torch.allclose(last[b, hidden:], y[b, 0, hidden:]), (name, b)

    gy = rnd(*y.shape, scale=1.0)
    glast = rnd(*last.shape, scale=1.0)
    ((y * gy).sum() + (last * glast).sum()).backward()

    for b, n in enumerate(lengths):
        assert torch.all(x.grad[b, n:] == 0), (name, b)

    p = f"{name}."
    t = {
        f"{p}x": x,
        f"{p}lengths": torch.tensor(lengths, dtype=torch.float32),
    }
    names = []
    for pname, param in mod.named_parameters():
        t[f"{p}{pname}"] = param
        names.append(pname)
    t.update({f"{p}y": y, f"{p}last": last, f"{p}gy": gy, f"{p}glast": glast, f"{p}gx": x.grad})
    for pname, param in mod.named_parameters():
        assert param.grad is not None, (name, pname)
        t[f"{p}g{pname}"] = param.grad
    meta = (f"cell={cell};layers={layers};bidirectional={int(bidirectional)};hidden={hidden};"
            f"input={input_size};batch={batch};steps={steps};packed={int(packed)}")
    return t, meta


CASES = [
    # name,     cell,  input, hidden, layers, bidirectional, batch, steps, lengths
    ("gru_1",   "gru",  4, 3, 1, False, 2, 5, None),
    ("gru_bi",  "gru",  4, 3, 2, True,  3, 6, [6, 3, 1]),
    ("lstm_1",  "lstm", 4, 3, 1, False, 2, 5, None),
    ("lstm_bi", "lstm", 4, 3, 2, True,  3, 6, [6, 3, 1]),
]


def make_recurrent():
    tensors, meta = {}, dict(RNN_META)
    for name, cell, inp, hid, layers, bidi, batch, steps, lengths in CASES:
        t, m = rnn_case(name, cell, inp, hid, layers, bidi, batch, steps, lengths)
        tensors.update(t)
        meta[name] = m
    save(OUT, tensors, meta)


def main():
    if not os.path.isdir("Tests"):
        sys.exit("run from the repository root")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(NN_DIR, exist_ok=True)
    make_recurrent()
    print("all goldens written")


if __name__ == "__main__":
    main()
