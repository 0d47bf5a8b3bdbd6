"""The figures `metrics.json`, `evaluate` and the quality gate are computed from."""

from __future__ import annotations

import numpy as np
import pytest

from training_job.metrics import classification_report, confusion_matrix, roc_auc


def test_confusion_matrix_rows_are_truth_columns_are_predictions() -> None:
    cm = confusion_matrix(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), 2)
    assert cm.tolist() == [[1, 1], [1, 2]]


def test_roc_auc_perfect_inverted_and_tied() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y == 1, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(y == 1, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert roc_auc(y == 1, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5  # ties count half


def test_roc_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(bool)
    scores = np.round(rng.random(200), 1)  # many ties on purpose
    pos, neg = scores[y], scores[~y]
    expected = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    assert roc_auc(y, scores) == pytest.approx(expected)


def test_roc_auc_is_undefined_with_one_class() -> None:
    assert roc_auc(np.array([True, True]), np.array([0.2, 0.9])) is None


def test_report_per_class_figures() -> None:
    # truth: cat cat cat dog dog; predicted: cat cat dog dog cat
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
    report = classification_report(np.array([0, 0, 0, 1, 1]), probs, ["cat", "dog"])
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["n"] == 5
    assert report["confusion_matrix"] == [[2, 1], [1, 1]]
    assert report["per_class"]["cat"] == {
        "precision": pytest.approx(2 / 3, abs=1e-6),
        "recall": pytest.approx(2 / 3, abs=1e-6),
        "f1": pytest.approx(2 / 3, abs=1e-6),
        "support": 3,
    }
    assert report["per_class"]["dog"]["precision"] == pytest.approx(0.5)
    assert report["per_class"]["dog"]["recall"] == pytest.approx(0.5)
    # dog scores 0.7 and 0.4 vs cat scores 0.1 0.2 0.6: 5 of 6 pairs ranked right
    assert report["roc_auc"] == pytest.approx(5 / 6, abs=1e-6)


def test_report_softmax_three_classes() -> None:
    probs = np.eye(3)[[0, 1, 2, 2]] * 0.8 + 0.2 / 3
    report = classification_report(np.array([0, 1, 2, 1]), probs, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["per_class"]["b"]["recall"] == pytest.approx(0.5)
    assert report["per_class"]["c"]["precision"] == pytest.approx(0.5)
