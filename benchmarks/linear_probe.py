"""An L2 logistic-regression probe on frozen features, numpy only: how good a backbone's features are.

The probe is the same for every backbone it compares, so a difference is the features', not the
head's. Features are standardized with the training set's mean and std; the penalty λ is chosen by
k-fold cross-validation on the training set alone (log-loss), the probe refitted on all of it, and
only then is the held-out set scored, once. Newton's method with warm starts along the λ path
(strongest first): a few seconds for 2,000 × 1,280 features on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAMBDAS = (1e0, 1e-1, 1e-2, 1e-3, 1e-4)  # strongest first: each fit warm-starts the next


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


def _with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1), x.dtype)])


def fit_logistic(x: np.ndarray, y: np.ndarray, lam: float, start: np.ndarray | None = None,
                 max_iter: int = 50, tol: float = 1e-7) -> np.ndarray:
    """Weights (last one the bias) minimising mean log-loss + λ/2·|w|² (bias not penalised)."""
    xb = _with_bias(x.astype(np.float64))
    penalty = np.full(xb.shape[1], lam)
    penalty[-1] = 0.0
    w = np.zeros(xb.shape[1]) if start is None else start.copy()
    for _ in range(max_iter):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (p - y) / len(y) + penalty * w
        hess = (xb.T * (p * (1 - p))) @ xb / len(y) + np.diag(penalty + 1e-10)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < tol:
            break
    return w


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(class 1) for each row of `x`."""
    return _sigmoid(_with_bias(x.astype(np.float64)) @ w)


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return [(a - mean) / std for a in (train, *others)]


def folds(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    return list(np.array_split(np.random.default_rng(seed).permutation(n), k))


def cross_validate(x: np.ndarray, y: np.ndarray, k: int = 5, lambdas: tuple[float, ...] = LAMBDAS,
                   seed: int = 0) -> dict[float, dict[str, float]]:
    """λ → out-of-fold accuracy and log-loss on (x, y), every fold's scaling from its own training part."""
    oof = {lam: np.zeros(len(y)) for lam in lambdas}
    for held in folds(len(y), k, seed):
        fit = np.setdiff1d(np.arange(len(y)), held)
        x_fit, x_held = standardize(x[fit], x[held])
        w = None
        for lam in lambdas:
            w = fit_logistic(x_fit, y[fit], lam, start=w)
            oof[lam][held] = predict(w, x_held)
    return {lam: {"accuracy": float(((p > 0.5) == y).mean()), "log_loss": log_loss(p, y)}
            for lam, p in oof.items()}


@dataclass
class ProbeResult:
    lam: float
    cv: dict[float, dict[str, float]]
    accuracy: float
    errors: int
    log_loss: float
    n: int


def probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          k: int = 5) -> ProbeResult:
    """λ by k-fold CV log-loss on the training set, refit on all of it, then score the test set once."""
    cv = cross_validate(x_train, y_train, k)
    lam = min(cv, key=lambda v: cv[v]["log_loss"])
    x_fit, x_test_s = standardize(x_train, x_test)
    w = None
    for v in LAMBDAS[: LAMBDAS.index(lam) + 1]:  # the same warm-start path as in the CV
        w = fit_logistic(x_fit, y_train, v, start=w)
    assert w is not None
    p = predict(w, x_test_s)
    wrong = int(((p > 0.5) != y_test).sum())
    return ProbeResult(lam=lam, cv=cv, accuracy=1 - wrong / len(y_test), errors=wrong,
                       log_loss=log_loss(p, y_test), n=len(y_test))
