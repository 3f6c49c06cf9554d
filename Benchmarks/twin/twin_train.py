"""Training and evaluation of the twin, as Sources/FusionExperiments/Trainer.swift does it.

* loss: cross entropy with label smoothing (mean over the batch); gradient accumulation
  (each loss divided by the accumulation count, a step every `grad_accumulation` batches and
  after the last batch); global-norm clipping (`clip_grad_norm_`, as `clipGradientNorm`);
* optimizer: torch.optim.Adam (L2 weight decay added to the gradient), AdamW (decoupled),
  SGD (momentum, L2) with the config's learning rate, weight decay and momentum
  (Sources/FusionOptim/Optimizer.swift);
* schedule: a multiplier per epoch (warm-up from 1/(warmup+1), then constant, step or cosine
  over the remaining epochs; Sources/FusionOptim/Schedules.swift, Trainer.scheduleMultiplier);
* data: the exported features, training batches reshuffled every epoch (torch's RNG; FusionLab's
  own RNG cannot be reproduced), evaluation batches of max(batch_size, 128) in order;
* selection: the best validation `training.early_stopping.metric` (ties → lower validation
  loss → later epoch; `min_delta`; patience), then the test split on the best epoch's weights;
* transfer: `init_state` loaded as Transfer.initialize does, `transfer.freeze`, parameter groups
  by `transfer.lr_multipliers`, `transfer.unfreeze` per epoch (twin_transfer.py); Adam's bias
  correction counts each parameter's own updates, in both.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from twin_model import TwinClassifier, TwinError
from twin_transfer import initialize, parameter_groups, set_trainable, transfer_config

SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------------------------------------
# Features


@dataclass
class Features:
    info: dict
    splits: Dict[str, Dict[str, torch.Tensor]]

    @property
    def experiment(self) -> dict:
        return self.info["experiment"]

    def size(self, split) -> int:
        return int(self.splits[split]["labels"].shape[0])


def load_features(directory: str) -> Features:
    with open(os.path.join(directory, "features.json")) as f:
        info = json.load(f)
    splits = {}
    for s in SPLITS:
        path = os.path.join(directory, f"{s}.safetensors")
        if os.path.exists(path):
            splits[s] = load_file(path)
    if "train" not in splits:
        raise TwinError(f"{directory}: no train.safetensors")
    return Features(info, splits)


def batch_of(tensors: Dict[str, torch.Tensor], index) -> Dict[str, torch.Tensor]:
    return {k: v[index] for k, v in tensors.items()}


def check_supported(exp: dict):
    """Settings the twin cannot reproduce on exported (un-augmented) features."""
    problems = []
    model = exp.get("model", {})
    if float(model.get("fusion", {}).get("modality_dropout", 0) or 0) > 0:
        problems.append("model.fusion.modality_dropout > 0")
    pre = exp.get("preprocessing", {})
    aug = pre.get("image", {}).get("augment", {})
    for k, v in aug.items():
        if v:
            problems.append(f"preprocessing.image.augment.{k} = {v}")
    audio = pre.get("audio", {})
    for k in ("time_masks", "frequency_masks"):
        if audio.get(k, 0):
            problems.append(f"preprocessing.audio.{k} = {audio[k]} (SpecAugment)")
    if "text" in model.get("modalities", []) and model.get("text", {}).get("preset") == "pretrained" \
            and not model.get("text", {}).get("layers"):
        problems.append("model.text.preset = pretrained")
    if problems:
        raise TwinError("not supported by the twin: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Metrics (Sources/FusionExperiments/Metrics.swift)


def _ratio(a, b):
    return 0.0 if b == 0 else a / b


def roc_auc(scores: np.ndarray, positives: np.ndarray) -> Optional[float]:
    p = int(positives.sum())
    n = len(positives) - p
    if p == 0 or n == 0:
        return None
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    pos_rank_sum = ranks[positives[order]].sum()
    return float((pos_rank_sum - p * (p + 1) / 2) / (p * n))


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, probabilities: Optional[np.ndarray], k: int) -> dict:
    confusion = np.zeros((k, k), dtype=np.int64)
    for t, g in zip(labels, predictions):
        confusion[t, g] += 1
    n = len(labels)
    tp = np.diag(confusion)
    support = confusion.sum(1)
    predicted = confusion.sum(0)
    precision = [_ratio(tp[c], predicted[c]) for c in range(k)]
    recall = [_ratio(tp[c], support[c]) for c in range(k)]
    f1 = [_ratio(2 * tp[c], predicted[c] + support[c]) for c in range(k)]
    correct = int(tp.sum())
    tot = int(support.sum())

    def wmean(values):
        return 0.0 if tot == 0 else float(np.dot(values, support) / tot)

    out = {
        "samples": n, "accuracy": _ratio(correct, n),
        "precision_macro": float(np.mean(precision)) if k else 0.0, "recall_macro": float(np.mean(recall)) if k else 0.0,
        "f1_macro": float(np.mean(f1)) if k else 0.0,
        "precision_micro": _ratio(correct, int(predicted.sum())), "recall_micro": _ratio(correct, tot),
        "f1_micro": _ratio(2 * correct, int(predicted.sum()) + tot),
        "precision_weighted": wmean(precision), "recall_weighted": wmean(recall), "f1_weighted": wmean(f1),
        "confusion_matrix": confusion.tolist(),
    }
    if probabilities is not None:
        aucs = [roc_auc(probabilities[:, c], labels == c) for c in range(k)]
        defined = [a for a in aucs if a is not None]
        out["roc_auc_macro"] = float(np.mean(defined)) if defined else None
        eps = float(np.finfo(np.float32).eps)
        p = np.clip(probabilities[np.arange(n), labels].astype(np.float64), eps, 1 - eps)
        out["log_loss"] = float(-np.log(p).mean()) if n else None
    return out


# ---------------------------------------------------------------------------------------------
# Schedule and optimizer


def schedule_multiplier(training: dict, epoch0: int) -> float:
    s = training.get("schedule", {})
    warm = int(s.get("warmup_epochs", 0))
    remaining = max(int(training["epochs"]) - warm, 1)
    kind = s.get("kind", "constant")

    def after(step):
        if kind == "step":
            return float(s.get("gamma", 0.1)) ** (step // int(s.get("step_size", 10)))
        if kind == "cosine":
            t = min(step, remaining) / remaining
            mf = float(s.get("min_factor", 0))
            return mf + (1 - mf) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0

    start = 1 / (warm + 1)
    if epoch0 < warm:
        return start + (1 - start) * epoch0 / warm
    return after(epoch0 - warm)


def make_optimizer(training: dict, params, transfer: Optional[dict] = None):
    """`params`: a model (its parameters, in groups by `transfer.lr_multipliers` when `transfer`
    is given, as Trainer.makeOptimizer) or an iterable of parameters."""
    lr, wd = float(training["lr"]), float(training.get("weight_decay", 0))
    if isinstance(params, torch.nn.Module):
        params = parameter_groups(params, transfer or {}, lr, wd)
    kind = training.get("optimizer", "adam")
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=float(training.get("momentum", 0.9)), weight_decay=wd)
    elif kind == "adamw":
        # FusionLab's AdamW takes training.weight_decay (default 0), not torch's default 0.01.
        opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    else:
        opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    opt.fusionlab_step_count = 0
    return opt


def optimizer_step(optimizer):
    """optimizer.step(), counting FusionLab's global `Optimizer.stepCount` (step-check). Adam's
    bias correction is per parameter in both (FusionLab's `parameterSteps`, torch's `step`
    state): a parameter unfrozen by transfer.unfreeze after k steps starts afresh (t = 1)."""
    optimizer.fusionlab_step_count += 1
    optimizer.step()


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class Evaluation:
    loss: float
    metrics: dict
    logits: torch.Tensor


@dataclass
class TwinResult:
    epochs: int
    best_epoch: int
    best_value: float
    test: dict
    test_split: str
    history: List[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    train_samples: int = 0
    best_state: Optional[Dict[str, torch.Tensor]] = None
    transfer: Optional[dict] = None
    pretrain: Optional[dict] = None


def evaluate(model, tensors: Dict[str, torch.Tensor], batch_size: int, classes: int) -> Evaluation:
    model.eval()
    n = int(tensors["labels"].shape[0])
    eb = max(batch_size, 128)
    outs = []
    with torch.no_grad():
        for start in range(0, n, eb):
            outs.append(model(batch_of(tensors, slice(start, start + eb))))
    logits = torch.cat(outs, 0)
    labels = tensors["labels"].long()
    loss = float(F.cross_entropy(logits, labels, reduction="sum")) / max(n, 1)
    probs = logits.softmax(1).numpy()
    m = classification_metrics(labels.numpy(), logits.argmax(1).numpy(), probs, classes)
    return Evaluation(loss, m, logits)


def train_epoch(model, optimizer, tensors, training: dict, generator=None):
    """One epoch over shuffled batches; returns (mean loss, accuracy, samples)."""
    model.train()
    n = int(tensors["labels"].shape[0])
    bs = int(training["batch_size"])
    accum = int(training.get("grad_accumulation", 1))
    clip = float(training.get("grad_clip", 0))
    smoothing = float(training.get("label_smoothing", 0))
    order = torch.randperm(n, generator=generator)
    batches = [order[i:i + bs] for i in range(0, n, bs)]
    if training.get("drop_last", False) and batches and len(batches[-1]) < bs:
        batches.pop()
    params = [p for p in model.parameters() if p.requires_grad]
    loss_sum, correct, seen = 0.0, 0, 0
    optimizer.zero_grad(set_to_none=True)
    for i, idx in enumerate(batches, start=1):
        b = batch_of(tensors, idx)
        labels = b["labels"].long()
        logits = model(b)
        loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
        (loss / accum if accum > 1 else loss).backward()
        if i % accum == 0 or i == len(batches):
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer_step(optimizer)
            optimizer.zero_grad(set_to_none=True)
        loss_sum += float(loss.detach()) * len(idx)
        correct += int((logits.detach().argmax(1) == labels).sum())
        seen += len(idx)
    return loss_sum / max(seen, 1), correct / max(seen, 1), seen


def epoch_selection(lower: bool, min_delta: float, score: float, val_loss: float, best: float, best_loss: float):
    """Trainer.swift EpochSelection.compare: (replaces the best epoch, the score improved). Better by
    more than min_delta, or a tie (within min_delta) with a validation loss not above the best's;
    a non-finite score never replaces."""
    if not math.isfinite(score):
        return False, False
    improved = score < best - min_delta if lower else score > best + min_delta
    tied = (not improved) and abs(score - best) <= min_delta and (math.isnan(val_loss) or not (val_loss > best_loss))
    return improved or tied, improved


PRETRAINED_PRESETS = ("efficientnet_lite0", "speech_embedding")


def weights_file(exp: dict, modality: str):
    """ImageEncoderConfig/AudioEncoderConfig.weightsFile: model.<m>.pretrained, "none", or the preset's own file."""
    encoder = exp.get("model", {}).get(modality, {})
    pretrained = encoder.get("pretrained", "")
    if pretrained == "none":
        return None
    if pretrained:
        return pretrained
    if not encoder.get("layers") and encoder.get("preset") in PRETRAINED_PRESETS:
        directory = os.environ.get("FUSIONLAB_PRETRAINED_DIR") or os.path.expanduser("~/.cache/fusionlab/pretrained")
        return os.path.join(directory, encoder["preset"] + ".safetensors")
    return None


def build_model(features: Features, seed: int) -> TwinClassifier:
    torch.manual_seed(seed)
    model = TwinClassifier(features.info)
    for modality in ("image", "audio"):
        file = weights_file(features.experiment, modality) if modality in model.encoders else None
        if file:
            # The same converted weights FusionLab loads (PretrainedWeights.load): every key, nothing else.
            missing, unexpected = model.encoders[modality].load_state_dict(load_file(file), strict=False)
            if missing or unexpected:
                raise TwinError(f"{file}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model


def fit(features: Features, seed: Optional[int] = None, log=None, init_state: Optional[Dict[str, torch.Tensor]] = None,
        init_origin: str = "", transfer_log=None) -> TwinResult:
    """Trains as Trainer.fit. With `transfer.init_from`, `init_state` is the pretrained state dict
    (FusionLab's keys) that Transfer.initialize would load (twin.py resolves it)."""
    exp = features.experiment
    check_supported(exp)
    training = exp["training"]
    transfer = transfer_config(exp)
    seed = int(exp.get("seed", 0)) if seed is None else seed
    model = build_model(features, seed)
    transfer_info = {}
    if transfer["init_from"]:
        if init_state is None:
            raise TwinError("transfer.init_from is set: the pretrained state dict is needed (twin.py resolves it)")
        transfer_info = initialize(model, init_state, transfer, log=transfer_log, origin=init_origin)
        transfer_info = {"origin": init_origin, "loaded": len(transfer_info["loaded"]), "skipped": transfer_info["skipped"]}
    if transfer["freeze"]:
        frozen = set_trainable(model, transfer["freeze"], False)
        transfer_info["frozen"] = len(frozen)
        if transfer_log:
            transfer_log(f"froze {len(frozen)} parameter tensors matching {transfer['freeze']}")
    optimizer = make_optimizer(training, model, transfer)
    if transfer["lr_multipliers"]:
        transfer_info["groups"] = {g["name"]: len(g["params"]) for g in optimizer.param_groups}
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    classes = len(features.info["classes"])
    es = training.get("early_stopping", {})
    metric = es.get("metric", "accuracy")
    min_delta = float(es.get("min_delta", 0))
    patience = int(es.get("patience", 0))
    has_val = "val" in features.splits
    lower = metric == "loss" or not has_val  # Trainer.fit: without a validation split the training loss selects
    best = math.inf if lower else -math.inf
    best_epoch, since_best = 0, 0
    best_state = None
    history: List[dict] = []
    train_seconds, train_samples = 0.0, 0
    epoch = 1
    while epoch <= int(training["epochs"]):
        for step in transfer["unfreeze"]:
            if int(step.get("epoch", 1)) == epoch:
                keys = set_trainable(model, step.get("patterns", []), True)
                if transfer_log:
                    transfer_log(f"epoch {epoch}: unfroze {len(keys)} parameter tensors matching {step.get('patterns', [])}")
        scale = schedule_multiplier(training, epoch - 1)
        for g, lr in zip(optimizer.param_groups, base_lrs):
            g["lr"] = lr * scale
        started = time.perf_counter()
        train_loss, train_acc, seen = train_epoch(model, optimizer, features.splits["train"], training)
        train_seconds += time.perf_counter() - started
        train_samples += seen
        val = evaluate(model, features.splits["val"], int(training["batch_size"]), classes) if has_val else None
        record = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc,
                  "val_loss": val.loss if val else math.nan, "val_accuracy": val.metrics["accuracy"] if val else math.nan,
                  "val_f1_macro": val.metrics["f1_macro"] if val else math.nan, "lr_scale": scale}
        history.append(record)
        if val is not None:
            value = val.loss if metric == "loss" else val.metrics.get(metric)
            score = val.metrics["accuracy"] if value is None else value
        else:
            # As Trainer.swift: without a validation split the lowest training loss is best.
            score = train_loss
        best_loss = history[best_epoch - 1]["val_loss"] if 1 <= best_epoch <= len(history) else math.inf
        replaces, improved = epoch_selection(lower, min_delta, score, record["val_loss"], best, best_loss)
        if replaces or best_epoch == 0:
            if improved or best_epoch == 0:
                best = score
            best_epoch, since_best = epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        if log:
            log(f"  epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.3f}  val loss {record['val_loss']:.4f} "
                f"acc {record['val_accuracy']:.3f}{'  * best' if best_epoch == epoch else ''}")
        if patience > 0 and since_best >= patience:
            break
        epoch += 1
    model.load_state_dict(best_state)
    split = "test" if "test" in features.splits else ("val" if has_val else "train")
    test = evaluate(model, features.splits[split], int(training["batch_size"]), classes)
    return TwinResult(epochs=len(history), best_epoch=best_epoch, best_value=best, test=test.metrics, test_split=split,
                      history=history, train_seconds=train_seconds, train_samples=train_samples, best_state=best_state,
                      transfer=transfer_info or None)
