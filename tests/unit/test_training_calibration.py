"""Temperature scaling finds the temperature that generated the data; ECE measures what it should."""

from __future__ import annotations

import numpy as np
import pytest

from training_job.calibration import (
    as_class_logits,
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    nll,
    softmax,
)


def synthetic(n: int, true_t: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits z whose labels are drawn from sigmoid(z / true_t): calibrated exactly at T = true_t."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 4, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z / true_t))).astype(np.int64)
    return as_class_logits(z, "sigmoid"), y


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.0])
def test_fitted_temperature_recovers_the_one_that_generated_the_labels(true_t: float) -> None:
    logits, y = synthetic(20000, true_t)
    assert fit_temperature(logits, y) == pytest.approx(true_t, rel=0.08)


def test_fitting_lowers_the_nll_and_the_ece_of_overconfident_logits() -> None:
    logits, y = synthetic(5000, 2.0, seed=1)
    t = fit_temperature(logits, y)
    report = calibration_report(logits, y, t)
    assert report["nll_after"] < report["nll_before"]
    assert report["ece_after"] < report["ece_before"] / 2
    assert sum(b["count"] for b in report["reliability_after"]) == 5000


def test_sigmoid_logits_become_two_columns_with_the_same_probabilities() -> None:
    z = np.array([-2.0, 0.0, 3.0])
    p = softmax(as_class_logits(z, "sigmoid"))
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-z)))


def test_softmax_nll_matches_the_definition() -> None:
    z = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0]])
    y = np.array([1, 0])
    expected = -np.mean(np.log(softmax(z)[np.arange(2), y]))
    assert nll(z, y) == pytest.approx(expected)


def test_ece_is_zero_when_confidence_equals_accuracy_and_large_when_not() -> None:
    probs = np.tile([0.25, 0.75], (8, 1))
    labels = np.array([1, 1, 1, 0] * 2)  # 75 % right at confidence 0.75
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.zeros(8, int)) == pytest.approx(0.75)


def test_no_logits_means_no_change() -> None:
    assert fit_temperature(np.zeros((0, 2)), np.zeros(0, int)) == 1.0
