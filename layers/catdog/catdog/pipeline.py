"""One invocation's work: read every image, preprocess it, classify them all in ONE LiteRT call.

The outcome of each object event is decided here and written by `results.ResultsTable`:
- `classified` / `failed` (the input's fault: `BadInputError`, never retried) / `deleted`;
- `gone`: the object was deleted before we read it; the removal event will record that;
- `retry`: anything else (throttling, 5xx, timeouts, AccessDenied, no model...) is kept as the
  exception so the caller can hand the message back to the queue instead of recording a verdict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from catdog.classifier import Prediction
from catdog.errors import BadInputError
from catdog.model_store import LoadedModel, ModelStore
from catdog.preprocess import PreprocessedImage, preprocess_image
from catdog.results import ImageFacts, ResultsTable
from catdog.s3_events import ObjectEvent

log = logging.getLogger(__name__)

CLASSIFIED, FAILED, DELETED = "classified", "failed", "deleted"  # written to the table
GONE, RETRY, IGNORED = "gone", "retry", "ignored"  # not written
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


@dataclass
class Outcome:
    event: ObjectEvent
    status: str
    facts: ImageFacts | None = None
    image: PreprocessedImage | None = None
    prediction: Prediction | None = None
    error: str | None = None
    reason: str | None = None
    exception: BaseException | None = None


@dataclass(frozen=True)
class BatchStats:
    inference_seconds: float = 0.0
    classified: int = 0
    model: LoadedModel | None = None


KeyScope = Callable[[ObjectEvent], Any]  # a context manager that tags log lines with the image


@contextmanager
def _no_scope(_: ObjectEvent) -> Iterator[None]:
    yield


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in _MISSING_CODES


class ImageReader:
    """HEAD (size cap) then GET, with the cap enforced again on the bytes actually read."""

    def __init__(self, s3: Any, max_object_bytes: int) -> None:
        self.s3 = s3
        self.max_object_bytes = max_object_bytes

    def read(self, event: ObjectEvent) -> tuple[bytes, ImageFacts]:
        cap = self.max_object_bytes
        head = self.s3.head_object(Bucket=event.bucket, Key=event.key)
        size = int(head.get("ContentLength", 0))
        etag = str(head.get("ETag", "")).strip('"') or event.etag
        if size > cap:
            raise BadInputError(
                f"object is {size / 1e6:.1f} MB, over the {cap / 1e6:.1f} MB cap (MAX_OBJECT_BYTES)",
                reason="too_large")
        if size == 0:
            raise BadInputError("empty file (0 bytes)", reason="empty")
        body = self.s3.get_object(Bucket=event.bucket, Key=event.key)["Body"]
        data = body.read(cap + 1)  # the object may have been replaced by a bigger one since HEAD
        body.close()
        if len(data) > cap:
            raise BadInputError(f"object is over the {cap / 1e6:.1f} MB cap (MAX_OBJECT_BYTES)",
                                reason="too_large")
        return data, ImageFacts(etag=etag, size_bytes=len(data))


class ClassifyBatch:
    """Read + preprocess every created object, one batched classify, then write the answers."""

    def __init__(self, reader: ImageReader, store: ModelStore, results: ResultsTable,
                 max_image_pixels: int, key_scope: KeyScope = _no_scope) -> None:
        self.reader = reader
        self.store = store
        self.results = results
        self.max_image_pixels = max_image_pixels
        self.key_scope = key_scope

    def classify(self, events: Sequence[ObjectEvent]) -> tuple[list[Outcome], BatchStats]:
        outcomes = [Outcome(e, DELETED if e.is_removal else (IGNORED if not e.is_creation else RETRY))
                    for e in events]
        created = [o for o in outcomes if o.event.is_creation]
        if not created:
            return outcomes, BatchStats()
        try:
            model = self.store.get()
        except Exception as exc:  # no model / corrupt model / S3 down: every image goes back
            log.error("cannot load the model, %d image(s) will be retried: %s", len(created), exc)
            for o in created:
                o.exception = exc
            return outcomes, BatchStats()
        for o in created:
            with self.key_scope(o.event):
                self._prepare(o, model)
        ready = [o for o in created if o.image is not None]
        started = time.perf_counter()
        if ready:
            try:
                predictions = model.classifier.classify([o.image.pixels for o in ready])  # type: ignore[union-attr]
            except Exception as exc:
                log.error("inference failed for %d image(s), will be retried: %s", len(ready), exc)
                for o in ready:
                    o.status, o.exception = RETRY, exc
                return outcomes, BatchStats(model=model)
            for o, prediction in zip(ready, predictions, strict=True):
                o.status, o.prediction = CLASSIFIED, prediction
        elapsed = time.perf_counter() - started
        return outcomes, BatchStats(inference_seconds=elapsed, classified=len(ready), model=model)

    def _prepare(self, o: Outcome, model: LoadedModel) -> None:
        try:
            data, o.facts = self.reader.read(o.event)
            image = preprocess_image(data, model.manifest.input_size, max_pixels=self.max_image_pixels)
        except BadInputError as exc:
            o.status, o.error, o.reason = FAILED, str(exc), exc.reason
            log.warning("bad input, recorded as failed: %s", exc)
            return
        except ClientError as exc:
            if _is_missing(exc):
                o.status = GONE
                log.info("object deleted before it was read; nothing to classify")
                return
            o.status, o.exception = RETRY, exc
            log.warning("transient error reading the image, will be retried: %s", exc)
            return
        except Exception as exc:  # timeouts, connection errors, MemoryError...: retry
            o.status, o.exception = RETRY, exc
            log.warning("error reading the image, will be retried: %s", exc)
            return
        o.image = image
        o.facts = ImageFacts(etag=o.facts.etag, size_bytes=o.facts.size_bytes, width=image.width,
                             height=image.height, format=image.format)

    def write(self, outcome: Outcome, model_version: str | None) -> bool | None:
        """Record one outcome (raises on a write error so the message is retried).

        Returns True if written, False if a newer event already answered, None if nothing to write.
        """
        o = outcome
        if o.status == RETRY:
            assert o.exception is not None
            raise o.exception
        if o.status == CLASSIFIED:
            assert o.facts is not None and o.prediction is not None and model_version
            return self.results.put_classified(o.event, o.facts, o.prediction, model_version)
        if o.status == FAILED:
            return self.results.put_failed(o.event, o.error or "unusable input", o.reason or "bad_input",
                                           o.facts, model_version)
        if o.status == DELETED:
            return self.results.mark_deleted(o.event)
        return None  # GONE / IGNORED
