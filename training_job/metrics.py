"""Classification figures from labels and probabilities, in plain numpy (no scikit-learn at run time).

Used both by training (on the Keras model) and by `evaluate` (on the `.tflite`), so the two report
the same definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are the true class, columns the predicted one."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def roc_auc(y_true_binary: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve via the rank-sum (Mann-Whitney U) form; ties count half."""
    y = np.asarray(y_true_binary, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None  # undefined with a single class present
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    i = 0
    while i < len(sorted_scores):  # average ranks over runs of equal scores
        j = i
        while j + 1 < len(sorted_scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification_report(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, per-class precision/recall/F1/support, confusion matrix and ROC AUC.

    `probs` has one column per label (a sigmoid model's output expanded to [1-p, p]).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n = len(labels)
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, n)
    per_class: dict[str, dict[str, float | int]] = {}
    for i, label in enumerate(labels):
        tp = int(cm[i, i])
        predicted, actual = int(cm[:, i].sum()), int(cm[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 6),
            "recall": round(recall, 6),
            "f1": round(f1, 6),
            "support": actual,
        }
    if n == 2:
        auc = roc_auc(y_true == 1, probs[:, 1])
    else:
        aucs = [roc_auc(y_true == i, probs[:, i]) for i in range(n)]
        defined = [a for a in aucs if a is not None]
        auc = float(np.mean(defined)) if defined else None
    total = len(y_true)
    return {
        "accuracy": round(float((y_pred == y_true).mean()) if total else 0.0, 6),
        "n": total,
        "correct": int((y_pred == y_true).sum()),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "roc_auc": None if auc is None else round(auc, 6),
        "labels": list(labels),
    }
