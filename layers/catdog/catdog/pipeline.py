"""One invocation's work: read every image, decode it in the sandbox, classify them in ONE LiteRT call.

What becomes of each object event is decided here, per message, and written by
`results.ResultsTable`:
- an item with a `Status`: `classified`, `failed` (the input's fault: `BadInputError`, never
  retried) or `deleted` (only once a HEAD confirmed the object is gone);
- nothing, with a `skipped` reason: `gone` (the object is not there: deleted before we read it, or
  never existed), `exists` (a removal event for an object that is still there) or `ignored` (not
  ours: another bucket, a key outside the upload prefix, a folder marker, an event type we do not
  handle);
- `retry`: anything else (throttling, 5xx, timeouts, AccessDenied, no model, the decoder process
  failing, too little time left) is kept as the exception so that the message goes back to the
  queue instead of a verdict being recorded.

The event only says which object to look at; the object itself (HEAD/GET) decides what is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from catdog.classifier import Prediction
from catdog.errors import BadInputError
from catdog.model_repo import LoadedModel
from catdog.model_store import ModelStore
from catdog.preprocess import PreprocessedImage, preprocess_image
from catdog.results import ImageFacts, ResultsTable, WriteResult, utc_now
from catdog.s3_events import ObjectEvent
from catdog.status import Status

log = logging.getLogger(__name__)

GONE, EXISTS, IGNORED = "gone", "exists", "ignored"  # why an outcome writes nothing
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
#: GetObject's answer for an object in an archive storage class (or archive access tier).
_ARCHIVED_CODE = "InvalidObjectState"
#: HEAD/GET of an object encrypted with a customer-provided key (SSE-C), sent without that key:
#: 400 Bad Request (HEAD has no body, so its code is the bare status).
_NEEDS_CUSTOMER_KEY_CODES = {"400", "BadRequest", "InvalidRequest"}


class DeadlineError(RuntimeError):
    """Too little of the invocation's time is left to decode one more image safely: retry it later."""


class Decoder(Protocol):
    """What decodes an upload into model input (the sandbox on Lambda; in-process in some tools)."""

    def preprocess(self, data: bytes, size: tuple[int, int], max_pixels: int) -> PreprocessedImage: ...


class InProcessDecoder:
    """`preprocess_image` in this process: for trusted inputs and tests, never for the Lambda."""

    def preprocess(self, data: bytes, size: tuple[int, int], max_pixels: int) -> PreprocessedImage:
        return preprocess_image(data, size, max_pixels=max_pixels)


@dataclass(frozen=True)
class Scope:
    """The objects this function answers for: its upload bucket and prefix."""

    bucket: str
    prefix: str

    def why_not_ours(self, event: ObjectEvent) -> str | None:
        if event.bucket != self.bucket:
            return f"bucket {event.bucket!r} is not the upload bucket"
        if not event.key.startswith(self.prefix):
            return f"key is outside {self.prefix!r}"
        if event.key.endswith("/") and not event.is_creation:
            # An upload under such a key is read like any other (see ClassifyBatch._prepare); only
            # its zero-byte form, a console folder, is a folder marker.
            return "a folder marker, not an object"
        return None


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


def _needs_customer_key(size: int | None, observed_at: str) -> BadInputError:
    return RefusedObject("S3 refused to read this object (400 Bad Request): an upload encrypted with a "
                         "customer-provided key (SSE-C) cannot be read by the function", "unreadable",
                         ImageFacts(etag=None, size_bytes=size, observed_at=observed_at))


class ImageReader:
    """HEAD (size cap) then GET, with the cap enforced again on the bytes actually read. The facts
    describe the bytes read: the GET's own ETag, and the time just before the GET was sent."""

    def __init__(self, s3: Any, max_object_bytes: int) -> None:
        self.s3 = s3
        self.max_object_bytes = max_object_bytes

    def _too_large(self, size: int, facts: ImageFacts) -> BadInputError:
        cap = self.max_object_bytes
        return RefusedObject(
            f"object is {_bytes_text(size)}, over the {_bytes_text(cap)} cap (MAX_OBJECT_BYTES={cap})",
            "too_large", facts)

    def read(self, event: ObjectEvent) -> tuple[bytes, ImageFacts]:
        cap = self.max_object_bytes
        observed_at = utc_now()
        try:
            head = self.s3.head_object(Bucket=event.bucket, Key=event.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") not in _NEEDS_CUSTOMER_KEY_CODES:
                raise
            # S3 answers 400 (not 403, not 5xx) when the object needs a key only its uploader has
            # (SSE-C): no retry will read it, so it is a verdict, not a trip through the DLQ.
            raise _needs_customer_key(None, observed_at) from exc
        size = int(head.get("ContentLength", 0))
        if size > cap:
            etag = str(head.get("ETag") or "").strip('"') or None
            raise self._too_large(size, ImageFacts(etag=etag, size_bytes=size, observed_at=observed_at))
        observed_at = utc_now()
        try:
            response = self.s3.get_object(Bucket=event.bucket, Key=event.key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _NEEDS_CUSTOMER_KEY_CODES:
                raise _needs_customer_key(size, observed_at) from exc
            if code != _ARCHIVED_CODE:
                raise
            # The uploader chose an archive storage class (GLACIER, DEEP_ARCHIVE...): no retry can
            # read it until someone restores it, so it is a verdict, not a reason to retry into the DLQ.
            storage = str(head.get("StorageClass") or "an archive")
            etag = str(head.get("ETag") or "").strip('"') or None
            raise RefusedObject(f"object is in the {storage} storage class and cannot be read until it is "
                                "restored", "archived",
                                ImageFacts(etag=etag, size_bytes=size, observed_at=observed_at)) from exc
        body = response["Body"]
        data = body.read(cap + 1)  # the object may have been replaced by a bigger one since HEAD
        body.close()
        etag = str(response.get("ETag") or head.get("ETag") or "").strip('"') or None
        facts = ImageFacts(etag=etag, size_bytes=len(data), observed_at=observed_at)
        if len(data) > cap:
            raise self._too_large(int(response.get("ContentLength") or len(data)), facts)
        if not data:
            raise RefusedObject("empty file (0 bytes)", "empty", facts)
        return data, facts

    def is_gone(self, event: ObjectEvent) -> tuple[bool, str]:
        """(True if a HEAD finds no object, the time just before asking)."""
        observed_at = utc_now()
        try:
            self.s3.head_object(Bucket=event.bucket, Key=event.key)
        except ClientError as exc:
            if _is_missing(exc):
                return True, observed_at
            raise
        return False, observed_at


class RefusedObject(BadInputError):
    """Refused from what S3 says about the object (too large, empty), with what was seen of it."""

    def __init__(self, message: str, reason: str, facts: ImageFacts) -> None:
        super().__init__(message, reason=reason)
        self.facts = facts


def _bytes_text(n: int) -> str:
    """Bytes in the unit a cap like 20971520 is set in: 20 MiB, not "21.0 MB"."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


TimeLeft = Callable[[], float]  # seconds the invocation has left


class ClassifyBatch:
    """Read + decode every created object, one batched classify, then write the answers."""

    def __init__(self, reader: ImageReader, store: ModelStore, results: ResultsTable,
                 max_image_pixels: int, *, decoder: Decoder | None = None, scope: Scope | None = None,
                 key_scope: KeyScope = _no_scope, reserve_seconds: float = 10.0) -> None:
        self.reader = reader
        self.store = store
        self.results = results
        self.max_image_pixels = max_image_pixels
        self.decoder: Decoder = decoder or InProcessDecoder()
        self.scope = scope
        self.key_scope = key_scope
        #: Decoding stops (and the rest of the batch is retried) when less time than this is left.
        self.reserve_seconds = reserve_seconds

    def classify(self, messages: Mapping[str, Sequence[ObjectEvent]],
                 time_left: TimeLeft | None = None) -> BatchResult:
        """Outcomes for every event of every message; images of all messages share one model call."""
        result = BatchResult({mid: [self._initial(e) for e in events] for mid, events in messages.items()})
        pending = [o for outcomes in result.outcomes.values() for o in outcomes if o.status is None
                   and o.skipped is None]
        for o in (o for o in pending if o.event.is_removal):
            with self.key_scope(o.event):
                self._verify_removal(o)
        created = [o for o in pending if o.event.is_creation]
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
        read: dict[tuple[str, str], Outcome] = {}
        for o in created:
            with self.key_scope(o.event):
                first = read.setdefault((o.event.bucket, o.event.key), o)
                if first is not o:
                    # The same object named again (ten records of one forged message, or two events
                    # for one key): read and decoded once per batch, so that repeating a CPU bomb's
                    # key cannot spend the batch-mates' time.
                    o.status, o.skipped, o.retry = first.status, first.skipped, first.retry
                    o.facts, o.image, o.error, o.reason = first.facts, first.image, first.error, first.reason
                    continue
                if time_left is not None and time_left() < self.reserve_seconds:
                    o.retry = DeadlineError(f"less than {self.reserve_seconds:g} s of the invocation left")
                    log.warning("not enough time left to decode this image; it will be retried")
                    continue
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

    def _initial(self, event: ObjectEvent) -> Outcome:
        if not (event.is_removal or event.is_creation):
            # Logged like every other ignored event: a restore, tagging or ACL event (or a forged
            # one) must leave a trace, not vanish.
            name = event.event_name if len(event.event_name) <= 80 else event.event_name[:80] + "…"
            log.warning("event %r for %s ignored: not an event type this function handles", name, event.uri)
            return Outcome(event, skipped=IGNORED)
        why = self.scope.why_not_ours(event) if self.scope else None
        if why:
            log.warning("event for %s ignored: %s", event.uri, why)
            return Outcome(event, skipped=IGNORED)
        return Outcome(event)  # decided once the object is looked at

    def _verify_removal(self, o: Outcome) -> None:
        """A tombstone only for an object a HEAD confirms is gone: a forged or stale ObjectRemoved
        must not hide an object that is there."""
        try:
            gone, observed_at = self.reader.is_gone(o.event)
        except Exception as exc:
            o.retry = exc
            log.warning("could not check the removed object, will be retried: %s", exc)
            return
        if gone:
            o.status = Status.DELETED
            o.facts = ImageFacts(etag=None, size_bytes=None, observed_at=observed_at)
        else:
            o.skipped = EXISTS
            log.warning("removal event for an object that still exists: ignored")

    def _prepare(self, o: Outcome, model: LoadedModel) -> None:
        try:
            data, o.facts = self.reader.read(o.event)
            image = self.decoder.preprocess(data, model.manifest.input_size, self.max_image_pixels)
        except RefusedObject as exc:
            if exc.reason == "empty" and o.event.key.endswith("/"):
                # A folder marker is a zero-byte key ending in '/'. Judged by what S3 holds, not by
                # the name: `uploads/cat.jpg/` with a photo in it is an upload and gets its item.
                o.skipped = IGNORED
                log.info("a folder marker (zero bytes under a key ending in '/'): ignored")
                return
            o.status, o.error, o.reason, o.facts = Status.FAILED, str(exc), exc.reason, exc.facts
            log.warning("bad input, recorded as failed: %s", exc)
            return
        except BadInputError as exc:
            o.status, o.error, o.reason = Status.FAILED, str(exc), exc.reason
            log.warning("bad input, recorded as failed: %s", exc)
            return
        except ClientError as exc:
            if _is_missing(exc):
                o.skipped = GONE
                log.info("object not found (deleted since the event, or never uploaded); nothing to classify")
                return
            o.retry = exc
            log.warning("transient error reading the image, will be retried: %s", exc)
            return
        except Exception as exc:  # timeouts, connection errors, the decoder process failing...: retry
            o.retry = exc
            log.warning("error reading the image, will be retried: %s", exc)
            return
        o.image = image
        facts = o.facts
        o.facts = ImageFacts(etag=facts.etag, size_bytes=facts.size_bytes, width=image.width,
                             height=image.height, format=image.format, observed_at=facts.observed_at)

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
            assert o.facts is not None and o.facts.observed_at
            return self.results.mark_deleted(o.event, o.facts.observed_at)
        return WriteResult.NOTHING  # gone / exists / ignored
