"""Carve `train/` into fit / stop / calib, so that `validation/` is touched once, for the figures we report.

Every choice a training run makes is made on data it does not report on:

- **fit** trains the head, and the novelty detector is fitted on it;
- **stop** picks the epoch (early stopping, best weights restored) and nothing else;
- **calib** fits the temperature and the novelty threshold (with out-of-fold scores of fit), and
  ranks the novelty methods.

Before this split, early stopping restored the best epoch *by validation accuracy* and that same
accuracy was the headline. The split is per class and seeded, so it is reproducible and keeps the
class balance; plain numpy, so it is unit-tested without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catdog.plural import plural
from training_job.data import DataError


@dataclass(frozen=True)
class Splits:
    """Indices into the training images (each sorted; disjoint; together all of them)."""

    fit: np.ndarray
    stop: np.ndarray
    calib: np.ndarray

    def counts(self) -> dict[str, int]:
        return {"fit": len(self.fit), "stop": len(self.stop), "calib": len(self.calib)}


def carve_splits(labels: np.ndarray, stop_fraction: float = 0.1, calib_fraction: float = 0.1,
                 seed: int = 1337, names: list[str] | None = None) -> Splits:
    """Per class: `stop_fraction` and `calib_fraction` of its images (at least one each), the rest fit.

    A class with fewer than three images cannot give each split one: that is a `DataError` naming it.
    """
    if not (0 < stop_fraction < 1 and 0 < calib_fraction < 1 and stop_fraction + calib_fraction < 1):
        raise DataError(f"--stop-fraction {stop_fraction} and --calibration-fraction {calib_fraction} must "
                        "each be in (0, 1) and leave images to fit on")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    fit: list[np.ndarray] = []
    stop: list[np.ndarray] = []
    calib: list[np.ndarray] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(len(members))]
        n_stop = max(1, round(len(members) * stop_fraction))
        n_calib = max(1, round(len(members) * calib_fraction))
        if len(members) - n_stop - n_calib < 1:
            name = names[int(c)] if names else str(c)
            raise DataError(f"class {name!r} has {plural(len(members), 'training image')}; at least 3 "
                            "are needed (one each to fit, to stop early and to calibrate on)")
        stop.append(members[:n_stop])
        calib.append(members[n_stop : n_stop + n_calib])
        fit.append(members[n_stop + n_calib :])
    return Splits(fit=np.sort(np.concatenate(fit)), stop=np.sort(np.concatenate(stop)),
                  calib=np.sort(np.concatenate(calib)))


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A fold id per image, dealt round-robin class after class after a seeded shuffle: each class is
    spread evenly, and with at least `n_folds` images no fold is empty (nor is any fold everything).

    Used for out-of-fold scores over the fit split: an image's mirror copy is not in this list, it
    follows its image (see `novelty.out_of_fold_scores`), so the two never land in different folds.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    dealt = 0
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        folds[members[rng.permutation(len(members))]] = (dealt + np.arange(len(members))) % n_folds
        dealt += len(members)
    return folds
