"""benchmarks/linear_probe.py: the probe that compares backbones must be a correct, honest fit."""

from __future__ import annotations

import numpy as np

from benchmarks import linear_probe as lp


def blobs(n: int, d: int, seed: int, shift: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Two classes apart along feature 0 only; the other features are noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    x = rng.normal(size=(n, d))
    x[:, 0] += shift * (2 * y - 1)
    return x, y


def test_newton_reaches_the_penalised_optimum() -> None:
    x, y = blobs(300, 20, seed=1)
    w = lp.fit_logistic(x, y, lam=0.05)
    p = lp.predict(w, x)
    xb = np.hstack([x, np.ones((300, 1))])
    grad = xb.T @ (p - y) / 300 + 0.05 * np.r_[w[:-1], 0.0]
    assert np.abs(grad).max() < 1e-8
    assert abs(w[0]) > 5 * np.abs(w[1:-1]).max(), "the informative feature carries the weight"


def test_a_stronger_penalty_shrinks_the_weights_but_not_the_bias() -> None:
    x, y = blobs(300, 5, seed=2)
    y[:250] = 1.0  # unbalanced: the bias must stay free to say so
    weak, strong = lp.fit_logistic(x, y, 1e-3), lp.fit_logistic(x, y, 10.0)
    assert np.linalg.norm(strong[:-1]) < 0.1 * np.linalg.norm(weak[:-1])
    assert abs(lp.predict(strong, x).mean() - y.mean()) < 0.02


def test_the_probe_chooses_lambda_on_train_folds_and_scores_the_test_set_once() -> None:
    x, y = blobs(400, 50, seed=3)
    xt, yt = blobs(1000, 50, seed=4)
    result = lp.probe(x, y, xt, yt)
    assert result.lam in lp.LAMBDAS and set(result.cv) == set(lp.LAMBDAS)
    assert result.lam == min(result.cv, key=lambda v: result.cv[v]["log_loss"])
    # Bayes accuracy with a 1.5 shift of a unit normal is Φ(1.5) ≈ 93.3 %
    assert 0.90 < result.accuracy < 0.95 and result.errors == round((1 - result.accuracy) * 1000)
    shuffled = lp.probe(x, np.random.default_rng(5).permutation(y), xt, yt)
    assert shuffled.accuracy < 0.6, "labels that carry nothing give a coin toss, not a fit to the test set"


def test_standardize_uses_the_training_statistics_only() -> None:
    train = np.array([[0.0], [2.0]])
    a, b = lp.standardize(train, np.array([[11.0]]))
    assert np.allclose(a.ravel(), [-1, 1], atol=1e-5) and np.allclose(b, 10.0, atol=1e-4)
