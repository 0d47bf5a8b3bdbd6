"""Model folders, local or on S3: the one place that reads and writes them.

A model folder holds `manifest.json`, `model.tflite`, `model.h5` and the training artifacts. On S3
the published ones live under `s3://bucket/models/<version>/`, and `models/latest.json` names the
live one. The trainer (upload), `publish` (download, upload, move the pointer), `evaluate`/`predict`
(load from anywhere) and the Lambda's model store (read the pointer and files) all go through here,
so "manifest last" and "follow the pointer" are written once.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.exceptions import ClientError

from catdog.aws_errors import is_not_found
from catdog.classifier import Classifier
from catdog.errors import ManifestError, ModelError
from catdog.manifest import (
    MANIFEST_FILE,
    POINTER_FILE,
    SHADOW_POINTER_FILE,
    VERSION_PATTERN,
    Manifest,
    ModelPointer,
    sha256_bytes,
    sha256_file,
)
from catdog.plural import plural
from catdog.s3uri import S3Uri, is_s3

log = logging.getLogger(__name__)

def as_prefix(key: str) -> str:
    """`models` and `models/` both mean the folder `models/`; "" is the bucket root."""
    return key if not key or key.endswith("/") else key + "/"


def _s3_client() -> Any:
    return boto3.client("s3")


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    """The object's bytes; a missing object is a `ModelError` naming it (nothing is published there)."""
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if is_not_found(exc):
            raise ModelError(f"no model published: s3://{bucket}/{key} does not exist") from exc
        raise


def model_files(local: Path) -> list[Path]:
    """The files of a model folder in upload order: the manifest last, so that whoever sees it can
    rely on every file it names being there."""
    files = sorted(p for p in local.iterdir() if p.is_file())
    return sorted(files, key=lambda p: (p.name == MANIFEST_FILE, p.name))


def _same_object(s3: Any, bucket: str, key: str, path: Path) -> bool:
    """True when S3 already holds these bytes (single-part ETag = MD5), so re-uploading is a no-op."""
    try:
        etag = str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
    except ClientError:
        return False
    return etag == hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def upload_dir(local: Path, dest: str, s3: Any = None, *, skip_identical: bool = False) -> int:
    """Upload a model folder to `s3://bucket/prefix/` (manifest last); returns how many files were sent."""
    s3 = s3 or _s3_client()
    loc = S3Uri.parse(dest)
    sent = 0
    for path in model_files(local):
        key = loc.join(path.name).key
        if skip_identical and _same_object(s3, loc.bucket, key, path):
            continue
        s3.upload_file(str(path), loc.bucket, key)
        sent += 1
    log.info("uploaded %s to %s", plural(sent, "file"), dest)
    return sent


def download_dir(uri: str, dest: Path | None = None, s3: Any = None) -> Path:
    """Fetch the files directly under `s3://bucket/prefix/` into `dest` (default: a new temp dir)."""
    s3 = s3 or _s3_client()
    loc = S3Uri.parse(uri)
    prefix = as_prefix(loc.key)
    out = dest or Path(tempfile.mkdtemp(prefix="catdog-model-"))
    out.mkdir(parents=True, exist_ok=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix) :]
            if name and "/" not in name:
                s3.download_file(loc.bucket, obj["Key"], str(out / name))
    return out


def read_manifest(model_dir: Path) -> Manifest:
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir}: no {MANIFEST_FILE} (is this a model directory?)")
    return Manifest.from_json(path.read_text(), where=str(path))


def write_manifest(model_dir: Path, manifest: Manifest) -> Manifest:
    """Write `manifest.json` LAST, with the sha256 of every other file of the folder; returns it."""
    checksums = {p.name: sha256_file(p) for p in sorted(model_dir.iterdir())
                 if p.is_file() and p.name != MANIFEST_FILE}
    final = replace(manifest, checksums=checksums)
    (model_dir / MANIFEST_FILE).write_text(final.to_json() + "\n")
    return final


def checksum_mismatches(model_dir: Path, manifest: Manifest) -> list[str]:
    """The files whose bytes differ from the manifest's checksums (missing files included)."""
    return [name for name, digest in sorted(manifest.checksums.items())
            if not (model_dir / name).is_file() or sha256_file(model_dir / name) != digest]


def verify_model_bytes(data: bytes, manifest: Manifest, where: str, expected: str = "") -> None:
    """Refuse a `.tflite` whose bytes are not the ones the manifest (and pointer) vouch for."""
    recorded = manifest.checksums.get(manifest.tflite_file)
    if not recorded:
        raise ModelError(f"{where}: the manifest of {manifest.version} carries no sha256 of "
                         f"{manifest.tflite_file}, so its bytes cannot be verified; re-publish it with "
                         "`catdog publish` (which records one)")
    actual = sha256_bytes(data)
    for claimed, source in ((recorded, "its manifest"), (expected, "the pointer")):
        if claimed and actual != claimed:
            raise ModelError(f"{where}: {manifest.tflite_file} does not match {source} (sha256 "
                             f"{actual[:12]}… ≠ {claimed[:12]}…); refusing to serve it")


@dataclass
class ModelRepo:
    """The published models under `s3://bucket/<prefix>`: version folders and the live pointer."""

    s3: Any
    bucket: str
    prefix: str = "models/"

    @classmethod
    def at(cls, uri: str, s3: Any = None) -> ModelRepo:
        loc = S3Uri.parse(uri)
        return cls(s3 or _s3_client(), loc.bucket, as_prefix(loc.key))

    @property
    def pointer_key(self) -> str:
        return self.prefix + POINTER_FILE

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key or self.prefix}"

    def read(self, key: str) -> bytes:
        return read_object(self.s3, self.bucket, key)

    def live(self) -> ModelPointer | None:
        """The pointer to the live version, or None when nothing was ever published."""
        try:
            raw = self.read(self.pointer_key)
        except ModelError:
            return None
        return ModelPointer.from_json(raw, where=self.uri(self.pointer_key))

    def set_live(self, pointer: ModelPointer) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.pointer_key, Body=pointer.to_json().encode(),
                           ContentType="application/json")

    @property
    def shadow_key(self) -> str:
        return self.prefix + SHADOW_POINTER_FILE

    def shadow(self) -> ModelPointer | None:
        """The pointer to the shadow model (`catdog models shadow`), or None when none is set."""
        try:
            raw = self.read(self.shadow_key)
        except ModelError:
            return None
        return ModelPointer.from_json(raw, where=self.uri(self.shadow_key))

    def set_shadow(self, pointer: ModelPointer) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.shadow_key, Body=pointer.to_json().encode(),
                           ContentType="application/json")

    def clear_shadow(self) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.shadow_key)

    def version_uri(self, version: str) -> str:
        return self.uri(f"{self.prefix}{version}/")

    def published_manifest(self, version: str) -> Manifest | None:
        """The manifest already published under `version`, or None."""
        key = f"{self.prefix}{version}/{MANIFEST_FILE}"
        try:
            raw = self.read(key)
        except ModelError:
            return None
        return Manifest.from_json(raw, where=self.uri(key))

    def list_versions(self) -> list[str]:
        """The version folders directly under the prefix (`history/` is not one), sorted."""
        found = [p["Prefix"][len(self.prefix):].rstrip("/")
                 for page in self.s3.get_paginator("list_objects_v2").paginate(
                     Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
                 for p in page.get("CommonPrefixes", [])]
        return sorted(v for v in found if VERSION_PATTERN.fullmatch(v) and v != "history")

    def upload_version(self, local: Path, version: str) -> int:
        """Upload a model folder as `<prefix><version>/`, skipping files already there byte for byte."""
        return upload_dir(local, self.version_uri(version), self.s3, skip_identical=True)


@dataclass
class LoadedModel:
    """A model ready to serve: its LiteRT classifier (which carries the manifest) and where it came from."""

    classifier: Classifier
    location: str
    load_seconds: float = 0.0

    @property
    def manifest(self) -> Manifest:
        return self.classifier.manifest

    @property
    def version(self) -> str:
        return self.classifier.manifest.version


def load_model(location: str | Path, num_threads: int | None = None) -> LoadedModel:
    """A model directory, `s3://…/<version>/`, or `s3://…/models/` (follows `latest.json`)."""
    started = time.perf_counter()
    where = str(location)
    if not is_s3(where):
        local = Path(where)
        manifest = read_manifest(local)
        if not manifest.checksums:
            log.warning("%s: the manifest records no checksums (trained before they existed)", where)
        elif manifest.tflite_file in checksum_mismatches(local, manifest):
            raise ManifestError(f"{where}: {manifest.tflite_file} does not match its manifest's sha256")
        classifier = Classifier(local / manifest.tflite_file, manifest, num_threads)
        return LoadedModel(classifier, where, time.perf_counter() - started)
    repo = ModelRepo.at(where)
    pointer = repo.live()
    if pointer is not None:  # the live version: every file read is checked against the pointer
        from catdog.model_integrity import read_verified  # (it reads through this module)

        verified = read_verified(repo.s3, repo.bucket, pointer, vouched_by=repo.uri(repo.pointer_key))
        manifest, data, model_key = verified.manifest, verified.model or b"", pointer.model_key
    else:  # a version folder: its manifest's checksums are all there is
        manifest_key = repo.prefix + MANIFEST_FILE
        try:
            manifest = Manifest.from_json(repo.read(manifest_key), where=repo.uri(manifest_key))
        except ModelError as exc:
            raise ModelError(f"{where}: neither {POINTER_FILE} nor {MANIFEST_FILE} found") from exc
        model_key = str(PurePosixPath(manifest_key).parent / manifest.tflite_file)
        data = repo.read(model_key)
        verify_model_bytes(data, manifest, repo.uri(model_key))
    local_file = Path(tempfile.mkdtemp(prefix="catdog-eval-")) / manifest.tflite_file
    local_file.write_bytes(data)
    classifier = Classifier(local_file, manifest, num_threads)
    return LoadedModel(classifier, repo.uri(model_key), time.perf_counter() - started)
