"""Publish a trained model behind a quality gate: `models/<version>/` first, then `models/latest.json`.

The pointer is the only thing the Lambda follows, so it moves last and only when the candidate
passes the gate; a refused model never touches S3 and the live one keeps serving.
Publishing the same version again re-uploads nothing that is already identical and leaves the
pointer (and its `published_at`) as it is.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError
from catdog.manifest import MANIFEST_FILE, POINTER_FILE, TFLITE_FILE, Manifest, ModelPointer
from catdog.s3uri import S3Uri, is_s3

log = logging.getLogger(__name__)

DEFAULT_MIN_ACCURACY = 0.9


class QualityGateError(CatdogError):
    """The candidate model is not good enough (or not servable); the live pointer was left alone."""


def _download_model_dir(uri: str) -> Path:
    """Fetch the files of an `s3://…/<version>/` model directory into a temporary directory."""
    import boto3

    loc = S3Uri.parse(uri)
    prefix = loc.key if loc.key.endswith("/") or not loc.key else loc.key + "/"
    s3 = boto3.client("s3")
    out = Path(tempfile.mkdtemp(prefix="catdog-publish-"))
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix) :]
            if name and "/" not in name:
                s3.download_file(loc.bucket, obj["Key"], str(out / name))
    return out


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


def _same_object(s3: object, bucket: str, key: str, path: Path) -> bool:
    """True when S3 already holds these bytes (single-part ETag = MD5), so re-publishing is a no-op."""
    from botocore.exceptions import ClientError

    try:
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')  # type: ignore[attr-defined]
    except ClientError:
        return False
    return etag == hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def publish_model(
    model_dir: str | Path, dest: str, min_accuracy: float = DEFAULT_MIN_ACCURACY
) -> ModelPointer:
    """Upload `model_dir` to `<dest><version>/` and point `<dest>latest.json` at it, if it passes the gate."""
    import boto3

    if not is_s3(dest):
        raise ValueError(f"publish destination must be s3://bucket/prefix/, got {dest!r}")
    local = _download_model_dir(str(model_dir)) if is_s3(str(model_dir)) else Path(model_dir)
    manifest_path = local / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{model_dir}: no {MANIFEST_FILE} (is this a model directory?)")
    manifest = Manifest.from_json(manifest_path.read_text(), where=str(manifest_path))
    accuracy = check_gate(local, manifest, min_accuracy)

    loc = S3Uri.parse(dest)
    prefix = loc.key if not loc.key or loc.key.endswith("/") else loc.key + "/"
    s3 = boto3.client("s3")
    files = sorted(
        (p for p in local.iterdir() if p.is_file()), key=lambda p: (p.name == MANIFEST_FILE, p.name)
    )
    uploaded = 0
    for path in files:  # manifest last: whoever sees it finds every file it names
        key = f"{prefix}{manifest.version}/{path.name}"
        if not _same_object(s3, loc.bucket, key, path):
            s3.upload_file(str(path), loc.bucket, key)
            uploaded += 1
    pointer_key = prefix + POINTER_FILE
    try:
        live = ModelPointer.from_json(s3.get_object(Bucket=loc.bucket, Key=pointer_key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        live = None
    if live is not None and live.version == manifest.version:
        log.info(
            "version %s is already live (%d file(s) refreshed); pointer unchanged", live.version, uploaded
        )
        return live
    pointer = ModelPointer.for_version(
        prefix,
        manifest.version,
        accuracy=accuracy,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    s3.put_object(
        Bucket=loc.bucket, Key=pointer_key, Body=pointer.to_json().encode(), ContentType="application/json"
    )
    log.info(
        "published %s (accuracy %.4f) → s3://%s/%s, replacing %s",
        manifest.version,
        accuracy,
        loc.bucket,
        pointer_key,
        live.version if live else "nothing",
    )
    return pointer
