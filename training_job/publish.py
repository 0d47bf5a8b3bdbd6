"""Publish a trained model behind a quality gate: `models/<version>/` first, then `models/latest.json`.

The pointer is the only thing the Lambda follows, so it moves last and only when the candidate
passes the gate; a refused model never touches S3 and the live one keeps serving.
Publishing the same version again re-uploads nothing that is already identical and leaves the
pointer (and its `published_at`) as it is.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError
from catdog.manifest import MANIFEST_FILE, POINTER_FILE, TFLITE_FILE, Manifest, ModelPointer
from catdog.model_repo import ModelRepo, download_dir, read_manifest
from catdog.s3uri import is_s3

log = logging.getLogger(__name__)

DEFAULT_MIN_ACCURACY = 0.9


class QualityGateError(CatdogError):
    """The candidate model is not good enough (or not servable); the live pointer was left alone."""


def check_gate(model_dir: Path, manifest: Manifest, min_accuracy: float) -> float:
    """Refuse a model that scores below the bar or that the serving path cannot run; returns accuracy."""
    accuracy = manifest.metrics.get("accuracy")
    if not isinstance(accuracy, int | float):
        raise QualityGateError(
            f"{model_dir / MANIFEST_FILE}: no validation accuracy recorded; not publishing"
        )
    if accuracy < min_accuracy:
        raise QualityGateError(
            f"validation accuracy {accuracy:.4f} is below --min-accuracy {min_accuracy:.4f}; "
            f"version {manifest.version} not published, models/{POINTER_FILE} left unchanged"
        )
    tflite = model_dir / TFLITE_FILE
    if not tflite.is_file():
        raise QualityGateError(f"{tflite}: missing; not publishing")
    from catdog.classifier import Classifier  # the Lambda's own loader: what passes here will serve

    try:
        probs = Classifier(tflite, manifest, num_threads=1).predict(
            np.zeros((1, *manifest.input_size, 3), dtype=np.float32)
        )
    except CatdogError as exc:
        raise QualityGateError(f"{tflite}: the serving path cannot run it ({exc}); not publishing") from exc
    if probs.shape != (1, len(manifest.labels)) or not np.all(np.isfinite(probs)):
        raise QualityGateError(f"{tflite}: output {probs.shape} does not match labels {manifest.labels}")
    return float(accuracy)


def publish_model(
    model_dir: str | Path, dest: str, min_accuracy: float = DEFAULT_MIN_ACCURACY
) -> ModelPointer:
    """Upload `model_dir` to `<dest><version>/` and point `<dest>latest.json` at it, if it passes the gate."""
    if not is_s3(dest):
        raise ValueError(f"publish destination must be s3://bucket/prefix/, got {dest!r}")
    local = download_dir(str(model_dir)) if is_s3(str(model_dir)) else Path(model_dir)
    manifest = read_manifest(local)
    accuracy = check_gate(local, manifest, min_accuracy)

    repo = ModelRepo.at(dest)
    uploaded = repo.upload_version(local, manifest.version)  # manifest last
    live = repo.live()
    if live is not None and live.version == manifest.version:
        log.info(
            "version %s is already live (%d file(s) refreshed); pointer unchanged", live.version, uploaded
        )
        return live
    pointer = ModelPointer.for_version(
        repo.prefix,
        manifest.version,
        accuracy=accuracy,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    repo.set_live(pointer)
    log.info(
        "published %s (accuracy %.4f) → %s, replacing %s",
        manifest.version,
        accuracy,
        repo.uri(repo.pointer_key),
        live.version if live else "nothing",
    )
    return pointer
