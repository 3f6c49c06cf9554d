"""Reference values for Tests/FusionReportsTests/MetricsTests.swift, computed by scikit-learn.

Run:  python scripts/golden/metrics_goldens.py   (needs scikit-learn and numpy)
The printed JSON is pasted into the Swift test as literal values.

Example A: 5 classes, 12 samples. Class "3" is predicted but never true, class "4" is never
true nor predicted (zero-division cases, ROC-AUC undefined for both), and the scores carry
ties across positives and negatives. sklearn's multiclass ROC-AUC refuses a class without
positives, so per-class AUCs come from the binary call and the macro is their mean over the
defined classes (FusionLab's documented convention).
Example B: 3 classes, all present, ties: checks the macro against the multiclass call
roc_auc_score(average="macro", multi_class="ovr") directly.
"""
import json

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support,
                             roc_auc_score)


def metrics(labels, predictions, probabilities, k):
    y, p = np.array(labels), np.array(predictions)
    prob = np.array(probabilities, dtype=np.float32)
    out = {"accuracy": accuracy_score(y, p)}
    for average in ("macro", "micro", "weighted"):
        pr, rc, f1, _ = precision_recall_fscore_support(y, p, labels=list(range(k)), average=average, zero_division=0)
        out[f"precision_{average}"], out[f"recall_{average}"], out[f"f1_{average}"] = pr, rc, f1
    pr, rc, f1, support = precision_recall_fscore_support(y, p, labels=list(range(k)), average=None, zero_division=0)
    out["per_class"] = {"precision": pr.tolist(), "recall": rc.tolist(), "f1": f1.tolist(), "support": support.tolist()}
    out["confusion_matrix"] = confusion_matrix(y, p, labels=list(range(k))).tolist()
    aucs = []
    for c in range(k):
        positives = int((y == c).sum())
        aucs.append(roc_auc_score(y == c, prob[:, c]) if 0 < positives < len(y) else None)
    out["roc_auc_per_class"] = aucs
    defined = [a for a in aucs if a is not None]
    out["roc_auc_macro_of_defined"] = float(np.mean(defined))
    if len(defined) == k:
        out["roc_auc_macro_sklearn_ovr"] = roc_auc_score(y, prob, average="macro", multi_class="ovr",
                                                         labels=list(range(k)))
    out["log_loss"] = log_loss(y, prob, labels=list(range(k)))
    return out


A_LABELS = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 1]
A_PREDICTIONS = [0, 1, 0, 1, 1, 3, 1, 2, 0, 2, 0, 3]
A_PROBABILITIES = [
    [0.6, 0.2, 0.1, 0.1, 0.0],
    [0.3, 0.4, 0.1, 0.2, 0.0],
    [0.5, 0.2, 0.2, 0.1, 0.0],
    [0.2, 0.5, 0.2, 0.1, 0.0],
    [0.1, 0.6, 0.2, 0.1, 0.0],
    [0.2, 0.2, 0.2, 0.4, 0.0],
    [0.3, 0.4, 0.2, 0.1, 0.0],
    [0.1, 0.2, 0.5, 0.2, 0.0],
    [0.4, 0.2, 0.3, 0.1, 0.0],
    [0.2, 0.2, 0.5, 0.1, 0.0],
    [0.5, 0.3, 0.1, 0.1, 0.0],
    [0.1, 0.3, 0.2, 0.4, 0.0],
]
B_LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 2, 1]
B_PREDICTIONS = [0, 1, 2, 1, 1, 0, 0, 2, 2, 1]
B_PROBABILITIES = [
    [0.5, 0.25, 0.25],
    [0.25, 0.5, 0.25],
    [0.25, 0.25, 0.5],
    [0.25, 0.5, 0.25],
    [0.25, 0.5, 0.25],
    [0.5, 0.25, 0.25],
    [0.5, 0.25, 0.25],
    [0.25, 0.25, 0.5],
    [0.25, 0.25, 0.5],
    [0.25, 0.5, 0.25],
]

if __name__ == "__main__":
    result = {"A": metrics(A_LABELS, A_PREDICTIONS, A_PROBABILITIES, 5),
              "B": metrics(B_LABELS, B_PREDICTIONS, B_PROBABILITIES, 3)}
    print(json.dumps(result, indent=1, default=float))
