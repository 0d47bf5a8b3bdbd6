"""Are a model version's files the ones its pointer vouches for? Asked before anything acts on them.

`models/latest.json` (and each entry of `models/history/`) records the sha256 of every file of the
version folder, `manifest.json` included: the manifest's own `checksums` cannot cover the manifest,
so a pointer that vouched only for `model.tflite` let a rewritten manifest (its labels reversed,
say) be served with the right weights. The function (`ModelStore`), `catdog models promote` and
`rollback`, the review page and the report all read a version through `read_verified`, and its
error names the file that failed. One function, so that every pointer (a shadow one too) is
checked the same way.

Pointers written before `checksums` existed vouch only for `model.tflite` (`model_sha256`): they
are still served, their manifest read as it is (`manifest_verified` is False, and the function
logs a warning), the `.tflite` checked against the pointer and the manifest as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catdog.errors import ManifestError, ModelError
from catdog.manifest import MANIFEST_FILE, Manifest, ModelPointer, sha256_bytes
from catdog.model_repo import read_object

log = logging.getLogger(__name__)


class IntegrityError(ModelError):
    """A file of a model version is missing, or its bytes are not the ones vouched for; `uri` names it."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(message)
        self.uri = uri


@dataclass(frozen=True)
class VerifiedVersion:
    """A version read through its pointer: the manifest, and the model's bytes when they were asked for."""

    pointer: ModelPointer
    manifest: Manifest
    model: bytes | None
    #: False for a pointer written before it recorded the manifest's sha256 (nothing to compare with).
    manifest_verified: bool
    #: Every file whose bytes were compared with a recorded sha256, in the order they were read.
    checked: tuple[str, ...]


def _expected(name: str, pointer: ModelPointer, manifest: Manifest | None) -> list[tuple[str, str]]:
    """(sha256, who recorded it) for one file of the version: the pointer first, then the manifest."""
    claims = []
    if name in pointer.checksums:
        claims.append((pointer.checksums[name], "the pointer"))
    elif name == pointer.model_file and pointer.model_sha256:
        claims.append((pointer.model_sha256, "the pointer"))
    if manifest is not None and name in manifest.checksums:
        claims.append((manifest.checksums[name], "its manifest"))
    return claims


def _check(data: bytes, uri: str, claims: list[tuple[str, str]], vouched_by: str) -> None:
    actual = sha256_bytes(data)
    for digest, who in claims:
        if actual != digest:
            source = vouched_by if who == "the pointer" else who
            raise IntegrityError(uri, f"{uri} does not match {source} (sha256 {actual[:12]}… ≠ "
                                      f"{digest[:12]}…): the file changed after it was published; "
                                      "refusing it")


def read_verified(s3: Any, bucket: str, pointer: ModelPointer, *, model: bool = True,
                  every_file: bool = False, vouched_by: str = "models/latest.json") -> VerifiedVersion:
    """The version `pointer` names, every file read checked against the sha256 the pointer (and,
    for the others, the manifest) recorded; an `IntegrityError` naming the first file that fails.

    `model`: also read and return the `.tflite` (the function); `every_file`: also check every other
    file either of them lists (promote, rollback). `vouched_by` names the pointer in messages.
    """

    def uri(name: str) -> str:
        return f"s3://{bucket}/{pointer.folder}{name}"

    def read(name: str) -> bytes:
        try:
            return read_object(s3, bucket, pointer.folder + name)
        except ModelError:  # not found
            raise IntegrityError(uri(name), f"{uri(name)} is missing (named by {vouched_by})") from None

    checked: list[str] = []
    manifest_name = pointer.manifest_key.rsplit("/", 1)[-1]
    raw = read(manifest_name)
    claims = _expected(manifest_name, pointer, None)
    _check(raw, uri(manifest_name), claims, vouched_by)
    if claims:
        checked.append(manifest_name)
    else:
        log.warning("%s predates the sha256 of %s: its manifest is read unverified (promote the version "
                    "again to record one)", vouched_by, MANIFEST_FILE)
    manifest = Manifest.from_json(raw, where=uri(manifest_name))
    if manifest.version != pointer.version:
        raise ManifestError(f"{uri(manifest_name)} is version {manifest.version!r} but {vouched_by} points "
                            f"at {pointer.version!r}")

    data = None
    if model:
        model_uri = uri(pointer.model_file)
        if manifest.tflite_file not in manifest.checksums:
            raise IntegrityError(model_uri, f"{model_uri}: the manifest of {manifest.version} carries no "
                                 f"sha256 of {manifest.tflite_file}, so its bytes cannot be verified; "
                                 "re-publish it with `catdog publish` (which records one)")
        data = read(pointer.model_file)
        recorded = (manifest.checksums[manifest.tflite_file], "its manifest")
        _check(data, model_uri, [*_expected(pointer.model_file, pointer, None), recorded], vouched_by)
        checked.append(pointer.model_file)
    if every_file:
        for name in _others(pointer, manifest, skip={manifest_name, *checked}):
            _check(read(name), uri(name), _expected(name, pointer, manifest), vouched_by)
            checked.append(name)
    return VerifiedVersion(pointer, manifest, data, bool(claims), tuple(checked))


def _others(pointer: ModelPointer, manifest: Manifest, skip: Iterable[str]) -> list[str]:
    names = set(pointer.checksums) | set(manifest.checksums)
    if pointer.model_sha256:
        names.add(pointer.model_file)
    return sorted(names - set(skip))
