"""How one image's outputs become its answer: a label, or `unknown` over the novelty threshold."""

from __future__ import annotations

import numpy as np

from catdog.classifier import to_prediction

LABELS = ("cat", "dog")


def test_below_or_at_the_threshold_the_top_label_is_the_answer() -> None:
    p = to_prediction(np.array([0.2, 0.8]), LABELS, novelty=1.0, threshold=1.0)
    assert (p.label, p.top_label, p.confidence, p.novelty) == ("dog", "dog", 0.8, 1.0)


def test_over_the_threshold_the_answer_is_unknown_and_the_rest_is_kept() -> None:
    p = to_prediction(np.array([0.9, 0.1]), LABELS, novelty=1.7, threshold=1.0)
    assert (p.label, p.top_label, p.confidence, p.novelty) == ("unknown", "cat", 0.9, 1.7)
    assert p.scores == {"cat": 0.9, "dog": 0.1} and p.is_unknown


def test_without_a_threshold_or_a_score_it_never_says_unknown() -> None:
    assert to_prediction(np.array([0.9, 0.1]), LABELS, novelty=50.0).label == "cat"
    assert to_prediction(np.array([0.9, 0.1]), LABELS, threshold=1.0).label == "cat"


def test_a_score_that_is_not_a_number_is_unknown_and_not_recorded() -> None:
    p = to_prediction(np.array([0.9, 0.1]), LABELS, novelty=float("nan"), threshold=1.0)
    assert p.label == "unknown" and p.novelty is None and p.top_label == "cat"
