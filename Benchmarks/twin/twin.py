#!/usr/bin/env python3
"""PyTorch twin of FusionLab: the identical model, trained the same way on the same features.

    python Benchmarks/twin/twin.py run <run dir> [--features DIR] [--threads N]
    python Benchmarks/twin/twin.py compare <comparison dir> [--json out.json]
    python Benchmarks/twin/twin.py throughput <run dir> [--threads 1|2] [--json]
    python Benchmarks/twin/twin.py forward-golden <config.resolved.json | experiment.json | run dir> --out FILE
    python Benchmarks/twin/twin.py check <run dir>      # FusionLab checkpoint → twin logits vs predictions.csv

Features come from `fusionlab export-features` (run automatically when <run dir>/features is
missing; binary: --fusionlab, $FUSIONLAB, `fusionlab` on PATH, or .build/release/fusionlab).
The model is built from features.json (`layers`, `experiment`, `inputs`, `vocabulary`,
`classes`) with FusionLab's parameter keys, so checkpoints load either way. See README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from twin_model import TwinClassifier, TwinError  # noqa: E402
from twin_train import Features, build_model, evaluate, fit, load_features, make_optimizer, train_epoch  # noqa: E402
from twin_transfer import resolve_init_from, set_trainable, transfer_config  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# FusionLab binary and features


def fusionlab_binary(option):
    for candidate in (option, os.environ.get("FUSIONLAB"), shutil.which("fusionlab"),
                      os.path.join(REPO, ".build", "release", "fusionlab")):
        if candidate and os.path.exists(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise TwinError("no fusionlab binary: pass --fusionlab PATH (or set $FUSIONLAB)")


def run_cwd(run_dir, option):
    """The folder FusionLab ran in, so a relative dataset.path resolves: --cwd, else derived from
    manifest.json's absolute dataset path, else the repository root."""
    if option:
        return option
    try:
        with open(os.path.join(run_dir, "config.resolved.json")) as f:
            rel = json.load(f)["dataset"]["path"]
        with open(os.path.join(run_dir, "manifest.json")) as f:
            absolute = json.load(f)["dataset"]
        if not os.path.isabs(rel):
            rel_norm = os.path.normpath(rel)
            if absolute.endswith(os.sep + rel_norm):
                return absolute[: -len(rel_norm) - 1]
    except (OSError, KeyError, ValueError):
        pass
    return REPO


def export_features(source, out_dir, args, cwd=None, attempts=10):
    for attempt in range(attempts):
        # The binary may be mid-rebuild (absent or not executable for a while): wait and retry.
        try:
            binary = fusionlab_binary(args.fusionlab)
            cmd = [binary, "export-features", os.path.abspath(source) if os.path.exists(source) else source, "-o",
                   os.path.abspath(out_dir), "--quiet"]
            log(f"exporting features: {' '.join(cmd)}")
            done = subprocess.run(cmd, cwd=cwd or REPO, capture_output=True, text=True)
            break
        except (TwinError, OSError) as e:
            if attempt == attempts - 1:
                raise TwinError(f"fusionlab export-features: {e}")
            log(f"fusionlab binary unavailable ({e}); retrying in 60 s")
            time.sleep(60)
    if done.returncode != 0:
        raise TwinError(f"fusionlab export-features failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


def features_for_run(run_dir, args, features_option=None) -> Features:
    directory = features_option or os.path.join(run_dir, "features")
    if not os.path.exists(os.path.join(directory, "features.json")):
        check_dataset_unchanged(run_dir)
        export_features(run_dir, directory, args, cwd=run_cwd(run_dir, getattr(args, "cwd", None)))
    features = load_features(directory)
    check_features_match_run(run_dir, features, directory)
    if getattr(args, "raw", False):
        return raw_features_for_run(run_dir, features, args)
    return features


RAW_REPORTS = {}


def raw_features_for_run(run_dir, exported: Features, args) -> Features:
    """--raw: the twin's own features from the dataset's raw files (twin_raw.py). FusionLab's
    exported tensors are read only to report how far they are from the twin's."""
    from twin_raw import build_splits, compare_features, report_lines
    splits = build_splits(run_dir, exported.info, run_cwd(run_dir, getattr(args, "cwd", None)), log=log)
    report = compare_features(splits, exported.splits, exported.info.get("ids", {}))
    for line in report_lines(report):
        log(line)
    RAW_REPORTS[os.path.abspath(run_dir)] = report
    return Features(exported.info, splits)


def dataset_hash(root):
    """RunDirectory.swift datasetHash: FNV-1a 64 over dataset.json then samples.jsonl."""
    h = 0xCBF29CE484222325
    for prefix in (b"dataset",):
        for b in prefix:
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    for name in ("dataset.json", "samples.jsonl"):
        path = os.path.join(root, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                for b in f.read():
                    h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def check_dataset_unchanged(run_dir):
    """export-features re-reads the dataset folder; refuse when it is no longer the run's."""
    path = os.path.join(run_dir, "manifest.json")
    if not os.path.exists(path):
        return
    manifest = read_json(path)
    root, expected = manifest.get("dataset"), manifest.get("dataset_hash")
    # Runs since the media were hashed record "media:<hash>" over the media files' contents too;
    # `fusionlab export-features`, which the twin calls next, checks that one and refuses a changed dataset.
    if expected and expected.startswith("media:"):
        return
    if root and expected and os.path.isdir(root) and dataset_hash(root) != expected:
        raise TwinError(f"{root} changed since the run {run_dir} (dataset_hash {dataset_hash(root)}, the run's {expected}); "
                        "its features would not be the run's")


def check_features_match_run(run_dir, features: Features, directory):
    """export-features re-reads the dataset folder: if it changed since the run (regenerated,
    another generator version), the features are not the run's. Compare with manifest.json."""
    path = os.path.join(run_dir, "manifest.json")
    if not os.path.exists(path):
        return
    manifest = read_json(path)
    problems = []
    if manifest.get("classes") and manifest["classes"] != features.info["classes"]:
        problems.append(f"classes {features.info['classes']} vs the run's {manifest['classes']}")
    for split, n in (manifest.get("samples") or {}).items():
        got = len(features.info.get("ids", {}).get(split, []))
        if got != n:
            problems.append(f"{split}: {got} samples vs the run's {n}")
    if problems:
        raise TwinError(f"{directory} does not match the run {run_dir} (was the dataset changed after the run?): "
                        + "; ".join(problems))


def read_json(path):
    with open(path) as f:
        return json.load(f)


def fusionlab_result(run_dir):
    metrics = read_json(os.path.join(run_dir, "metrics.json"))
    epochs = None
    history = os.path.join(run_dir, "history.csv")
    if os.path.exists(history):
        with open(history) as f:
            epochs = max(0, sum(1 for _ in f) - 1)
    return metrics, epochs


def set_threads(n, experiment):
    n = n or int(experiment.get("training", {}).get("threads", 1) or 1)
    n = max(1, min(n, os.cpu_count() or 1))
    torch.set_num_threads(n)
    return n


# ---------------------------------------------------------------------------------------------
# Transfer: the pretrained weights of a fine-tune run


TWIN_SOURCES = ("twin_model.py", "twin_train.py", "twin_transfer.py")


def file_digest(paths):
    import hashlib
    h = hashlib.sha256()
    for p in paths:
        h.update(os.path.basename(p).encode() + b"\0")
        with open(p, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


def twin_state_dict(state):
    """The twin's state dict as FusionLab stores it (no num_batches_tracked, float32, contiguous)."""
    return {k: v.detach().contiguous().float() for k, v in state.items() if not k.endswith("num_batches_tracked")}


def pretrained_state(pretrain_run, args, seed=None, chain=()):
    """The twin's own pretraining of `pretrain_run` (a FusionLab run folder): trained on that run's
    features with its configuration and seed (or `seed`), best-epoch state saved under FusionLab's
    keys as <run>/twin/best.safetensors (best-seed<N> for another seed) and reused while the run's
    configuration, features, seed, the twin's sources and torch are the same. Returns
    (state dict, info)."""
    from safetensors import safe_open

    pretrain_run = os.path.normpath(os.path.abspath(pretrain_run))
    if pretrain_run in chain:
        raise TwinError(f"transfer.init_from forms a cycle: {' → '.join(chain + (pretrain_run,))}")
    features = features_for_run(pretrain_run, args)
    run_seed = int(features.experiment.get("seed", 0))
    seed = run_seed if seed is None else int(seed)
    raw = getattr(args, "raw", False)
    name = ("best" if seed == run_seed else f"best-seed{seed}") + ("-raw" if raw else "") + ".safetensors"
    path = os.path.join(pretrain_run, "twin", name)
    key = file_digest([os.path.join(pretrain_run, "config.resolved.json"), os.path.join(features_dir(pretrain_run), "features.json")]
                      + [os.path.join(HERE, f) for f in TWIN_SOURCES + (("twin_raw.py",) if raw else ())])
    key = f"{key}:seed={seed}:torch={torch.__version__}" + (":raw" if raw else "")
    fl_metrics, _ = fusionlab_result(pretrain_run)
    info = {"run_dir": pretrain_run, "checkpoint": path, "seed": seed, "fusionlab_accuracy": fl_metrics.get("accuracy"),
            "fusionlab_best_epoch": fl_metrics.get("selection", {}).get("epoch")}
    if os.path.exists(path) and not getattr(args, "retrain_pretrain", False):
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
        if meta.get("cache_key") == key:
            info.update({"cached": True, "pytorch_accuracy": float(meta.get("test_accuracy", "nan")),
                         "pytorch_best_epoch": int(meta.get("epoch", 0)), "train_seconds": float(meta.get("train_seconds", "nan"))})
            log(f"  pretrain: twin weights of {pretrain_run} from {path} (cached; twin test accuracy "
                f"{info['pytorch_accuracy']:.4f}, FusionLab {info['fusionlab_accuracy']:.4f})")
            return load_file(path), info
    log(f"  pretrain: training the twin on {pretrain_run} (seed {seed})")
    init_state, init_origin, _ = transfer_init(pretrain_run, features, args, chain + (pretrain_run,))
    set_threads(args.threads, features.experiment)
    result = fit(features, seed=seed, init_state=init_state, init_origin=init_origin,
                 transfer_log=lambda m: log("    " + m))
    state = twin_state_dict(result.best_state)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file(state, path, metadata={"epoch": str(result.best_epoch), "experiment": str(features.experiment.get("name", "")),
                                     "generator": "Benchmarks/twin/twin.py (twin pretraining)", "cache_key": key,
                                     "seed": str(seed), "test_accuracy": repr(float(result.test["accuracy"])),
                                     "train_seconds": f"{result.train_seconds:.2f}", "torch": torch.__version__})
    info.update({"cached": False, "pytorch_accuracy": float(result.test["accuracy"]), "pytorch_best_epoch": result.best_epoch,
                 "train_seconds": result.train_seconds})
    fl_checkpoint = os.path.join(pretrain_run, "checkpoints", "best.safetensors")
    if os.path.exists(fl_checkpoint):
        with safe_open(fl_checkpoint, "pt") as f:
            fl_keys = set(f.keys())
        if fl_keys != set(state):
            log(f"  warning: twin keys differ from {fl_checkpoint}: only twin {sorted(set(state) - fl_keys)[:3]}, "
                f"only FusionLab {sorted(fl_keys - set(state))[:3]}")
    log(f"  pretrain: twin test accuracy {result.test['accuracy']:.4f} (best epoch {result.best_epoch}), FusionLab "
        f"{info['fusionlab_accuracy']:.4f} (best epoch {info['fusionlab_best_epoch']}); saved {path}")
    return state, info


def features_dir(run_dir):
    return os.path.join(run_dir, "features")


def transfer_init(run_dir, features, args, chain=()):
    """(state dict, origin, info) that `transfer.init_from` of the run loads, or (None, "", None)
    without init_from. By default the twin's own pretraining of the run init_from names;
    --init-from-fusionlab: FusionLab's checkpoint itself."""
    init_from = transfer_config(features.experiment)["init_from"]
    if not init_from:
        return None, "", None
    # run_dir None: an experiment file exported by `seeds` (FusionLab would resolve it now, in --cwd).
    cwd = run_cwd(run_dir, getattr(args, "cwd", None)) if run_dir else (getattr(args, "cwd", None) or REPO)
    resolved = resolve_init_from(init_from, cwd, finetune_run=run_dir)
    if resolved.note:
        log("  note: " + resolved.note)
    if run_dir:
        check_checkpoint_predates(resolved.checkpoint, run_dir)
    if getattr(args, "init_from_fusionlab", False):
        info = {"source": "fusionlab", "checkpoint": resolved.checkpoint, "run_dir": resolved.run_dir}
        if resolved.run_dir:
            m, _ = fusionlab_result(resolved.run_dir)
            info.update({"fusionlab_accuracy": m.get("accuracy"), "fusionlab_best_epoch": m.get("selection", {}).get("epoch")})
        log(f"  init_from {init_from}: FusionLab's checkpoint {resolved.checkpoint} (--init-from-fusionlab)")
        return load_file(resolved.checkpoint), resolved.checkpoint, info
    if not resolved.run_dir:
        raise TwinError(f"transfer.init_from {init_from} is a checkpoint outside a run folder ({resolved.checkpoint}); the twin "
                        "cannot pretrain for it (pass --init-from-fusionlab to load FusionLab's weights)")
    cache = getattr(args, "_pretrain_cache", None)
    if cache is None:
        cache = args._pretrain_cache = {}
    seed = getattr(args, "pretrain_seed", None)
    key = (resolved.run_dir, seed)
    if key not in cache:
        cache[key] = pretrained_state(resolved.run_dir, args, seed=seed, chain=chain)
    state, info = cache[key]
    info = dict(info, source="twin", init_from=init_from)
    return state, f"{info['checkpoint']} (twin pretraining of {resolved.run_dir})", info


def check_checkpoint_predates(checkpoint, run_dir):
    """A FusionLab checkpoint written after the fine-tune run started is not the one it loaded."""
    try:
        with open(os.path.join(run_dir, "manifest.json")) as f:
            created = json.load(f)["created"]
        from datetime import datetime, timezone
        started = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except (OSError, KeyError, ValueError):
        return
    if os.path.getmtime(checkpoint) > started + 1:
        log(f"  warning: {checkpoint} was written after {run_dir} started; FusionLab may have loaded an earlier version")


# ---------------------------------------------------------------------------------------------
# Commands


def train_run(run_dir, args, features_option=None, verbose=False):
    features = features_for_run(run_dir, args, features_option)
    init_state, init_origin, pretrain = transfer_init(run_dir, features, args)
    threads = set_threads(args.threads, features.experiment)
    result = fit(features, log=log if verbose else None, init_state=init_state, init_origin=init_origin,
                 transfer_log=lambda m: log("  " + m))
    result.pretrain = pretrain
    metrics, fl_epochs = fusionlab_result(run_dir)
    return features, result, metrics, fl_epochs, threads


def cmd_run(args):
    features, r, metrics, fl_epochs, threads = train_run(args.run_dir, args, args.features, verbose=args.verbose)
    sel = metrics.get("selection", {})
    print(f"run {args.run_dir}: epochs {r.epochs} (FusionLab {fl_epochs}), best epoch {r.best_epoch} "
          f"(FusionLab {sel.get('epoch')}), twin test accuracy {r.test['accuracy']:.4f}, "
          f"FusionLab test accuracy {metrics['accuracy']:.4f}")
    if r.pretrain:
        print(pretrain_line(r.pretrain))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"run": args.run_dir, "seed": features.experiment.get("seed"), "threads": threads,
                       "twin": {"epochs": r.epochs, "best_epoch": r.best_epoch, "test": r.test, "history": r.history,
                                "train_seconds": r.train_seconds},
                       "fusionlab": {"epochs": fl_epochs, "best_epoch": sel.get("epoch"), "accuracy": metrics["accuracy"]},
                       "transfer": r.transfer, "pretrain": r.pretrain},
                      f, indent=2)


def pretrain_line(p):
    if p.get("source") == "fusionlab":
        return (f"init_from: FusionLab's checkpoint {p['checkpoint']} (--init-from-fusionlab; FusionLab test accuracy "
                f"{p.get('fusionlab_accuracy', float('nan')):.4f})")
    return (f"init_from {p['init_from']}: twin pretraining of {p['run_dir']} (seed {p['seed']}, "
            f"{'cached' if p.get('cached') else 'trained'}: {p['checkpoint']}): test accuracy twin {p['pytorch_accuracy']:.4f} "
            f"(best epoch {p['pytorch_best_epoch']}), FusionLab {p['fusionlab_accuracy']:.4f} (best epoch {p['fusionlab_best_epoch']})")


def resolve_run_dir(comparison_dir, run_dir):
    """comparison.csv's run_dir is relative to where `fusionlab compare` ran; find it."""
    candidates = [run_dir, os.path.join(os.getcwd(), run_dir), os.path.join(REPO, run_dir)]
    marker = os.sep + "runs" + os.sep
    if marker in run_dir:
        candidates.append(os.path.join(comparison_dir, "runs", run_dir.rsplit(marker, 1)[1]))
    parts = os.path.normpath(run_dir).split(os.sep)
    if len(parts) >= 2:
        candidates.append(os.path.join(comparison_dir, "runs", parts[-2], parts[-1]))
    for c in candidates:
        if os.path.exists(os.path.join(c, "config.resolved.json")):
            return c
    raise TwinError(f"{comparison_dir}: cannot find run directory {run_dir}")


def mean_std(xs):
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s


def cmd_compare(args):
    path = os.path.join(args.comparison_dir, "comparison.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise TwinError(f"{path}: no runs")
    results = []
    for row in rows:
        run_dir = resolve_run_dir(args.comparison_dir, row["run_dir"])
        log(f"twin: {row['variant']} seed {row['seed']} ({run_dir})")
        features, r, metrics, fl_epochs, _ = train_run(run_dir, args)
        results.append({"variant": row["variant"], "seed": int(row["seed"]), "run_dir": run_dir,
                        "fusionlab_accuracy": float(metrics["accuracy"]), "pytorch_accuracy": float(r.test["accuracy"]),
                        "fusionlab_best_epoch": metrics.get("selection", {}).get("epoch"), "pytorch_best_epoch": r.best_epoch,
                        "epochs": r.epochs, "twin_train_seconds": r.train_seconds, "transfer": r.transfer, "pretrain": r.pretrain,
                        "features": RAW_REPORTS.get(os.path.abspath(run_dir))})
        log(f"  FusionLab {results[-1]['fusionlab_accuracy']:.4f}  PyTorch {results[-1]['pytorch_accuracy']:.4f}")
    twin_name = "PyTorch (raw files)" if args.raw else "PyTorch"
    lines = [f"| variant | seed | FusionLab acc | {twin_name} acc |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['variant']} | {r['seed']} | {r['fusionlab_accuracy']:.4f} | {r['pytorch_accuracy']:.4f} |")
    lines += ["", f"| variant | runs | FusionLab acc (mean ± std) | {twin_name} acc (mean ± std) | twin − FusionLab (points) |",
              "|---|---|---|---|---|"]
    order, summary = [], {}
    for r in results:
        if r["variant"] not in summary:
            order.append(r["variant"])
            summary[r["variant"]] = []
        summary[r["variant"]].append(r)
    summaries = []
    for v in order:
        fl = [r["fusionlab_accuracy"] for r in summary[v]]
        pt = [r["pytorch_accuracy"] for r in summary[v]]
        (fm, fs), (pm, ps) = mean_std(fl), mean_std(pt)
        summaries.append({"variant": v, "runs": len(fl), "fusionlab_mean": fm, "fusionlab_std": fs,
                          "pytorch_mean": pm, "pytorch_std": ps, "difference_points": 100 * (pm - fm)})
        lines.append(f"| {v} | {len(fl)} | {fm:.3f} ± {fs:.3f} | {pm:.3f} ± {ps:.3f} | {100 * (pm - fm):+.1f} |")
    if args.raw:
        worst = {}
        for r in results:
            for m, rep in (r["features"] or {}).items():
                if m not in worst or rep["max_abs_diff"] > worst[m]["max_abs_diff"]:
                    worst[m] = dict(rep, run_dir=r["run_dir"])
        lines += ["", "| modality | largest twin − FusionLab feature difference (every sample of every run) | first difference > 1e-3 |", "|---|---|---|"]
        for m, rep in worst.items():
            f = rep["first_over_1e-3"]
            where = "none" if not f else f"{f['split']} {f['sample']} {f['key']}{f['position']}: {f['twin']:.5g} vs {f['fusionlab']:.5g}"
            lines.append(f"| {m} | {rep['max_abs_diff']:.3g} | {where} |")
    pretrains = []
    for r in results:
        if r["pretrain"] and pretrain_line(r["pretrain"]) not in pretrains:
            pretrains.append(pretrain_line(r["pretrain"]))
    if pretrains:
        lines += [""] + [f"* {p}" for p in pretrains]
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"comparison": args.comparison_dir, "runs": results, "variants": summaries,
                       "torch": torch.__version__, "init_from_fusionlab": bool(args.init_from_fusionlab)}, f, indent=2)


def parse_seeds(text):
    seeds = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        seeds += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return seeds


def cmd_seeds(args):
    """The twin alone over many seeds of an experiment file: for each seed, `fusionlab
    export-features <experiment> --set seed=N` (FusionLab's seeded splits and train_limit subset
    for that seed) and the twin trained with torch seed N; per-seed test accuracy and the spread."""
    name = features_name = os.path.splitext(os.path.basename(args.experiment))[0]
    root = args.features_root or os.path.join(REPO, "runs", "twin-seeds", features_name)
    results = []
    for seed in parse_seeds(args.seeds):
        directory = os.path.join(root, f"seed-{seed}")
        if not os.path.exists(os.path.join(directory, "features.json")):
            binary = fusionlab_binary(args.fusionlab)
            cmd = [binary, "export-features", os.path.abspath(args.experiment), "-o", os.path.abspath(directory), "--quiet",
                   "--set", f"seed={seed}"] + [x for kv in (args.set or []) for x in ("--set", kv)]
            log(f"exporting features: {' '.join(cmd)}")
            done = subprocess.run(cmd, cwd=args.cwd or REPO, capture_output=True, text=True)
            if done.returncode != 0:
                raise TwinError(f"fusionlab export-features failed: {done.stderr.strip() or done.stdout.strip()}")
        features = load_features(directory)
        name = features.experiment.get("name", name)
        init_state, init_origin, pretrain = transfer_init(None, features, args)
        set_threads(args.threads, features.experiment)
        r = fit(features, seed=seed, init_state=init_state, init_origin=init_origin, transfer_log=lambda m: log("  " + m))
        results.append({"seed": seed, "accuracy": float(r.test["accuracy"]), "best_epoch": r.best_epoch,
                        "train_seconds": r.train_seconds, "pretrain": pretrain})
        log(f"twin {name} seed {seed}: test accuracy {r.test['accuracy']:.4f} (best epoch {r.best_epoch})")
    accs = [r["accuracy"] for r in results]
    m, sd = mean_std(accs)
    lines = ["| seed | PyTorch acc | best epoch |", "|---|---|---|"]
    lines += [f"| {r['seed']} | {r['accuracy']:.4f} | {r['best_epoch']} |" for r in results]
    lines += ["", f"{name}: {len(accs)} seeds, twin test accuracy {m:.3f} ± {sd:.3f} (min {min(accs):.3f}, max {max(accs):.3f})"]
    if results and results[0]["pretrain"]:
        lines.append(f"* {pretrain_line(results[0]['pretrain'])}")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"experiment": args.experiment, "name": name, "runs": results, "mean": m, "std": sd,
                       "torch": torch.__version__}, f, indent=2)


def cmd_throughput(args):
    features = features_for_run(args.run_dir, args, args.features)
    threads = set_threads(args.threads, features.experiment)
    training = dict(features.experiment["training"])
    model = build_model(features, int(features.experiment.get("seed", 0)))
    optimizer = make_optimizer(training, model.parameters())
    train = features.splits["train"]
    train_epoch(model, optimizer, train, training)  # warm-up
    rates, samples, seconds = [], 0, 0.0
    for _ in range(args.repeats):
        n, started = 0, time.perf_counter()
        for _ in range(args.epochs):
            n += train_epoch(model, optimizer, train, training)[2]
        elapsed = time.perf_counter() - started
        rates.append(n / elapsed)
        if n / elapsed >= max(rates):
            samples, seconds = n, elapsed
    rate = max(rates)
    name = features.experiment.get("name", os.path.basename(os.path.normpath(args.run_dir)))
    line = (f"throughput {args.run_dir}: twin {rate:.1f} train samples/s ({threads} thread{'s' if threads > 1 else ''}, "
            f"batch {training['batch_size']}, best of {args.repeats}: {samples} samples in {seconds:.2f} s, "
            f"median {sorted(rates)[len(rates) // 2]:.1f}/s, torch {torch.__version__})")
    history = os.path.join(args.run_dir, "history.csv")
    if os.path.exists(history):
        with open(history, newline="") as f:
            rows = list(csv.DictReader(f))
        secs = sum(float(r["seconds"]) for r in rows)
        if secs > 0:
            line += (f"; FusionLab {features.size('train') * len(rows) / secs:.1f} samples/s from history.csv "
                     f"(epoch seconds include validation; {os.path.basename(os.path.dirname(os.path.dirname(history)))})")
    print(line)
    if args.json:
        print(json.dumps({"workload": f"twin-train:{name}", "system": "pytorch", "threads": threads,
                          "metric": "train_samples_per_sec", "value": round(rate, 2)}))


def perturb_constants(model: TwinClassifier, generator: torch.Generator):
    """Gives every tensor FusionLab initialises to a constant (biases set to zero, norm scales,
    missing-modality embeddings, modality weights, attention score output, running statistics)
    seeded random values, so a golden test exercises every parameter. The embedding padding row
    stays zero (FusionLab keeps it zero)."""
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not torch.is_floating_point(t) or t.numel() == 0:
                continue
            if t.numel() > 1 and float(t.std()) > 0:
                continue
            if key.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=generator) + 0.5)
            elif key.endswith("weight") and float(t.abs().max()) == 1.0 and ("norm" in key or t.dim() == 1):
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=generator))
            else:
                t.copy_(0.2 * torch.randn(t.shape, generator=generator))


def cmd_forward_golden(args):
    source = args.source
    tmp = None
    if os.path.isdir(source):
        features = features_for_run(source, args, args.features)
    else:
        directory = args.features
        if not directory:
            tmp = tempfile.mkdtemp(prefix="twin-golden-")
            directory = tmp
        if not os.path.exists(os.path.join(directory, "features.json")):
            export_features(source, directory, args, cwd=args.cwd)
        features = load_features(directory)
    set_threads(args.threads or 1, features.experiment)
    torch.manual_seed(0)
    model = TwinClassifier(features.info)
    if not args.no_perturb:
        perturb_constants(model, torch.Generator().manual_seed(1))
    model.eval()
    split = next(s for s in ("test", "val", "train") if s in features.splits)
    tensors = features.splits[split]
    n = min(args.samples, int(tensors["labels"].shape[0]))
    batch = {k: v[:n].clone() for k, v in tensors.items()}
    if args.vary_presence:
        # Sample 1 lacks the first modality, sample 2 the second, ...: presence 0 and its input
        # zeroed (ids, masks, features), as FusionLab's batches carry an absent modality.
        keys = {"text": ["text", "text_mask"], "image": ["image"], "audio": ["audio", "audio_mask"]}
        mods = [m for m in ("text", "image", "audio") if m in features.info["modalities"]]
        for i, m in enumerate(mods if len(mods) > 1 else []):
            if i + 1 < n:
                batch["presence." + m][i + 1] = 0
                for k in keys[m]:
                    if k in batch:
                        batch[k][i + 1] = 0
    batch = {k: v.contiguous() for k, v in batch.items()}
    with torch.no_grad():
        logits = model(batch)
    out = {"state." + k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    out.update({"batch." + k: v for k, v in batch.items()})
    out["logits"] = logits.contiguous()
    info = features.info
    metadata = {
        "experiment": json.dumps(info["experiment"], sort_keys=True),
        "classes": json.dumps(info["classes"]),
        "vocabulary": str(info["vocabulary"]),
        "inputs": json.dumps(info["inputs"], sort_keys=True),
        "modalities": json.dumps(info["modalities"]),
        "layers": json.dumps(info["layers"], sort_keys=True),
        "ids": json.dumps(info.get("ids", {}).get(split, [])[:n]),
        "split": split,
        "perturbed": "false" if args.no_perturb else "true",
        "vary_presence": "true" if args.vary_presence else "false",
        "generator": "Benchmarks/twin/twin.py forward-golden",
        "torch": torch.__version__,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(out, args.out, metadata=metadata)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"forward-golden {args.out}: {len(model.state_dict())} state tensors, batch of {n} {split} samples, "
          f"logits {list(logits.shape)}")


def cmd_check(args):
    """Loads FusionLab's best checkpoint into the twin and compares test probabilities with predictions.csv."""
    features = features_for_run(args.run_dir, args, args.features)
    set_threads(args.threads or 1, features.experiment)
    model = TwinClassifier(features.info)
    checkpoint = os.path.join(args.run_dir, "checkpoints", "best.safetensors")
    if not os.path.exists(checkpoint):
        raise TwinError(f"{checkpoint} does not exist (did the run finish?)")
    state = load_file(checkpoint)
    model.load_fusionlab_state(state, strict=True)
    split = "test" if "test" in features.splits else "val"
    ev = evaluate(model, features.splits[split], int(features.experiment["training"]["batch_size"]), len(features.info["classes"]))
    probs = ev.logits.softmax(1)
    ids = features.info["ids"][split]
    with open(os.path.join(args.run_dir, "predictions.csv"), newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    classes = features.info["classes"]
    max_diff, agree = 0.0, 0
    for i, sid in enumerate(ids):
        row = rows[sid]
        ref = torch.tensor([float(row["p_" + c]) for c in classes])
        max_diff = max(max_diff, float((probs[i] - ref).abs().max()))
        agree += int(classes[int(probs[i].argmax())] == row["predicted"])
    metrics = read_json(os.path.join(args.run_dir, "metrics.json"))
    print(f"check {args.run_dir}: {len(state)} tensors loaded, {len(ids)} {split} samples, max |p_twin - p_fusionlab| "
          f"{max_diff:.2e} (predictions.csv has 6 decimals), predicted class agrees {agree}/{len(ids)}, "
          f"accuracy twin {ev.metrics['accuracy']:.4f} / FusionLab {metrics['accuracy']:.4f}, "
          f"log loss twin {ev.metrics['log_loss']:.6f} / FusionLab {metrics.get('log_loss', float('nan')):.6f}")
    return max_diff


def cmd_reverse_check(args):
    """The other direction: the twin's weights (seed 0, constants perturbed) saved as a FusionLab
    checkpoint in a copy of the run directory, evaluated by `fusionlab evaluate`; its test log
    loss and confusion matrix must equal the twin's on the same features."""
    features = features_for_run(args.run_dir, args, args.features)
    set_threads(args.threads or 1, features.experiment)
    torch.manual_seed(0)
    model = TwinClassifier(features.info)
    if not args.no_perturb:
        perturb_constants(model, torch.Generator().manual_seed(1))
    ev = evaluate(model, features.splits["test"], int(features.experiment["training"]["batch_size"]), len(features.info["classes"]))
    tmp = tempfile.mkdtemp(prefix="twin-reverse-")
    try:
        copy = os.path.join(tmp, "run")
        os.makedirs(os.path.join(copy, "checkpoints"))
        for name in ("config.resolved.json", "vocab.txt", "manifest.json"):
            if os.path.exists(os.path.join(args.run_dir, name)):
                shutil.copy(os.path.join(args.run_dir, name), copy)
        state = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(copy, "checkpoints", "best.safetensors"), metadata={"epoch": "0", "experiment": "twin"})
        binary = fusionlab_binary(args.fusionlab)
        done = subprocess.run([binary, "evaluate", copy, "--split", "test", "--quiet"], cwd=run_cwd(args.run_dir, args.cwd),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise TwinError(f"fusionlab evaluate failed: {done.stderr.strip()}")
        text = done.stdout
        fl = json.loads(text[text.index("{"):])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    same_confusion = fl["confusion_matrix"] == ev.metrics["confusion_matrix"]
    print(f"reverse-check {args.run_dir}: twin weights in FusionLab: test log loss FusionLab {fl['log_loss']:.9f} / twin "
          f"{ev.metrics['log_loss']:.9f} (|Δ| {abs(fl['log_loss'] - ev.metrics['log_loss']):.2e}), accuracy "
          f"{fl['accuracy']:.4f} / {ev.metrics['accuracy']:.4f}, confusion matrices {'equal' if same_confusion else 'DIFFER'}")


def cmd_step_check(args):
    """One optimizer step in both frameworks from the same state: `before` is a run of k epochs
    (its resume.safetensors holds the weights and the optimizer moments), `after` the same
    experiment run for k+1 epochs. With a batch size of at least the training set every epoch is
    one full-batch step, so data order does not matter and the twin's step (loss, backward of
    every layer, clipping, optimizer, schedule) must land on FusionLab's weights after k+1 epochs."""
    from safetensors import safe_open

    features = features_for_run(args.after, args, args.features)
    set_threads(args.threads or 1, features.experiment)
    training = dict(features.experiment["training"])
    n = features.size("train")
    if int(training["batch_size"]) < n:
        raise TwinError(f"step-check needs training.batch_size ≥ {n} (one full-batch step per epoch)")
    resume_path = os.path.join(args.before, "checkpoints", "resume.safetensors")
    resume = load_file(resume_path)
    with safe_open(resume_path, "pt") as f:
        meta = json.loads(f.metadata()["fusionlab_resume"])
    model = TwinClassifier(features.info)
    model.load_fusionlab_state({k[6:]: v for k, v in resume.items() if k.startswith("model.")}, strict=True)
    transfer = transfer_config(features.experiment)
    epoch0 = int(meta["epoch"])
    if transfer["freeze"]:
        set_trainable(model, transfer["freeze"], False)
    for step in transfer["unfreeze"]:
        if int(step.get("epoch", 1)) <= epoch0 + 1:
            set_trainable(model, step.get("patterns", []), True)
    optimizer = make_optimizer(training, model, transfer)
    steps = int(meta["optimizer_steps"])
    optimizer.fusionlab_step_count = steps
    for key, p in model.named_parameters():
        moments = [resume.get(f"optimizer.{key}.{i}") for i in range(2)]
        if moments[0] is None:
            continue
        if isinstance(optimizer, torch.optim.SGD):
            optimizer.state[p] = {"momentum_buffer": moments[0].clone()}
        else:
            # Adam's bias correction counts each parameter's own updates (resume metadata
            # optimizer_parameter_steps; older resume files: the global count).
            own = int((meta.get("optimizer_parameter_steps") or {}).get(key, steps))
            optimizer.state[p] = {"step": torch.tensor(float(own)), "exp_avg": moments[0].clone(), "exp_avg_sq": moments[1].clone()}
    from twin_train import schedule_multiplier
    for g in optimizer.param_groups:
        g["lr"] = g["lr"] * schedule_multiplier(training, epoch0)
    loss, _, _ = train_epoch(model, optimizer, features.splits["train"], training)
    after = load_file(os.path.join(args.after, "checkpoints", "last.safetensors"))
    worst_abs, worst_key, worst_rel = 0.0, "", 0.0
    moved = 0.0
    before_state = {k[6:]: v for k, v in resume.items() if k.startswith("model.")}
    for key, ref in after.items():
        mine = model.state_dict()[key]
        d = float((mine - ref).abs().max())
        change = float((ref - before_state[key]).abs().max())
        moved = max(moved, change)
        rel = d / max(change, 1e-12)
        if d > worst_abs:
            worst_abs, worst_key = d, key
        worst_rel = max(worst_rel, rel if change > 0 else 0.0)
    with open(os.path.join(args.after, "history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    fl_loss = float(rows[epoch0]["train_loss"])
    print(f"step-check {args.before} → {args.after}: optimizer {training.get('optimizer', 'adam')}, lr×{schedule_multiplier(training, epoch0):.4f}; "
          f"train loss twin {loss:.6f} / FusionLab {fl_loss:.6f}; after the step max |Δweight| {worst_abs:.2e} ({worst_key}), "
          f"largest weight change in the step {moved:.2e}, worst |Δ| relative to that tensor's change {worst_rel:.2e}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--fusionlab", help="fusionlab binary (for export-features)")
    common.add_argument("--cwd", help="folder to run fusionlab in (where relative dataset paths resolve)")
    common.add_argument("--threads", type=int, help="torch threads (default: the run's training.threads)")
    common.add_argument("--raw", action="store_true",
                        help="build the features from the dataset's raw files with librosa, Pillow and tokenizers "
                             "(twin_raw.py) instead of FusionLab's export, and report the largest difference per modality")
    transfer = argparse.ArgumentParser(add_help=False)
    transfer.add_argument("--init-from-fusionlab", action="store_true",
                          help="transfer.init_from: load FusionLab's pretrain checkpoint instead of the twin's own pretraining")
    transfer.add_argument("--retrain-pretrain", action="store_true",
                          help="train the twin's pretraining again even when <pretrain run>/twin/best.safetensors is current")
    transfer.add_argument("--pretrain-seed", type=int,
                          help="seed of the twin's pretraining (default: the pretrain run's; cached as twin/best-seed<N>.safetensors)")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", parents=[common, transfer], help="train the twin for one run directory")
    r.add_argument("run_dir")
    r.add_argument("--features", help="features folder (default <run dir>/features)")
    r.add_argument("--json", help="also write the numbers to this file")
    r.add_argument("--verbose", action="store_true", help="print every epoch")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("compare", parents=[common, transfer], help="train the twin for every run of a comparison directory")
    c.add_argument("comparison_dir")
    c.add_argument("--json", help="also write the numbers to this file")
    c.set_defaults(func=cmd_compare)
    e = sub.add_parser("seeds", parents=[common, transfer], help="the twin alone over many seeds of an experiment file (spread)")
    e.add_argument("experiment", help="experiment file")
    e.add_argument("--seeds", default="0-9", help="seeds: 0-9, 3,5,7 (default 0-9)")
    e.add_argument("--set", action="append", help="override a key of the experiment (as fusionlab --set)")
    e.add_argument("--features-root", help="folder for the features of each seed (default runs/twin-seeds/<file name>)")
    e.add_argument("--json", help="also write the numbers to this file")
    e.set_defaults(func=cmd_seeds)
    t = sub.add_parser("throughput", parents=[common], help="training samples/s of the twin's loop")
    t.add_argument("run_dir")
    t.add_argument("--features")
    t.add_argument("--epochs", type=int, default=2, help="epochs per timed pass (after one warm-up epoch)")
    t.add_argument("--repeats", type=int, default=3, help="timed passes; the best is reported")
    t.add_argument("--json", action="store_true", help="also print a Benchmarks/tabulate.py JSON line")
    t.set_defaults(func=cmd_throughput)
    g = sub.add_parser("forward-golden", parents=[common], help="a safetensors golden file for a Swift forward test")
    g.add_argument("source", help="config.resolved.json / experiment file, or a run directory")
    g.add_argument("--out", required=True)
    g.add_argument("--features", help="features folder to use (or to export into)")
    g.add_argument("--samples", type=int, default=4)
    g.add_argument("--no-perturb", action="store_true", help="keep constant-initialised tensors (zeros/ones) as they are")
    g.add_argument("--vary-presence", action="store_true",
                   help="mark one modality absent in samples 1, 2, ... (its inputs zeroed) to cover presence handling")
    g.set_defaults(func=cmd_forward_golden)
    k = sub.add_parser("check", parents=[common], help="FusionLab checkpoint in the twin vs predictions.csv")
    k.add_argument("run_dir")
    k.add_argument("--features")
    k.set_defaults(func=cmd_check)
    v = sub.add_parser("reverse-check", parents=[common], help="twin weights evaluated by FusionLab (fusionlab evaluate)")
    v.add_argument("run_dir")
    v.add_argument("--features")
    v.add_argument("--no-perturb", action="store_true")
    v.set_defaults(func=cmd_reverse_check)
    s = sub.add_parser("step-check", parents=[common], help="one full-batch optimizer step vs FusionLab's (k → k+1 epochs)")
    s.add_argument("before", help="run directory after k epochs (its checkpoints/resume.safetensors)")
    s.add_argument("after", help="the same experiment run for k+1 epochs")
    s.add_argument("--features")
    s.set_defaults(func=cmd_step_check)
    args = p.parse_args(argv)
    try:
        args.func(args)
    except TwinError as e:
        print(f"twin: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
