"""fit / stop / calib are carved from train/, per class and seeded, so validation/ is never chosen on."""

from __future__ import annotations

import numpy as np
import pytest

from training_job.data import DataError
from training_job.splits import carve_splits, stratified_folds


def test_splits_are_disjoint_cover_everything_and_keep_the_class_balance() -> None:
    labels = np.repeat([0, 1, 2], [1000, 1000, 500])
    s = carve_splits(labels, 0.1, 0.1, seed=1)
    together = np.concatenate([s.fit, s.stop, s.calib])
    assert sorted(together.tolist()) == list(range(len(labels)))
    assert np.bincount(labels[s.stop]).tolist() == [100, 100, 50]
    assert np.bincount(labels[s.calib]).tolist() == [100, 100, 50]
    assert s.counts() == {"fit": 2000, "stop": 250, "calib": 250}


def test_splits_are_reproducible_and_depend_on_the_seed() -> None:
    labels = np.repeat([0, 1], 50)
    a, b, c = (carve_splits(labels, seed=s) for s in (7, 7, 8))
    assert a.calib.tolist() == b.calib.tolist()
    assert a.calib.tolist() != c.calib.tolist()


def test_a_tiny_class_still_gets_one_image_per_split() -> None:
    s = carve_splits(np.repeat([0, 1], 3))
    assert s.counts() == {"fit": 2, "stop": 2, "calib": 2}


def test_a_class_with_two_images_is_a_clear_error_naming_it() -> None:
    with pytest.raises(DataError, match=r"'dog' has 2 training image"):
        carve_splits(np.array([0, 0, 0, 1, 1]), names=["cat", "dog"])


def test_fractions_that_leave_nothing_to_fit_are_refused() -> None:
    with pytest.raises(DataError, match="fraction"):
        carve_splits(np.repeat([0, 1], 10), 0.5, 0.5)


def test_folds_are_stratified_and_balanced() -> None:
    labels = np.repeat([0, 1], [50, 30])
    folds = stratified_folds(labels, 5, seed=0)
    for c in (0, 1):
        assert np.bincount(folds[labels == c], minlength=5).tolist() == [len(labels[labels == c]) // 5] * 5


def test_with_one_image_per_class_every_fold_still_holds_something_and_leaves_something() -> None:
    folds = stratified_folds(np.array([0, 1]), 2, seed=0)
    assert sorted(folds.tolist()) == [0, 1]
