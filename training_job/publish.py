"""Publish a trained model behind a quality gate: `models/<version>/` first, then `models/latest.json`.

The pointer is the only thing the Lambda follows, so it moves last and only when the candidate
passes the gate; a refused model never touches S3 and the live one keeps serving.
Publishing the same version again re-uploads nothing that is already identical and leaves the
pointer (and its `published_at`) as it is. Publishing DIFFERENT model bytes under a version that is
already published is refused: warm and cold containers would serve different weights under one
`model_version`. The uploaded manifest always carries the sha256 of every other file (a model
trained before checksums existed gets them here), and the pointer the sha256 of every file,
`manifest.json` included (catdog.model_integrity: what the function verifies before serving).
A live version whose pointer predates those checksums gets a pointer with them when published or
promoted again.
Every move of the pointer is appended to `models/history/` (catdog.model_history), which is what
makes `catdog models rollback` exact; `catdog models promote` is this same function on a version
that is already uploaded.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from catdog.classifier import Classifier
from catdog.errors import CatdogError, QualityGateError
from catdog.manifest import (
    H5_FILE,
    MANIFEST_FILE,
    POINTER_FILE,
    Manifest,
    ModelPointer,
    sha256_bytes,
    sha256_file,
)
from catdog.model_history import RESERVED_VERSIONS, record_change
from catdog.model_repo import (
    ModelRepo,
    checksum_mismatches,
    download_dir,
    read_manifest,
    write_manifest,
)
from catdog.plural import plural
from catdog.ranges import PROBABILITY
from catdog.s3uri import is_s3
from training_job.settings import DEFAULT_MIN_ACCURACY

log = logging.getLogger(__name__)


def check_gate(model_dir: Path, manifest: Manifest, min_accuracy: float) -> float:
    """Refuse a model that scores below the bar or that the serving path cannot run; returns accuracy."""
    # nan compares false with everything: a nan bar (MIN_ACCURACY=nan) would let every model through
    PROBABILITY.check(min_accuracy, "--min-accuracy (MIN_ACCURACY)")
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
    tflite = model_dir / manifest.tflite_file
    if not tflite.is_file():
        raise QualityGateError(f"{tflite}: missing; not publishing")
    # the Lambda's own loader: what passes here will serve
    try:
        probs, novelty = Classifier(tflite, manifest, num_threads=1).infer(
            np.zeros((1, *manifest.input_size, 3), dtype=np.float32)
        )
    except CatdogError as exc:
        raise QualityGateError(f"{tflite}: the serving path cannot run it ({exc}); not publishing") from exc
    if probs.shape != (1, len(manifest.labels)) or not np.all(np.isfinite(probs)):
        raise QualityGateError(f"{tflite}: output {probs.shape} does not match labels {manifest.labels}")
    if novelty is not None and not np.all(np.isfinite(novelty)):
        raise QualityGateError(f"{tflite}: its novelty output is not a finite number; not publishing")
    return float(accuracy)


def _with_checksums(local: Path, manifest: Manifest) -> tuple[Path, Manifest]:
    """The folder to upload: `local` itself, or a staged copy whose manifest has every checksum."""
    files = {p.name for p in local.iterdir() if p.is_file() and p.name != MANIFEST_FILE}
    if files <= set(manifest.checksums):
        return local, manifest
    staged = Path(tempfile.mkdtemp(prefix="catdog-publish-"))
    for name in files:
        shutil.copy2(local / name, staged / name)
    return staged, write_manifest(staged, manifest)


def _refuse_other_bytes(repo: ModelRepo, local: Path, manifest: Manifest) -> None:
    """A version names one set of files forever: refuse to publish different ones under it (the
    manifest included, which pointers vouch for, unless the published one predates checksums)."""
    published = repo.published_manifest(manifest.version)
    if published is None:
        return
    folder = f"{repo.prefix}{manifest.version}/"
    weights = [manifest.tflite_file, manifest.files.get("h5", H5_FILE)]
    for name in dict.fromkeys([*weights, *sorted(manifest.checksums)]):
        ours = manifest.checksums.get(name)
        theirs = published.checksums.get(name)
        if theirs is None and name == manifest.tflite_file:
            theirs = sha256_bytes(repo.read(folder + name))  # an old upload
        if ours and theirs and ours != theirs:
            raise QualityGateError(
                f"version {manifest.version} is already published with a different {name} (sha256 "
                f"{theirs[:12]}… there, {ours[:12]}… here); publish these weights under a new version "
                "(catdog train --version …) so that every container serves one set of weights per version")
    if published.checksums and sha256_bytes(repo.read(folder + MANIFEST_FILE)) != sha256_file(
            local / MANIFEST_FILE):
        raise QualityGateError(
            f"version {manifest.version} is already published with a different {MANIFEST_FILE} (the "
            "pointers that name it vouch for its bytes); publish this model under a new version "
            "(catdog train --version …)")


def _vetted(model_dir: str | Path, min_accuracy: float) -> tuple[Path, Manifest, float]:
    """(the local folder, its manifest, its validation accuracy) of a model that passes the gate:
    every file is what its manifest recorded, the version is not reserved, the accuracy bar and a
    LiteRT load (`check_gate`)."""
    local = download_dir(str(model_dir)) if is_s3(str(model_dir)) else Path(model_dir)
    manifest = read_manifest(local)
    changed = checksum_mismatches(local, manifest)
    if changed:
        raise QualityGateError(f"{', '.join(changed)} in {model_dir} changed since the manifest was written "
                               "(sha256 mismatch); not publishing")
    if manifest.version in RESERVED_VERSIONS:
        raise QualityGateError(f"version {manifest.version!r} is reserved (models/{manifest.version}/ is not "
                               "a model folder); train with another --version")
    return local, manifest, check_gate(local, manifest, min_accuracy)


def _pointer_for(repo: ModelRepo, local: Path, manifest: Manifest, accuracy: float) -> ModelPointer:
    """The pointer to an uploaded version: the sha256 of every file of the folder as uploaded (the
    manifest's checksums cover the others, and the manifest's own bytes are vouched for only here)."""
    return ModelPointer.for_version(
        repo.prefix,
        manifest.version,
        accuracy=accuracy,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        model_sha256=manifest.checksums[manifest.tflite_file],
        checksums={**manifest.checksums, MANIFEST_FILE: sha256_file(local / MANIFEST_FILE)},
    )


def gate_published(repo: ModelRepo, version: str, min_accuracy: float = DEFAULT_MIN_ACCURACY) -> ModelPointer:
    """The pointer to the already-published `version`, if it passes the very gate `publish_model`
    applies; moves nothing. `catdog models shadow` writes it as `models/shadow.json`, so that the
    function verifies a shadow model's files exactly as it verifies the live one's."""
    local, manifest, accuracy = _vetted(repo.version_uri(version), min_accuracy)
    if manifest.version != version:
        raise QualityGateError(f"{repo.version_uri(version)}{MANIFEST_FILE} says it is version "
                               f"{manifest.version!r}; not using it")
    unvouched = sorted(p.name for p in local.iterdir()
                       if p.is_file() and p.name != MANIFEST_FILE and p.name not in manifest.checksums)
    if unvouched or manifest.tflite_file not in manifest.checksums:
        raise QualityGateError(f"{repo.version_uri(version)}: its manifest records no sha256 of "
                               f"{', '.join(unvouched) or manifest.tflite_file} (published before checksums "
                               "existed); publish it again with `catdog publish`, which records them")
    return _pointer_for(repo, local, manifest, accuracy)


def publish_model(
    model_dir: str | Path, dest: str, min_accuracy: float = DEFAULT_MIN_ACCURACY, *,
    action: str = "publish", by: str = "",
) -> ModelPointer:
    """Upload `model_dir` to `<dest><version>/` and point `<dest>latest.json` at it, if it passes the gate.

    `action` and `by` are what the history records (`promote` for a version already uploaded).
    """
    if not is_s3(dest):
        raise ValueError(f"publish destination must be s3://bucket/prefix/, got {dest!r}")
    local, manifest, accuracy = _vetted(model_dir, min_accuracy)
    local, manifest = _with_checksums(local, manifest)

    repo = ModelRepo.at(dest)
    _refuse_other_bytes(repo, local, manifest)
    uploaded = repo.upload_version(local, manifest.version)  # manifest last
    live = repo.live()
    if live is not None and live.version == manifest.version and live.checksums:
        log.info("version %s is already live (%s refreshed); pointer unchanged", live.version,
                 plural(uploaded, "file"))
        return live
    pointer = _pointer_for(repo, local, manifest, accuracy)
    repo.set_live(pointer)
    record_change(repo, pointer, action, previous=live.version if live else None, by=by)
    log.info(
        "published %s (accuracy %.4f) → %s, replacing %s",
        manifest.version,
        accuracy,
        repo.uri(repo.pointer_key),
        live.version if live else "nothing",
    )
    return pointer
