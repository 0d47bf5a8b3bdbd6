"""`evaluate` and `predict` through the SERVING path: the `.tflite` + `preprocess_image`, as the Lambda does.

Nothing here imports TensorFlow. Scoring the exported file (not the Keras model) is the point: a
figure from here is a figure for what users get.

Labelled images are scored twice over: `accuracy` on the most likely trained label of every image
(what the quality gate compares), and `answered_accuracy` on the images the model answered with a
label rather than `unknown`, with `unknown_rate` the share it did not. `--ood` sets are photos (or
anything) that are none of the labels: every image there should be answered `unknown`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from catdog.classifier import Prediction
from catdog.errors import BadInputError
from catdog.model_repo import LoadedModel
from catdog.preprocess import preprocess_image
from training_job.data import DataError, find_entries, singularize
from training_job.metrics import classification_report

log = logging.getLogger(__name__)


def _label_index(folder: str, labels: Sequence[str]) -> int | None:
    for candidate in (folder, *singularize([folder])):
        if candidate in labels:
            return list(labels).index(candidate)
    return None


def _score(model: LoadedModel, entries: Iterable[Any], batch_size: int, desc: str,
           ) -> tuple[list[Any], np.ndarray, np.ndarray | None, list[dict[str, str]]]:
    """(kept items, probabilities, novelty or None, skipped): `entries` are Entry or (Entry, item) pairs."""
    kept: list[Any] = []
    probs: list[np.ndarray] = []
    novelty: list[np.ndarray] = []
    skipped: list[dict[str, str]] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            p, n = model.classifier.infer(np.stack(pending))
            probs.append(p)
            if n is not None:
                novelty.append(n)
            pending.clear()

    for item in tqdm(list(entries), desc=desc, unit="img"):
        entry = item[0] if isinstance(item, tuple) else item
        try:
            pending.append(preprocess_image(entry.read(), model.manifest.input_size).pixels)
        except BadInputError as exc:
            skipped.append({"name": entry.name, "reason": exc.reason})
            continue
        kept.append(item)
        if len(pending) == batch_size:
            flush()
    flush()
    n_labels = len(model.manifest.labels)
    all_probs = np.concatenate(probs) if probs else np.zeros((0, n_labels))
    return kept, all_probs, (np.concatenate(novelty) if novelty else None), skipped


def answered_mask(threshold: float | None, novelty: np.ndarray | None, n: int) -> np.ndarray:
    """Which images got a label (not `unknown`): the classifier's rule, on a whole array (a novelty
    score that is not a number is `unknown`)."""
    if novelty is None or threshold is None:
        return np.ones(n, dtype=bool)
    return np.isfinite(novelty) & (novelty <= threshold)


def evaluate(
    model: LoadedModel, data: str, *, batch_size: int = 32, limit: int | None = None,
    ood: Sequence[str] = (),
) -> dict[str, Any]:
    """Score `data` (a folder per class, or a dataset whose validation split is used) with the `.tflite`;
    and each `ood` source (a dir, zip, URL or s3:// prefix of images that are none of the labels)."""
    labels = model.manifest.labels
    entries = find_entries(data)
    if any(e.split == "validation" for e in entries):
        entries = [e for e in entries if e.split == "validation"]
    indexed = [(e, _label_index(e.folder, labels)) for e in entries]
    unknown = sorted({e.folder for e, i in indexed if i is None})
    mapped = sorted(((e, i) for e, i in indexed if i is not None), key=lambda m: m[0].name)
    if not mapped:
        raise DataError(f"{data}: no class folder matches the model's labels {labels} (found {unknown})")
    if limit:
        per: dict[int, int] = {}
        kept = []
        for e, i in mapped:
            per[i] = per.get(i, 0) + 1
            if per[i] <= limit:
                kept.append((e, i))
        mapped = kept
    scored, probs, novelty, skipped = _score(model, mapped, batch_size, "evaluate")
    if not scored:
        raise DataError(f"{data}: no decodable image to evaluate")
    y_true = np.array([i for _, i in scored])
    report = classification_report(y_true, probs, labels)
    answered = answered_mask(model.classifier.novelty_threshold, novelty, len(y_true))
    right = probs.argmax(axis=1) == y_true
    return {
        **report,
        "answered": int(answered.sum()),
        "unknown_rate": round(float((~answered).mean()), 6),
        "answered_accuracy": round(float(right[answered].mean()), 6) if answered.any() else None,
        "scores_novelty": model.classifier.scores_novelty,
        "ood": {source: evaluate_ood(model, source, batch_size, limit) for source in ood},
        "version": model.manifest.version,
        "model": model.location,
        "data": data,
        "skipped": len(skipped),
        "ignored_folders": unknown,
    }


def evaluate_ood(model: LoadedModel, source: str, batch_size: int, limit: int | None) -> dict[str, Any]:
    """Every image of `source` should be answered `unknown`: the share that was, and what the rest got."""
    entries = sorted(find_entries(source, every_file=True), key=lambda e: e.name)
    if limit:
        entries = entries[:limit]
    scored, probs, novelty, skipped = _score(model, entries, batch_size, f"ood {Path(source).name}")
    if not scored:
        raise DataError(f"{source}: no decodable image to score as out-of-distribution")
    answered = answered_mask(model.classifier.novelty_threshold, novelty, len(scored))
    top = probs.argmax(axis=1)
    return {
        "n": len(scored),
        "unknown": int((~answered).sum()),
        "unknown_rate": round(float((~answered).mean()), 6),
        "answered_as": {label: int((answered & (top == i)).sum()) for i, label in
                        enumerate(model.manifest.labels)},
        "skipped": len(skipped),
    }


def predict(model: LoadedModel, images: Iterable[str | Path]) -> list[tuple[str, Prediction | BadInputError]]:
    """One result per image, in order; an unusable image yields its `BadInputError` instead."""
    results: list[tuple[str, Prediction | BadInputError]] = []
    for image in images:
        try:
            pixels = preprocess_image(Path(image), model.manifest.input_size).pixels
        except BadInputError as exc:
            results.append((str(image), exc))
            continue
        except OSError as exc:  # missing or unreadable: the same "this input failed" as a bad image
            results.append(
                (str(image), BadInputError(f"cannot read: {exc.strerror or exc}", reason="unreadable"))
            )
            continue
        results.append((str(image), model.classifier.classify([pixels])[0]))
    return results
