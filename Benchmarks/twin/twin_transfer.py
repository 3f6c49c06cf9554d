"""Transfer learning in the twin, as FusionLab does it.

* `transfer.init_from` (Sources/FusionExperiments/Transfer.swift `resolveCheckpoint`): a
  `.safetensors` file, a run folder (its `checkpoints/best.safetensors`), or an experiment file
  (the best checkpoint of its latest run: the last folder name, sorted, under
  `<cwd>/runs/<experiment name>/` that has `checkpoints/best.safetensors`). Relative paths
  resolve against the folder FusionLab ran in, and FusionLab always looks under `runs` there
  (`Transfer.initialize` calls `resolveCheckpoint` with the default `runsRoot`, whatever `--runs`
  says).
* loading (`Transfer.initialize`): checkpoint keys renamed by the first `transfer.remap` whose
  (non-empty) `from` is a prefix; the model's state (parameters and buffers) restricted to keys
  starting with a `transfer.include` string (plain string prefix, not a dotted one; empty: every
  key); a tensor is copied when the shapes agree and kept otherwise; no tensor copied is an error.
* `transfer.freeze` / `transfer.unfreeze[].patterns` / `transfer.lr_multipliers[].pattern` use
  `keyMatches` (Sources/FusionNN/Module.swift): with a `*`, a glob over the whole key (`*` is any
  run of characters); without, the key itself or a dotted prefix of it.
* `transfer.lr_multipliers`: the first matching pattern gives a parameter's factor (default 1);
  one parameter group per factor (Trainer.makeOptimizer); frozen parameters stay in the
  optimizer and are skipped while they have no gradient.
* `transfer.unfreeze`: at the start of epoch `epoch` (1-based) the matching parameters train again.

For the twin the pretrained weights come from the twin's own pretraining (`pretrained_state` in
twin.py): the run `init_from` points to is trained by the twin with that run's configuration
and seed, and its best state dict, under FusionLab's keys, is saved as
`<pretrain run>/twin/best.safetensors`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Optional

import torch

from twin_model import TwinError


def key_matches(key: str, pattern: str) -> bool:
    """Module.swift keyMatches."""
    if "*" not in pattern:
        return key == pattern or key.startswith(pattern if pattern.endswith(".") else pattern + ".")
    k, p = key, pattern
    ki = pi = 0
    star, mark = -1, 0
    while ki < len(k):
        if pi < len(p) and p[pi] != "*" and p[pi] == k[ki]:
            ki += 1
            pi += 1
        elif pi < len(p) and p[pi] == "*":
            star, mark = pi, ki
            pi += 1
        elif star >= 0:
            pi = star + 1
            mark += 1
            ki = mark
        else:
            return False
    while pi < len(p) and p[pi] == "*":
        pi += 1
    return pi == len(p)


def transfer_config(exp: dict) -> dict:
    t = dict(exp.get("transfer") or {})
    for k in ("include", "remap", "freeze", "lr_multipliers", "unfreeze"):
        t.setdefault(k, [])
    t.setdefault("init_from", "")
    return t


def uses_transfer(exp: dict) -> bool:
    t = transfer_config(exp)
    return bool(t["init_from"] or t["freeze"] or t["unfreeze"] or t["lr_multipliers"])


# ---------------------------------------------------------------------------------------------
# Resolving init_from


@dataclass
class Resolved:
    """What `transfer.init_from` names: FusionLab's checkpoint, and the run that produced it
    (None for a bare .safetensors file outside a run folder)."""

    init_from: str
    checkpoint: str
    run_dir: Optional[str]
    note: str = ""


def experiment_name(path: str, chain=()) -> str:
    """The `name` of an experiment file after `extends` (ConfigLoader.resolve: parents merged in
    order, the file's own keys last; default "experiment")."""
    absolute = os.path.realpath(path)
    if absolute in chain:
        raise TwinError(f"{path}: extends forms a cycle")
    with open(path) as f:
        obj = json.load(f)
    name = None
    ext = obj.get("extends")
    if ext:
        for parent in ([ext] if isinstance(ext, str) else list(ext)):
            parent_path = parent if os.path.isabs(parent) else os.path.join(os.path.dirname(path), parent)
            parent_name = experiment_name(parent_path, tuple(chain) + (absolute,))
            if parent_name is not None:
                name = parent_name
    if "name" in obj:
        name = obj["name"]
    return name if chain else (name or "experiment")


def _run_stamp(folder: str) -> Optional[str]:
    """`20261201-215505-293a78` → `20261201-215505` (RunDirectory's UTC timestamp), else None."""
    parts = folder.split("-")
    if len(parts) >= 2 and len(parts[0]) == 8 and len(parts[1]) == 6 and (parts[0] + parts[1]).isdigit():
        return parts[0] + "-" + parts[1]
    return None


def _created_stamp(run_dir: Optional[str]) -> Optional[str]:
    """The fine-tune run's creation time (manifest.json `created`) as a run-folder stamp."""
    if not run_dir:
        return None
    try:
        with open(os.path.join(run_dir, "manifest.json")) as f:
            created = json.load(f)["created"]
        t = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return t.strftime("%Y%m%d-%H%M%S")
    except (OSError, KeyError, ValueError):
        return None


def _run_of_checkpoint(path: str) -> Optional[str]:
    d = os.path.dirname(os.path.abspath(path))
    if os.path.basename(d) == "checkpoints" and os.path.exists(os.path.join(os.path.dirname(d), "config.resolved.json")):
        return os.path.dirname(d)
    return None


def resolve_init_from(init_from: str, cwd: str, finetune_run: Optional[str] = None, runs_root: str = "runs") -> Resolved:
    """Transfer.resolveCheckpoint, with paths relative to `cwd` (where FusionLab ran). For an
    experiment file, runs created after the fine-tune run (`finetune_run`'s manifest) are left
    out, so the run FusionLab used is found even when the experiment was run again since."""
    path = init_from if os.path.isabs(init_from) else os.path.join(cwd, init_from)
    if os.path.isfile(path) and path.endswith(".safetensors"):
        return Resolved(init_from, path, _run_of_checkpoint(path))
    if os.path.isdir(path):
        best = os.path.join(path, "checkpoints", "best.safetensors")
        if not os.path.exists(best):
            raise TwinError(f"transfer.init_from: {init_from} has no checkpoints/best.safetensors")
        return Resolved(init_from, best, path)
    if os.path.isfile(path) and path.endswith(".json"):
        name = experiment_name(path)
        root = runs_root if os.path.isabs(runs_root) else os.path.join(cwd, runs_root)
        folder = os.path.join(root, name)
        runs = sorted(r for r in (os.listdir(folder) if os.path.isdir(folder) else [])
                      if os.path.exists(os.path.join(folder, r, "checkpoints", "best.safetensors")))
        if not runs:
            raise TwinError(f"transfer.init_from: experiment {init_from} (\"{name}\") has no finished run under {folder}")
        limit = _created_stamp(finetune_run)
        eligible = [r for r in runs if limit is None or _run_stamp(r) is None or _run_stamp(r) <= limit]
        note = ""
        if not eligible:
            raise TwinError(f"transfer.init_from: no run of {name} under {folder} predates the fine-tune run {finetune_run}")
        if eligible[-1] != runs[-1]:
            note = (f"{folder}/{runs[-1]} is newer than the fine-tune run; using {eligible[-1]}, the latest run "
                    "when FusionLab resolved init_from")
        latest = os.path.join(folder, eligible[-1])
        return Resolved(init_from, os.path.join(latest, "checkpoints", "best.safetensors"), latest, note)
    raise TwinError(f"transfer.init_from: {init_from} is not a .safetensors file, a run folder or an experiment file "
                    f"(looked for {path})")


# ---------------------------------------------------------------------------------------------
# Applying it to a model


def initialize(model: torch.nn.Module, source: Dict[str, torch.Tensor], transfer: dict, log=None, origin="") -> dict:
    """Transfer.initialize on the twin's state dict (FusionLab's keys; num_batches_tracked, which
    FusionLab has not, is never loaded). Returns {"loaded": [...], "skipped": [...]}."""
    renamed = {}
    for key, t in source.items():
        k = key
        for r in transfer.get("remap", []):
            f = r.get("from", "")
            if f and k.startswith(f):
                k = r.get("to", "") + k[len(f):]
                break
        renamed[k] = t
    include = transfer.get("include", [])
    loaded, skipped = [], []
    state = model.state_dict()
    with torch.no_grad():
        for key, t in state.items():
            if key.endswith("num_batches_tracked"):
                continue
            if include and not any(key.startswith(p) for p in include):
                continue
            src = renamed.get(key)
            if src is None:
                continue
            if tuple(src.shape) == tuple(t.shape):
                t.copy_(src.to(t.dtype))
                loaded.append(key)
            else:
                skipped.append(f"{key} {list(src.shape)}→{list(t.shape)}")
    if not loaded:
        raise TwinError(f"transfer.init_from: no tensor of {origin or 'the checkpoint'} matches the model "
                        "(check transfer.remap and transfer.include)")
    if log:
        log(f"initialised {len(loaded)} tensors from {origin}"
            + ("" if not skipped else f"; kept {len(skipped)} with other shapes: {', '.join(skipped[:3])}"))
    return {"loaded": loaded, "skipped": skipped}


def set_trainable(model: torch.nn.Module, patterns: List[str], on: bool) -> List[str]:
    """Module.setTrainable: requires_grad for every parameter matching one of `patterns`."""
    keys = []
    for key, p in model.named_parameters():
        if any(key_matches(key, pat) for pat in patterns):
            p.requires_grad_(on)
            if not on:
                p.grad = None
            keys.append(key)
    return keys


def parameter_groups(model: torch.nn.Module, transfer: dict, lr: float, weight_decay: float) -> List[dict]:
    """Trainer.makeOptimizer: a group per learning-rate factor (first matching pattern wins),
    factors in descending order, every parameter (frozen ones too)."""
    by_factor: Dict[float, list] = {}
    for key, p in model.named_parameters():
        factor = next((float(m.get("factor", 1)) for m in transfer.get("lr_multipliers", [])
                       if key_matches(key, m.get("pattern", ""))), 1.0)
        by_factor.setdefault(factor, []).append(p)
    return [{"params": by_factor[f], "lr": lr * f, "weight_decay": weight_decay, "name": f"lr×{f}"}
            for f in sorted(by_factor, reverse=True)]
