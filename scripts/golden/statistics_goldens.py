"""Reference values for Tests/FusionReportsTests/StatisticsTests.swift: the comparison statistics,
calibration, conformal sets and Shapley values, from scipy, scikit-learn and numpy.

    /work/venv/bin/python scripts/golden/statistics_goldens.py   (numpy, scipy, scikit-learn)

Writes Tests/FusionReportsTests/Golden/statistics.json. Deterministic (seeded).
"""
import itertools
import json
import math
import os

import numpy as np
import scipy
import sklearn
from scipy import optimize, stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FusionReportsTests", "Golden", "statistics.json")
rng = np.random.default_rng(7)
golden = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__}}

# --- Paired permutation test: 3 variants x 2 seeds on 12 shared test samples, 4 classes. -------
n, k = 12, 4
labels = rng.integers(0, k, n)
def predictions(accuracy):
    out = []
    for _ in range(2):
        right = rng.random(n) < accuracy
        wrong = (labels + rng.integers(1, k, n)) % k
        out.append(np.where(right, labels, wrong))
    return out
variants = {"a": predictions(0.85), "b": predictions(0.55), "c": predictions(0.75)}


def exact_p(x_seeds, y_seeds, metric):
    """Two-sided exact p-value of the mean-over-seeds difference under per-sample swaps (all seeds at once)."""
    def stat(swap):
        total = 0.0
        for x, y in zip(x_seeds, y_seeds):
            xs, ys = np.where(swap, y, x), np.where(swap, x, y)
            total += metric(labels, xs) - metric(labels, ys)
        return total / len(x_seeds)
    observed = stat(np.zeros(n, bool))
    count = 0
    for mask in range(1 << n):
        swap = np.array([(mask >> i) & 1 == 1 for i in range(n)])
        if abs(stat(swap)) >= abs(observed) - 1e-12 * max(1, abs(observed)):
            count += 1
    return observed, count / (1 << n)


accuracy = lambda y, p: accuracy_score(y, p)
f1 = lambda y, p: f1_score(y, p, average="macro", labels=sorted(set(y) | set(p)), zero_division=0)

# The numpy enumeration agrees with scipy's exact paired permutation test on one seed.
one = exact_p([variants["a"][0]], [variants["b"][0]], accuracy)
res = stats.permutation_test((variants["a"][0], variants["b"][0]),
                             lambda x, y, axis: np.mean(x == labels, axis=axis) - np.mean(y == labels, axis=axis),
                             permutation_type="samples", alternative="two-sided", n_resamples=np.inf, vectorized=True)
assert abs(res.pvalue - one[1]) < 1e-12, (res.pvalue, one)

tests = {}
for a, b in [("b", "a"), ("c", "a"), ("a", "c")]:
    d, p = exact_p(variants[a], variants[b], accuracy)
    df1, pf1 = exact_p(variants[a], variants[b], f1)
    tests[f"{a}|{b}"] = {"difference": d, "p": p, "f1_difference": df1, "f1_p": pf1}

def holm(ps):
    m = len(ps)
    order = np.argsort(ps, kind="stable")
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted

holm_in = [0.01, 0.04, 0.03, 0.005, 0.5]
golden["permutation"] = {
    "labels": labels.tolist(), "classes": k,
    "variants": {v: [p.tolist() for p in seeds] for v, seeds in variants.items()},
    "metrics": {v: {"accuracy": [accuracy(labels, p) for p in seeds], "f1_macro": [f1(labels, p) for p in seeds]}
                for v, seeds in variants.items()},
    "tests": tests, "scipy_one_seed_p": float(res.pvalue),
    "holm": {"p": holm_in, "adjusted": holm(holm_in)},
}

# --- Bootstrap interval of accuracy: one seed, 200 samples. --------------------------------------
m = 200
correct = (rng.random(m) < 0.7).astype(float)
boot = stats.bootstrap((correct,), np.mean, confidence_level=0.95, method="percentile", n_resamples=20000,
                       random_state=np.random.default_rng(1))
golden["bootstrap"] = {"correct": correct.astype(int).tolist(), "low": boot.confidence_interval.low,
                       "high": boot.confidence_interval.high}

# --- Calibration: 300 samples, 5 classes, overconfident softmax outputs. -------------------------
N, K = 300, 5
y = rng.integers(0, K, N)
logits = rng.normal(0, 1, (N, K)) * 2.5
logits[np.arange(N), y] += 1.5
p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
val_y = rng.integers(0, K, N)
val_logits = rng.normal(0, 1, (N, K)) * 2.5
val_logits[np.arange(N), val_y] += 1.5
vp = np.exp(val_logits - val_logits.max(1, keepdims=True)); vp /= vp.sum(1, keepdims=True)

def ece(probabilities, labels, bins=15):
    confidence = probabilities.max(1)
    correct = (probabilities.argmax(1) == labels).astype(float)
    # scikit-learn's uniform bins: which bin each confidence falls in, and the per-bin means.
    edges = np.linspace(0.0, 1.0 + 1e-8, bins + 1)
    ids = np.searchsorted(edges[1:-1], confidence)
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform")
    counts = np.bincount(ids, minlength=bins)
    nonempty = counts > 0
    gaps = np.abs(prob_true - prob_pred)
    return float(np.sum(counts[nonempty] / len(labels) * gaps)), float(gaps.max()), int(nonempty.sum())

def scale(probabilities, t):
    z = np.log(probabilities) / t
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)

def nll(t, probabilities, labels):
    return float(-np.mean(np.log(scale(probabilities, t)[np.arange(len(labels)), labels])))

fit = optimize.minimize_scalar(lambda lt: nll(math.exp(lt), vp, val_y), bounds=(math.log(0.05), math.log(20)),
                               method="bounded", options={"xatol": 1e-10})
t = math.exp(fit.x)
e, mce, nonempty = ece(p, y)
golden["calibration"] = {
    "probabilities": p.tolist(), "labels": y.tolist(), "val_probabilities": vp.tolist(), "val_labels": val_y.tolist(),
    "ece": e, "mce": mce, "nonempty_bins": nonempty, "brier": float(brier_score_loss(y, p)),
    "temperature": t, "ece_after": ece(scale(p, t), y)[0], "brier_after": float(brier_score_loss(y, scale(p, t))),
}

# --- Split conformal (LAC): threshold on validation, sets on test. --------------------------------
alpha = 0.1
scores = np.sort(1 - vp[np.arange(N), val_y])
rank = math.ceil((N + 1) * (1 - alpha))
q = scores[rank - 1] if rank <= N else 1.0
sets = (1 - p) <= q + 1e-12
golden["conformal"] = {"alpha": alpha, "threshold": float(q), "coverage": float(np.mean(sets[np.arange(N), y])),
                       "mean_set_size": float(sets.sum(1).mean())}

# --- Exact Shapley values of 3 players from a value table (bit i = player i present). --------------
value = rng.random(8).round(4).tolist()
value[0] = 0.1
def shapley(value, m):
    out = []
    for i in range(m):
        phi = 0.0
        others = [j for j in range(m) if j != i]
        for size in range(m):
            for subset in itertools.combinations(others, size):
                mask = sum(1 << j for j in subset)
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                phi += weight * (value[mask | (1 << i)] - value[mask])
        out.append(phi)
    return out
golden["shapley"] = {"value": value, "phi": shapley(value, 3)}

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(golden, f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", os.path.normpath(OUT))
