"""The live model: follow `models/latest.json`, keep the loaded version warm, hot-swap new ones.

Loading costs a download and an interpreter build, so it happens once per container; the
pointer is re-read at most every `refresh_seconds`, and a new version replaces the old one
between invocations without a cold start. If the pointer cannot be re-read while a model is
loaded, the warm model keeps serving (a blip in S3 must not stop classification); if no model
was ever loaded, `ModelError` makes the messages go back to the queue.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from catdog.classifier import Classifier
from catdog.config import DEFAULT_INFERENCE_CHUNK
from catdog.errors import ModelError
from catdog.manifest import ModelPointer, check_version
from catdog.model_integrity import read_verified
from catdog.model_repo import LoadedModel, read_object

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """The model for one invocation, and whether this invocation had to load it (a metric)."""

    model: LoadedModel
    loaded_now: bool


class PointerFollower:
    """What the live model's store and the shadow model's (catdog.shadow) share: the pointer they
    follow, how often they re-read it, where the `.tflite` goes, and how a version is loaded."""

    def __init__(self, s3: Any, bucket: str, pointer_key: str, *, refresh_seconds: float,
                 cache_dir: str | Path, num_threads: int | None = None,
                 inference_chunk: int = DEFAULT_INFERENCE_CHUNK) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.pointer_key = pointer_key
        self.refresh_seconds = refresh_seconds
        self.cache_dir = Path(cache_dir)
        self.num_threads = num_threads
        self.inference_chunk = inference_chunk
        self.clock = time.monotonic  # replaceable in tests to step past the refresh interval
        self._current: LoadedModel | None = None
        self._checked_at: float | None = None

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def _load(self, pointer: ModelPointer, vouched_by: str) -> LoadedModel:
        folder = version_folder(self.cache_dir, pointer.version)
        return load_from_pointer(self.s3, self.bucket, pointer, folder, vouched_by=vouched_by,
                                 num_threads=self.num_threads, inference_chunk=self.inference_chunk)


class ModelStore(PointerFollower):
    def get(self) -> Served:
        """The model to use for this invocation (loading or swapping it if due)."""
        now = self.clock()
        due = self._checked_at is None or now - self._checked_at >= self.refresh_seconds
        if self._current is not None and not due:
            return Served(self._current, loaded_now=False)
        loaded_now = False
        try:
            raw = read_object(self.s3, self.bucket, self.pointer_key)
            pointer = ModelPointer.from_json(raw, where=self.pointer_key)
            self._checked_at = now
            if self._current is None or pointer.version != self._current.version:
                self._swap(pointer)
                loaded_now = True
        except (ModelError, ClientError, BotoCoreError) as exc:
            if self._current is None:
                raise
            log.warning("model refresh failed, keeping %s: %s", self._current.version, exc)
            self._checked_at = now
        assert self._current is not None
        return Served(self._current, loaded_now)

    def _swap(self, pointer: ModelPointer) -> None:
        previous = self._current
        self._current = self._load(pointer, vouched_by=self.pointer_key)
        log.info("model %s loaded in %.3f s", pointer.version, self._current.load_seconds)
        if previous is not None and previous.version != pointer.version:
            shutil.rmtree(self._folder(previous.version), ignore_errors=True)  # /tmp is small

    def _folder(self, version: str) -> Path:
        return version_folder(self.cache_dir, version)


def version_folder(cache_dir: Path, version: str) -> Path:
    """`<cache>/<version>`; never a path outside the cache, whatever the version says."""
    root = cache_dir.resolve()
    folder = (root / check_version(version)).resolve()
    if folder.parent != root:
        raise ModelError(f"model version {version!r} would leave the cache directory {root}")
    return folder


def load_from_pointer(s3: Any, bucket: str, pointer: ModelPointer, folder: Path, *, vouched_by: str,
                      num_threads: int | None, inference_chunk: int) -> LoadedModel:
    """The version `pointer` names, ready to serve: its manifest and `.tflite` checked against the
    sha256 the pointer recorded (`read_verified`), the `.tflite` written to `folder` and loaded. The
    live model and the shadow one are loaded by this one function, so they are verified alike."""
    started = time.perf_counter()
    verified = read_verified(s3, bucket, pointer, vouched_by=vouched_by)
    manifest, data = verified.manifest, verified.model
    assert data is not None
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / manifest.tflite_file
    model_path.write_bytes(data)
    classifier = Classifier(model_path, manifest, num_threads,  # ModelError on a corrupt file
                            chunk=inference_chunk)
    return LoadedModel(classifier, f"s3://{bucket}/{pointer.model_key}", time.perf_counter() - started)
