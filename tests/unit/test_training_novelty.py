"""The novelty score, its threshold and the choice of method, on synthetic features (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from training_job.novelty import (
    KnnDetector,
    MahalanobisDetector,
    choose_method,
    fit_novelty,
    holdout_auroc,
    l2_normalize,
    ledoit_wolf,
    threshold_at,
)

DIM = 32


def photos(n: int, classes: int = 2, seed: int = 0, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """`classes` clusters around fixed directions in the positive orthant (like pooled ReLU features)."""
    centres = np.random.default_rng(99).gamma(2.0, 1.0, (classes, DIM)) * 3
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return centres[y] + rng.normal(0, spread, (n, DIM)), y


def elsewhere(n: int, seed: int = 5) -> np.ndarray:
    """Other things: features pointing in other directions."""
    return np.random.default_rng(seed).gamma(2.0, 1.0, (n, DIM)) * 3


def test_ledoit_wolf_matches_the_closed_form_on_a_known_case() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4)) * [1.0, 2.0, 3.0, 4.0]
    cov, s = ledoit_wolf(x - x.mean(0))
    assert 0 <= s < 0.1  # plenty of data: little shrinkage
    np.testing.assert_allclose(np.diag(cov), [1, 4, 9, 16], rtol=0.2)
    _, s_few = ledoit_wolf(rng.normal(size=(5, 50)))
    assert s_few > 0.5  # 5 vectors in 50 dimensions: mostly the identity


@pytest.mark.parametrize("classes", [2, 3])
def test_threshold_on_out_of_fold_scores_accepts_its_target_share_of_new_photos(classes: int) -> None:
    x, y = photos(1600, classes)
    mirrors = x + np.random.default_rng(1).normal(0, 0.3, x.shape)
    xc, yc = photos(200, classes, seed=2)
    fit = fit_novelty(x, y, mirrors, xc, yc, accept_rate=0.99, min_auroc=0.0, seed=0,
                      methods=("mahalanobis",))
    new, _ = photos(20000, classes, seed=3)
    accepted = (fit.normalized(new) <= 1.0).mean()
    assert accepted == pytest.approx(0.99, abs=0.01)
    assert (fit.normalized(elsewhere(2000)) > 1.0).mean() > 0.95


def test_mahalanobis_scores_the_distance_to_the_nearest_class_mean() -> None:
    x, y = photos(2000)
    det = MahalanobisDetector.fit(x, y)
    xn = l2_normalize(x)
    inv = np.linalg.inv(det.whitener @ det.whitener.T)  # Σ
    prec = np.linalg.inv(inv)
    d = [((xn[:5] - m) @ prec * (xn[:5] - m)).sum(1) for m in det.means]
    np.testing.assert_allclose(det.score(x[:5]), np.min(d, axis=0), rtol=1e-6)


def test_knn_scores_the_cosine_distance_to_the_kth_neighbour() -> None:
    bank = np.eye(4)[[0, 0, 1, 2]]
    det = KnnDetector.fit(bank, k=2)
    assert det.score(np.array([[1.0, 0, 0, 0]]))[0] == pytest.approx(0.0)  # two copies of itself
    assert det.score(np.array([[0, 1.0, 0, 0]]))[0] == pytest.approx(1.0)  # one copy only
    assert KnnDetector.fit(np.ones((3, 4)), k=10).k == 3


def test_holdout_auroc_is_high_for_informative_features_and_chance_for_noise() -> None:
    x, y = photos(800)
    xc, yc = photos(200, seed=4)
    assert holdout_auroc("mahalanobis", x, y, None, xc, yc) > 0.95
    rng = np.random.default_rng(0)
    noise, noise_c = rng.normal(size=(800, DIM)), rng.normal(size=(200, DIM))
    assert abs(holdout_auroc("knn", noise, y, None, noise_c, yc) - 0.5) < 0.1


def test_a_model_whose_features_cannot_tell_gets_no_novelty_output() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    noise, noise_calib = rng.normal(size=(400, DIM)), rng.normal(size=(100, DIM))
    fit = fit_novelty(noise, y, None, noise_calib, rng.integers(0, 2, 100), accept_rate=0.99, min_auroc=0.9,
                      seed=0)
    assert not fit.enabled
    block = fit.manifest_block()
    assert "threshold" not in block and "never `unknown`" in block["reason"]


def test_ties_go_to_the_cheaper_export_and_a_clear_win_to_the_better_method() -> None:
    assert choose_method({"mahalanobis": 0.940, "knn": 0.946}) == "mahalanobis"
    assert choose_method({"mahalanobis": 0.90, "knn": 0.95}) == "knn"
    assert choose_method({"mahalanobis": None, "knn": 0.7}) == "knn"


def test_manifest_block_records_the_comparison_and_a_unit_threshold() -> None:
    x, y = photos(400)
    xc, yc = photos(100, seed=4)
    block = fit_novelty(x, y, None, xc, yc, accept_rate=0.95, min_auroc=0.5, seed=0).manifest_block()
    assert block["enabled"] and block["threshold"] == 1.0 and block["output"] == "novelty"
    assert set(block["holdout_auroc"]) == {"mahalanobis", "knn"} and block["accept_rate"] == 0.95
    assert block["raw_threshold"] > 0 and block["calibration"]["n"] == 500


def test_threshold_is_the_quantile_and_rejects_impossible_rates() -> None:
    assert threshold_at(np.arange(101.0), 0.99) == pytest.approx(99.0)
    with pytest.raises(ValueError):
        threshold_at(np.arange(3.0), 1.5)


def test_a_single_vector_per_class_does_not_break_the_fit() -> None:
    det = MahalanobisDetector.fit(np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([0, 1]))
    assert np.isfinite(det.score(np.array([[1.0, 0, 0], [0, 0, 1.0]]))).all()
    fit = fit_novelty(np.eye(3)[:2], np.array([0, 1]), None, np.eye(3)[1:], np.array([0, 1]),
                      accept_rate=0.99, min_auroc=0.0, seed=0)
    assert np.isfinite(fit.threshold) and fit.threshold > 0
