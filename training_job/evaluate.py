"""`evaluate` and `predict` through the SERVING path: the `.tflite` + `preprocess_image`, as the Lambda does.

Nothing here imports TensorFlow. Scoring the exported file (not the Keras model) is the point: a
figure from here is a figure for what users get.
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


def evaluate(
    model: LoadedModel, data: str, *, batch_size: int = 32, limit: int | None = None
) -> dict[str, Any]:
    """Score `data` (a folder per class, or a dataset whose validation split is used) with the `.tflite`."""
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
    y_true: list[int] = []
    probs: list[np.ndarray] = []
    skipped: list[dict[str, str]] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            probs.append(model.classifier.predict(np.stack(pending)))
            pending.clear()

    for entry, index in tqdm(mapped, desc="evaluate", unit="img"):
        try:
            pending.append(preprocess_image(entry.read(), model.manifest.input_size).pixels)
        except BadInputError as exc:
            skipped.append({"name": entry.name, "reason": exc.reason})
            continue
        y_true.append(index)
        if len(pending) == batch_size:
            flush()
    flush()
    if not y_true:
        raise DataError(f"{data}: no decodable image to evaluate")
    report = classification_report(np.array(y_true), np.concatenate(probs), labels)
    return {
        **report,
        "version": model.manifest.version,
        "model": model.location,
        "data": data,
        "skipped": len(skipped),
        "ignored_folders": unknown,
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
