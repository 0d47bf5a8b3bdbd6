"""One invocation's work: read every image, preprocess it, classify them all in ONE LiteRT call.

What becomes of each object event is decided here, per message, and written by
`results.ResultsTable`:
- an item with a `Status`: `classified`, `failed` (the input's fault: `BadInputError`, never
  retried) or `deleted`;
- nothing, with a `skipped` reason: `gone` (the object was deleted before we read it; the removal
  event records that) or `ignored` (an event type we do not handle);
- `retry`: anything else (throttling, 5xx, timeouts, AccessDenied, no model...) is kept as the
  exception so that the message goes back to the queue instead of a verdict being recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from catdog.classifier import Prediction
from catdog.errors import BadInputError
from catdog.model_repo import LoadedModel
from catdog.model_store import ModelStore
from catdog.preprocess import PreprocessedImage, preprocess_image
from catdog.results import ImageFacts, ResultsTable, WriteResult
from catdog.s3_events import ObjectEvent
from catdog.status import Status

log = logging.getLogger(__name__)

GONE, IGNORED = "gone", "ignored"  # why an outcome writes nothing
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


@dataclass
class Outcome:
    """What became of one object event. Exactly one of `status`, `skipped` and `retry` is set."""

    event: ObjectEvent
    status: Status | None = None
    skipped: str | None = None
    retry: BaseException | None = None
    facts: ImageFacts | None = None
    image: PreprocessedImage | None = None
    prediction: Prediction | None = None
    error: str | None = None
    reason: str | None = None

    @property
    def kind(self) -> str:
        """One word for logs and the direct-invoke response: the status, the skip reason or `retry`."""
        if self.retry is not None:
            return "retry"
        return str(self.status or self.skipped)


@dataclass
class BatchResult:
    """Per SQS message id (or one pseudo-id for a direct S3 event): its outcomes, in event order."""

    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    model: LoadedModel | None = None
    model_loaded_now: bool = False
    inference_seconds: float = 0.0
    classified: int = 0

    @property
    def model_version(self) -> str | None:
        return self.model.version if self.model else None


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

    def classify(self, messages: Mapping[str, Sequence[ObjectEvent]]) -> BatchResult:
        """Outcomes for every event of every message; images of all messages share one model call."""
        result = BatchResult({mid: [self._initial(e) for e in events] for mid, events in messages.items()})
        created = [o for outcomes in result.outcomes.values() for o in outcomes if o.event.is_creation]
        if not created:
            return result
        try:
            served = self.store.get()
        except Exception as exc:  # no model / corrupt model / S3 down: every image goes back
            log.error("cannot load the model, %d image(s) will be retried: %s", len(created), exc)
            for o in created:
                o.retry = exc
            return result
        result.model, result.model_loaded_now = served.model, served.loaded_now
        for o in created:
            with self.key_scope(o.event):
                self._prepare(o, served.model)
        ready = [o for o in created if o.image is not None]
        if not ready:
            return result
        started = time.perf_counter()
        try:
            predictions = served.model.classifier.classify([o.image.pixels for o in ready])  # type: ignore[union-attr]
        except Exception as exc:
            log.error("inference failed for %d image(s), will be retried: %s", len(ready), exc)
            for o in ready:
                o.retry = exc
            return result
        for o, prediction in zip(ready, predictions, strict=True):
            o.status, o.prediction = Status.CLASSIFIED, prediction
        result.inference_seconds = time.perf_counter() - started
        result.classified = len(ready)
        return result

    @staticmethod
    def _initial(event: ObjectEvent) -> Outcome:
        if event.is_removal:
            return Outcome(event, status=Status.DELETED)
        if not event.is_creation:
            return Outcome(event, skipped=IGNORED)
        return Outcome(event)  # decided once the image is read

    def _prepare(self, o: Outcome, model: LoadedModel) -> None:
        try:
            data, o.facts = self.reader.read(o.event)
            image = preprocess_image(data, model.manifest.input_size, max_pixels=self.max_image_pixels)
        except BadInputError as exc:
            o.status, o.error, o.reason = Status.FAILED, str(exc), exc.reason
            log.warning("bad input, recorded as failed: %s", exc)
            return
        except ClientError as exc:
            if _is_missing(exc):
                o.skipped = GONE
                log.info("object deleted before it was read; nothing to classify")
                return
            o.retry = exc
            log.warning("transient error reading the image, will be retried: %s", exc)
            return
        except Exception as exc:  # timeouts, connection errors, MemoryError...: retry
            o.retry = exc
            log.warning("error reading the image, will be retried: %s", exc)
            return
        o.image = image
        o.facts = ImageFacts(etag=o.facts.etag, size_bytes=o.facts.size_bytes, width=image.width,
                             height=image.height, format=image.format)

    def write(self, o: Outcome, model_version: str | None) -> WriteResult:
        """Record one outcome; raises (→ the message is retried) on a transient or write error."""
        if o.retry is not None:
            raise o.retry
        if o.status == Status.CLASSIFIED:
            assert o.facts is not None and o.prediction is not None and model_version
            return self.results.put_classified(o.event, o.facts, o.prediction, model_version)
        if o.status == Status.FAILED:
            return self.results.put_failed(o.event, o.error or "unusable input", o.reason or "bad_input",
                                           o.facts, model_version)
        if o.status == Status.DELETED:
            return self.results.mark_deleted(o.event)
        return WriteResult.NOTHING  # gone / ignored
