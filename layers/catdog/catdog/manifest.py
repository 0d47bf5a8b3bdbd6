"""What a published model is: its manifest, and the `latest.json` pointer that names the live one.

The trainer writes these files, the quality gate moves the pointer, and the Lambda reads both;
this module is the single definition of their fields so the three cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from catdog.errors import ManifestError
from catdog.json_text import json_object
from catdog.labels import LabelError, check_labels

MANIFEST_FILE = "manifest.json"
TFLITE_FILE = "model.tflite"
H5_FILE = "model.h5"
POINTER_FILE = "latest.json"
#: Beside `latest.json`: the candidate the function runs in the shadow of the live model (its answers
#: recorded as `shadow_*` on the items, never as the answer). Same format as `latest.json`.
SHADOW_POINTER_FILE = "shadow.json"
#: The answer for an image that looks like none of the trained labels (its novelty is over the
#: manifest's threshold). Reserved: no model may be trained with a label of that name.
UNKNOWN_LABEL = "unknown"
#: A version names a folder on S3 and in the Lambda's /tmp cache: letters, digits, `.`, `_`, `-`,
#: starting with a letter or digit (so never `.`, `..` or anything with a `/`).
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: What `catdog dataset export` writes at the root of an export, last: every image, where it went.
#: The trainer reads it to record which reviewed images a model was trained on (`trained_on`).
DATASET_RECORD_FILE = "catdog-dataset.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: An image id of `data.trained_on`: `image_id` of a results-table item (32 hex digits).
_IMAGE_ID = re.compile(r"[0-9a-f]{32}")


def check_version(version: Any, where: str = "version") -> str:
    """`version` if it is safe to use as a folder name; else a `ManifestError` saying why."""
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise ManifestError(f"{where}: model version {version!r} is not allowed (1-128 letters, digits, "
                            "'.', '_' or '-', starting with a letter or digit)")
    return version


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_id(image: str, etag: str) -> str:
    """One photo as the results table knows it (its `s3://` URI and the ETag of the version that was
    labelled), in 32 hex digits: what a manifest's `data.trained_on` lists, so that the reviewed
    accuracy of a model can leave out the photos it was trained on. A re-upload is another photo."""
    plain_etag = etag.strip('"')
    return hashlib.sha256(f"{image}\n{plain_etag}".encode()).hexdigest()[:32]


def _plain_file_name(name: Any) -> bool:
    return (isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name
            and name not in (".", ".."))


def _checksum_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        _plain_file_name(k) and isinstance(v, str) and _SHA256.fullmatch(v) for k, v in value.items())


def _require(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ManifestError(f"{where}: missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise ManifestError(f"{where}: field {key!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Manifest:
    """Everything needed to serve, audit or reproduce one model version."""

    version: str
    labels: list[str]
    input_size: tuple[int, int]  # (height, width)
    arch: str
    output_activation: str  # "sigmoid" (one unit, P(labels[1])) or "softmax" (one unit per label)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    files: dict[str, str] = field(default_factory=lambda: {"tflite": TFLITE_FILE, "h5": H5_FILE})
    #: sha256 of every other file of the model folder (written last, so it covers them all): the
    #: Lambda refuses a model.tflite whose bytes do not match, and `publish` refuses to put other
    #: bytes under a published version.
    checksums: dict[str, str] = field(default_factory=dict)
    #: How the model says "none of these" (training_job/novelty.py): `method`, `accept_rate`, the
    #: comparison of methods and, when the model has a `novelty` output, `threshold`. Empty (models
    #: trained before it existed) or without `threshold`: no novelty, never `unknown`.
    novelty: dict[str, Any] = field(default_factory=dict)
    #: Temperature scaling folded into the exported head: `temperature`, `ece_before`, `ece_after`.
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def tflite_file(self) -> str:
        return self.files.get("tflite", TFLITE_FILE)

    @property
    def trained_on(self) -> frozenset[str]:
        """The `image_id`s of the reviewed photos (from `catdog dataset export`) this model was
        trained or validated on: its reviewed accuracy leaves them out. Empty for other data."""
        return frozenset(self.data.get("trained_on") or ())

    @property
    def novelty_threshold(self) -> float | None:
        """The score above which the answer is `unknown`; None when the model does not score novelty."""
        if not self.novelty.get("enabled", True):
            return None
        threshold = self.novelty.get("threshold")
        return float(threshold) if isinstance(threshold, int | float) else None

    @classmethod
    def from_dict(cls, data: Any, where: str = MANIFEST_FILE) -> Manifest:
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        labels = _require(data, "labels", list, where)
        if len(labels) < 2 or not all(isinstance(x, str) and x for x in labels):
            raise ManifestError(f"{where}: 'labels' must list at least two non-empty names")
        if any(label.casefold() == UNKNOWN_LABEL for label in labels):
            raise ManifestError(f"{where}: {UNKNOWN_LABEL!r} is reserved for images that are none of the "
                                "labels")
        try:
            check_labels(labels)
        except LabelError as exc:
            raise ManifestError(f"{where}: {exc}") from None
        size = _require(data, "input_size", list, where)
        if len(size) != 2 or not all(isinstance(x, int) and x > 0 for x in size):
            raise ManifestError(f"{where}: 'input_size' must be [height, width]")
        activation = _require(data, "output_activation", str, where)
        if activation not in ("sigmoid", "softmax"):
            raise ManifestError(f"{where}: unknown output_activation {activation!r}")
        known = {f for f in cls.__dataclass_fields__}
        extra = {k: v for k, v in data.items() if k in known}
        if not _checksum_map(data.get("checksums", {})):
            raise ManifestError(f"{where}: 'checksums' must map file names to sha256 hex digests")
        files = data.get("files", {"tflite": TFLITE_FILE, "h5": H5_FILE})
        if not isinstance(files, dict) or not all(
                isinstance(v, str) and v and "/" not in v and v not in (".", "..") for v in files.values()):
            raise ManifestError(f"{where}: 'files' must map kinds to plain file names")
        for block in ("novelty", "calibration", "data"):
            if not isinstance(data.get(block, {}), dict):
                raise ManifestError(f"{where}: {block!r} must be an object")
        trained_on = data.get("data", {}).get("trained_on", [])
        if not isinstance(trained_on, list) or not all(isinstance(i, str) and _IMAGE_ID.fullmatch(i)
                                                       for i in trained_on):
            raise ManifestError(f"{where}: 'data.trained_on' must list image ids (32 hex digits)")
        threshold = data.get("novelty", {}).get("threshold")
        if threshold is not None and (not isinstance(threshold, int | float) or isinstance(threshold, bool)
                                      or not math.isfinite(threshold)):
            raise ManifestError(f"{where}: 'novelty.threshold' must be a finite number")
        extra.update(
            version=check_version(_require(data, "version", str, where), where),
            labels=list(labels),
            input_size=(size[0], size[1]),
            arch=_require(data, "arch", str, where),
            output_activation=activation,
        )
        return cls(**extra)

    @classmethod
    def from_json(cls, text: str | bytes, where: str = MANIFEST_FILE) -> Manifest:
        return cls.from_dict(json_object(text, where, error=ManifestError), where)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


@dataclass(frozen=True)
class ModelPointer:
    """`models/latest.json`: which version is live. Keys are relative to the pointer's bucket."""

    version: str
    manifest_key: str
    model_key: str
    accuracy: float | None = None
    published_at: str = ""
    #: sha256 of the version's model.tflite, as the quality gate checked it (what functions deployed
    #: before `checksums` existed read; always equal to `checksums[<the .tflite>]` when both exist).
    model_sha256: str = ""
    #: sha256 of EVERY file of the version folder, manifest.json included (the manifest's own
    #: `checksums` cannot cover the manifest itself): what the function, promote, rollback, the
    #: review page and the report verify against (`catdog.model_integrity`). Empty in pointers
    #: written before it existed: those vouch for model.tflite only (docs/reliability.md).
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def model_file(self) -> str:
        return PurePosixPath(self.model_key).name

    @property
    def folder(self) -> str:
        """The version folder's key prefix, `models/<version>/`."""
        return f"{PurePosixPath(self.manifest_key).parent}/"

    @classmethod
    def from_json(cls, text: str | bytes, where: str = POINTER_FILE) -> ModelPointer:
        data = json_object(text, where, error=ManifestError)
        accuracy = data.get("accuracy")
        version = check_version(_require(data, "version", str, where), where)
        manifest_key = _require(data, "manifest_key", str, where)
        model_key = _require(data, "model_key", str, where)
        if not model_key.endswith(".tflite"):
            # The serving path loads only LiteRT flatbuffers, which cannot carry code; a pointer
            # at a .h5/.keras/pickle file is refused before anything is downloaded.
            raise ManifestError(f"{where}: model_key {model_key!r} is not a .tflite file")
        folders = {str(PurePosixPath(k).parent) for k in (manifest_key, model_key)}
        outside = ".." in manifest_key + model_key
        if len(folders) != 1 or PurePosixPath(folders.pop()).name != version or outside:
            raise ManifestError(f"{where}: manifest_key and model_key must both lie in the version's own "
                                f"folder .../{version}/")
        sha = data.get("model_sha256") or ""
        if not isinstance(sha, str) or (sha and not _SHA256.fullmatch(sha)):
            raise ManifestError(f"{where}: model_sha256 is not a sha256 hex digest")
        checksums = data.get("checksums") or {}
        if not _checksum_map(checksums):
            raise ManifestError(f"{where}: 'checksums' must map file names to sha256 hex digests")
        if checksums:
            # a pointer that vouches for files must vouch for the two the function reads, consistently
            model_file = PurePosixPath(model_key).name
            for name in (PurePosixPath(manifest_key).name, model_file):
                if name not in checksums:
                    raise ManifestError(f"{where}: 'checksums' has no sha256 of {name}")
            if sha and checksums[model_file] != sha:
                raise ManifestError(f"{where}: model_sha256 and checksums[{model_file!r}] disagree")
        return cls(
            version=version,
            manifest_key=manifest_key,
            model_key=model_key,
            accuracy=float(accuracy) if isinstance(accuracy, int | float) else None,
            published_at=str(data.get("published_at", "")),
            model_sha256=sha,
            checksums=dict(checksums),
        )

    @classmethod
    def for_version(cls, models_prefix: str, version: str, **kw: Any) -> ModelPointer:
        """The pointer for `<models_prefix><version>/`, e.g. `models/20261127-abc123/`."""
        check_version(version)
        base = f"{models_prefix.rstrip('/')}/{version}/" if models_prefix.strip("/") else f"{version}/"
        return cls(version=version, manifest_key=base + MANIFEST_FILE, model_key=base + TFLITE_FILE, **kw)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)
