""""Is this a photo of one of the trained classes at all?": a novelty score on the model's own features.

A softmax/sigmoid head answers every input with a trained label, often confidently (a flower is a
"cat" with p > 0.9 a third of the time), so confidence cannot say "neither". The backbone's pooled
features can: photos of the trained classes sit in a compact region, other things do not. Two
scores are fitted on the fit split's features (plus their mirror images) and compared:

- **mahalanobis**: squared Mahalanobis distance of the L2-normalised vector to the nearest class
  mean, one tied covariance with Ledoit-Wolf shrinkage (1280 dimensions from ~3000 vectors needs
  shrinkage to be invertible at all). Exports as five built-in Keras layers.
- **knn**: cosine distance to the k-th nearest training vector (bank capped at `KNN_MAX_BANK`).
  Exports as one custom layer (`training_job.novelty_layers.KNNDistance`).

They are ranked by the **class-holdout AUROC**: fit on one class only and separate that class's
calib images from the other classes' calib images. It needs no outside data (no flowers, no
validation), and it flags features that carry no notion of "a photo of something else" (the seed
CNN scores ~0.5 there), which gates the export: below `--novelty-min-auroc` the model gets no
novelty output and never answers `unknown`. Ties (within `TIE_MARGIN`) go to the cheaper export.

The threshold is the `accept_rate` quantile of in-distribution scores that no detector was fitted
on: out-of-fold scores over the fit split (5 folds, an image and its mirror in the same fold)
pooled with the calib split's scores. 200 calib images alone give the 99th percentile from the
2nd-largest score, and the share of real photos accepted then swings between 96 % and 100 %.

numpy only: unit-tested on synthetic features, no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from training_job.metrics import roc_auc
from training_job.splits import stratified_folds

METHODS = ("mahalanobis", "knn")  # in order of preference when their holdout AUROCs tie
#: Holdout AUROCs closer than this are a tie (the 90 % bootstrap interval of their difference on
#: 200 calib images is about ±0.01).
TIE_MARGIN = 0.01
KNN_K = 10
#: The kNN bank rides inside the `.tflite`: 1000 x 1280 float32 is 5 MB and ~+10 % serving time.
KNN_MAX_BANK = 1000
DEFAULT_FOLDS = 5
_EPS = 1e-12  # as keras.layers.UnitNormalization, so numpy and the exported graph agree


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.sqrt(np.maximum((x * x).sum(axis=1, keepdims=True), _EPS))


def ledoit_wolf(centred: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrinkage of the covariance of `centred` (n, p) towards a scaled identity.

    Returns (covariance, shrinkage in [0, 1]); the same estimate as scikit-learn's LedoitWolf.
    """
    n, p = centred.shape
    sample = centred.T @ centred / n
    mu = np.trace(sample) / p
    delta = ((sample - mu * np.eye(p)) ** 2).sum() / p
    sq_norms = (centred * centred).sum(axis=1)
    beta = ((sq_norms**2).sum() - n * (sample**2).sum()) / (n * n) / p
    shrinkage = float(min(max(beta, 0.0), delta) / delta) if delta > 0 else 1.0
    return (1 - shrinkage) * sample + shrinkage * mu * np.eye(p), shrinkage


class Detector(Protocol):
    method: str

    def score(self, x: np.ndarray) -> np.ndarray: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass
class MahalanobisDetector:
    """Class means of the L2-normalised features and a whitening matrix W, W Wᵀ = Σ⁻¹ (tied, shrunk)."""

    means: np.ndarray  # (classes, p)
    whitener: np.ndarray  # (p, p)
    shrinkage: float
    method: str = "mahalanobis"

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> MahalanobisDetector:
        xn = l2_normalize(x)
        classes = np.unique(y)
        means = np.stack([xn[y == c].mean(axis=0) for c in classes])
        centred = xn - means[np.searchsorted(classes, y)]
        cov, shrinkage = ledoit_wolf(centred)
        values, vectors = np.linalg.eigh(cov)
        whitener = vectors / np.sqrt(np.maximum(values, max(values.max() * 1e-12, 1e-12)))
        return cls(means=means, whitener=whitener, shrinkage=shrinkage)

    def score(self, x: np.ndarray) -> np.ndarray:
        u = l2_normalize(x) @ self.whitener
        centres = self.means @ self.whitener
        d = (u * u).sum(1)[:, None] - 2 * u @ centres.T + (centres * centres).sum(1)[None, :]
        return np.asarray(d.min(axis=1))

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "shrinkage": round(self.shrinkage, 6), "classes": len(self.means)}


@dataclass
class KnnDetector:
    """1 - cosine similarity to the k-th nearest vector of a (capped, seeded) bank of training features."""

    bank: np.ndarray  # (n, p), L2-normalised
    k: int
    method: str = "knn"

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray | None = None, k: int = KNN_K, max_bank: int = KNN_MAX_BANK,
            seed: int = 0) -> KnnDetector:
        bank = l2_normalize(x)
        if len(bank) > max_bank:
            bank = bank[np.sort(np.random.default_rng(seed).choice(len(bank), max_bank, replace=False))]
        return cls(bank=bank.astype(np.float32), k=max(1, min(k, len(bank))))

    def score(self, x: np.ndarray) -> np.ndarray:
        sims = l2_normalize(x).astype(np.float32) @ self.bank.T
        kth = -np.partition(-sims, self.k - 1, axis=1)[:, self.k - 1]
        return np.asarray(1.0 - kth, dtype=np.float64)

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "k": self.k, "bank": len(self.bank)}


def fit_detector(method: str, x: np.ndarray, y: np.ndarray) -> Detector:
    if method == "mahalanobis":
        return MahalanobisDetector.fit(x, y)
    if method == "knn":
        return KnnDetector.fit(x, y)
    raise ValueError(f"unknown novelty method {method!r}; choose from {', '.join(METHODS)}")


def with_mirrors(x: np.ndarray, y: np.ndarray, mirrors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The fit set a detector sees: the images' features, then their mirror images' (same labels)."""
    if mirrors is None:
        return x, y
    return np.concatenate([x, mirrors]), np.concatenate([y, y])


def out_of_fold_scores(method: str, x: np.ndarray, y: np.ndarray, mirrors: np.ndarray | None,
                       folds: np.ndarray) -> np.ndarray:
    """Each fit image scored by a detector fitted without it (nor its mirror): in-distribution scores
    from images the detector never saw, eight times as many as the calib split has."""
    scores = np.empty(len(x))
    for f in np.unique(folds):
        held, kept = folds == f, folds != f
        fx, fy = with_mirrors(x[kept], y[kept], None if mirrors is None else mirrors[kept])
        scores[held] = fit_detector(method, fx, fy).score(x[held])
    return scores


def holdout_auroc(method: str, x_fit: np.ndarray, y_fit: np.ndarray, mirrors: np.ndarray | None,
                  x_calib: np.ndarray, y_calib: np.ndarray) -> float | None:
    """Mean over classes c of the AUROC separating c's calib images (fitted on c alone) from the others'."""
    aurocs = []
    for c in np.unique(y_fit):
        members = y_fit == c
        fx, fy = with_mirrors(x_fit[members], y_fit[members], None if mirrors is None else mirrors[members])
        inside, outside = x_calib[y_calib == c], x_calib[y_calib != c]
        if len(inside) == 0 or len(outside) == 0:
            continue
        det = fit_detector(method, fx, fy)
        s_in, s_out = det.score(inside), det.score(outside)
        auc = roc_auc(np.r_[np.zeros(len(s_in), bool), np.ones(len(s_out), bool)], np.r_[s_in, s_out])
        if auc is not None:
            aurocs.append(auc)
    return float(np.mean(aurocs)) if aurocs else None


def choose_method(aurocs: dict[str, float | None], margin: float = TIE_MARGIN) -> str:
    """The best holdout AUROC; a method earlier in `METHODS` wins ties within `margin`."""
    scored = {m: a for m, a in aurocs.items() if a is not None}
    if not scored:
        return METHODS[0]
    best = max(scored.values())
    return next(m for m in METHODS if m in scored and scored[m] >= best - margin)


def threshold_at(scores: np.ndarray, accept_rate: float) -> float:
    """The score below which `accept_rate` of `scores` lie (linear interpolation between order stats)."""
    if not 0 < accept_rate <= 1:
        raise ValueError(f"accept rate {accept_rate} must be in (0, 1]")
    return float(np.quantile(np.asarray(scores, dtype=np.float64), accept_rate))


@dataclass
class NoveltyFit:
    """What training decided about novelty: the detector to export (if any), its threshold and why."""

    detector: Detector
    threshold: float  # in the detector's raw units; the exported output is divided by it
    accept_rate: float
    holdout_auroc: dict[str, float | None]
    min_auroc: float
    enabled: bool
    reference: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.detector.method

    def normalized(self, x: np.ndarray) -> np.ndarray:
        """The exported output: raw score / threshold, so above 1.0 means `unknown` for every model."""
        return self.detector.score(x) / self.threshold

    def manifest_block(self) -> dict[str, Any]:
        """`manifest.novelty`: what the serving path needs (`threshold`) and what a reader wants to know."""
        block: dict[str, Any] = {
            "enabled": self.enabled,
            "method": self.method,
            "detector": self.detector.summary(),
            "features": "L2-normalised penultimate layer (pooled backbone features)",
            "accept_rate": self.accept_rate,
            "min_holdout_auroc": self.min_auroc,
            "holdout_auroc": {m: _round(a) for m, a in self.holdout_auroc.items()},
            "selection": f"highest class-holdout AUROC on the calib split; ties within {TIE_MARGIN} go to "
                         f"the earlier of {list(METHODS)} (built-in layers, smaller export)",
            "raw_threshold": _round(self.threshold),
            "calibration": self.reference,
        }
        if self.enabled:
            block.update(output="novelty", threshold=1.0,
                         units="score / raw_threshold: above threshold means the answer is `unknown`")
        else:
            block["reason"] = (f"holdout AUROC {_round(self.holdout_auroc.get(self.method))} < "
                               f"{self.min_auroc}: these features do not tell other things apart; "
                               "no novelty output, never `unknown`")
        return block


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def fit_novelty(x_fit: np.ndarray, y_fit: np.ndarray, mirrors: np.ndarray | None, x_calib: np.ndarray,
                y_calib: np.ndarray, *, accept_rate: float, min_auroc: float, seed: int,
                n_folds: int = DEFAULT_FOLDS, methods: tuple[str, ...] = METHODS) -> NoveltyFit:
    """Compare the methods, keep the better one, fit it on fit (+ mirrors), calibrate its threshold."""
    aurocs = {m: holdout_auroc(m, x_fit, y_fit, mirrors, x_calib, y_calib) for m in methods}
    method = choose_method(aurocs)
    detector = fit_detector(method, *with_mirrors(x_fit, y_fit, mirrors))
    folds = stratified_folds(y_fit, max(2, min(n_folds, len(y_fit))), seed)
    oof = out_of_fold_scores(method, x_fit, y_fit, mirrors, folds)
    calib = detector.score(x_calib)
    threshold = threshold_at(np.concatenate([oof, calib]), accept_rate)
    if threshold <= 0:
        threshold = float(np.abs(np.concatenate([oof, calib])).max() or 1.0)
    chosen = aurocs.get(method)
    reference = {
        "threshold_from": f"{len(oof)} out-of-fold scores over the fit split ({int(folds.max()) + 1} folds, "
                          f"mirrors with their image) + {len(calib)} calib scores",
        "oof_accepted": round(float((oof <= threshold).mean()), 6),
        "calib_accepted": round(float((calib <= threshold).mean()), 6),
        "n": len(oof) + len(calib),
    }
    return NoveltyFit(detector=detector, threshold=threshold, accept_rate=accept_rate, holdout_auroc=aurocs,
                      min_auroc=min_auroc,
                      enabled=min_auroc <= 0 or (chosen is not None and chosen >= min_auroc),
                      reference=reference)
