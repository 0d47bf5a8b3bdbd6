"""One invocation's work: read every image, decode it in the sandbox, classify them in ONE LiteRT call.

What becomes of each object event is decided here, per message, as one `Outcome`, and written by
`results.ResultsTable`:
- `Classified`, `Failed` (the input's fault: `BadInputError`, never retried) or `Deleted` (only
  once a HEAD confirmed the object is gone): an item with that `Status`;
- `Skipped`, nothing written, for a reason: `gone` (the object is not there: deleted before we read
  it, or never existed), `exists` (a removal event for an object that is still there) or `ignored`
  (not ours: another bucket, a key outside the upload prefix, a folder marker, an event type we do
  not handle);
- `Retry`: anything else (throttling, 5xx, timeouts, AccessDenied, no model, the decoder process
  failing, too little time left), kept as the exception so that the message goes back to the queue
  instead of a verdict being recorded.

The event only says which object to look at; the object itself (HEAD/GET) decides what is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

import numpy as np
from botocore.exceptions import ClientError

from catdog.aws_errors import error_code, is_not_found
from catdog.classifier import Prediction
from catdog.errors import BadInputError
from catdog.model_repo import LoadedModel
from catdog.model_store import ModelStore
from catdog.plural import plural
from catdog.preprocess import PreprocessedImage, preprocess_image
from catdog.results import ImageFacts, ResultsTable, WriteResult, utc_now
from catdog.s3_events import ObjectEvent
from catdog.status import Status

log = logging.getLogger(__name__)

GONE, EXISTS, IGNORED = "gone", "exists", "ignored"  # why an outcome writes nothing
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
class OwnedPrefix:
    """The objects this function answers for: its upload bucket and the key prefix under it."""

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


# -- what became of one object event: exactly one of these ---------------------------------------


@dataclass(frozen=True)
class Classified:
    """The live model's answer, to be recorded with what was read; `pixels` is what the model was
    given, kept for a shadow model (catdog.shadow) to answer on the very same input."""

    event: ObjectEvent
    facts: ImageFacts
    prediction: Prediction
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)
    kind: ClassVar[str] = Status.CLASSIFIED.value


@dataclass(frozen=True)
class Failed:
    """The input's fault (not an image, too large, archived...): recorded, never retried."""

    event: ObjectEvent
    error: str
    reason: str
    facts: ImageFacts | None = None
    kind: ClassVar[str] = Status.FAILED.value


@dataclass(frozen=True)
class Deleted:
    """A removal a HEAD confirmed: recorded as a tombstone."""

    event: ObjectEvent
    observed_at: str
    kind: ClassVar[str] = Status.DELETED.value


@dataclass(frozen=True)
class Skipped:
    """Nothing to record, and why: `gone`, `exists` or `ignored`."""

    event: ObjectEvent
    reason: str

    @property
    def kind(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Retry:
    """A transient error: the message goes back to the queue, nothing is recorded."""

    event: ObjectEvent
    error: BaseException
    kind: ClassVar[str] = "retry"


#: One word for logs and the direct-invoke response (`kind`): the status, the skip reason or `retry`.
Outcome = Classified | Failed | Deleted | Skipped | Retry


@dataclass(frozen=True)
class _Decoded:
    """Read and decoded, waiting for the batch's one classify call (never an outcome itself)."""

    event: ObjectEvent
    facts: ImageFacts
    image: PreprocessedImage


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


#: Tags every log line written inside it with the image the event names.
ImageLogContext = Callable[[ObjectEvent], AbstractContextManager[object]]


@contextmanager
def _no_log_context(_: ObjectEvent) -> Iterator[None]:
    yield


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
            if error_code(exc) not in _NEEDS_CUSTOMER_KEY_CODES:
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
            code = error_code(exc)
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
            if is_not_found(exc):
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
                 max_image_pixels: int, *, decoder: Decoder | None = None, owned: OwnedPrefix | None = None,
                 log_context: ImageLogContext = _no_log_context, reserve_seconds: float = 10.0) -> None:
        self.reader = reader
        self.store = store
        self.results = results
        self.max_image_pixels = max_image_pixels
        self.decoder: Decoder = decoder or InProcessDecoder()
        self.owned = owned
        self.log_context = log_context
        #: Decoding stops (and the rest of the batch is retried) when less time than this is left.
        self.reserve_seconds = reserve_seconds

    def classify(self, messages: Mapping[str, Sequence[ObjectEvent]],
                 time_left: TimeLeft | None = None) -> BatchResult:
        """Outcomes for every event of every message; images of all messages share one model call."""
        events = [e for message in messages.values() for e in message]
        # Index i of `steps` is what is known so far of events[i]: None until it is looked at.
        steps: list[Outcome | _Decoded | None] = [self._not_ours(e) for e in events]
        result = BatchResult()
        for i, event in enumerate(events):
            if steps[i] is None and event.is_removal:
                with self.log_context(event):
                    steps[i] = self._verify_removal(event)
        created = [i for i, event in enumerate(events) if steps[i] is None and event.is_creation]
        if created:
            self._read_and_classify(events, steps, created, result, time_left)
        outcomes = iter(steps)
        result.outcomes = {mid: [_outcome(next(outcomes)) for _ in message]
                           for mid, message in messages.items()}
        return result

    def _read_and_classify(self, events: list[ObjectEvent], steps: list[Outcome | _Decoded | None],
                           created: list[int], result: BatchResult, time_left: TimeLeft | None) -> None:
        try:
            served = self.store.get()
        except Exception as exc:  # no model / corrupt model / S3 down: every image goes back
            log.error("cannot load the model, %s will be retried: %s", plural(len(created), "image"), exc)
            for i in created:
                steps[i] = Retry(events[i], exc)
            return
        result.model, result.model_loaded_now = served.model, served.loaded_now
        first_read: dict[tuple[str, str], int] = {}
        for i in created:
            event = events[i]
            with self.log_context(event):
                first = first_read.setdefault((event.bucket, event.key), i)
                if first != i:
                    # The same object named again (ten records of one forged message, or two events
                    # for one key): read and decoded once per batch, so that repeating a CPU bomb's
                    # key cannot spend the batch-mates' time.
                    earlier = steps[first]
                    assert earlier is not None
                    steps[i] = replace(earlier, event=event)
                    continue
                if time_left is not None and time_left() < self.reserve_seconds:
                    steps[i] = Retry(event, DeadlineError(f"less than {self.reserve_seconds:g} s of the "
                                                          "invocation left"))
                    log.warning("not enough time left to decode this image; it will be retried")
                    continue
                steps[i] = self._prepare(event, served.model)
        ready = [(i, step) for i, step in enumerate(steps) if isinstance(step, _Decoded)]
        if not ready:
            return
        started = time.perf_counter()
        try:
            predictions = served.model.classifier.classify([step.image.pixels for _, step in ready])
        except Exception as exc:
            log.error("inference failed for %s, will be retried: %s", plural(len(ready), "image"), exc)
            for i, step in ready:
                steps[i] = Retry(step.event, exc)
            return
        for (i, step), prediction in zip(ready, predictions, strict=True):
            steps[i] = Classified(step.event, step.facts, prediction, step.image.pixels)
        result.inference_seconds = time.perf_counter() - started
        result.classified = len(ready)

    def _not_ours(self, event: ObjectEvent) -> Skipped | None:
        """`ignored` for an event this function does not handle; None: decided by looking at the object."""
        if not (event.is_removal or event.is_creation):
            # Logged like every other ignored event: a restore, tagging or ACL event (or a forged
            # one) must leave a trace, not vanish.
            name = event.event_name if len(event.event_name) <= 80 else event.event_name[:80] + "…"
            log.warning("event %r for %s ignored: not an event type this function handles", name, event.uri)
            return Skipped(event, IGNORED)
        why = self.owned.why_not_ours(event) if self.owned else None
        if why:
            log.warning("event for %s ignored: %s", event.uri, why)
            return Skipped(event, IGNORED)
        return None

    def _verify_removal(self, event: ObjectEvent) -> Outcome:
        """A tombstone only for an object a HEAD confirms is gone: a forged or stale ObjectRemoved
        must not hide an object that is there."""
        try:
            gone, observed_at = self.reader.is_gone(event)
        except Exception as exc:
            log.warning("could not check the removed object, will be retried: %s", exc)
            return Retry(event, exc)
        if gone:
            return Deleted(event, observed_at)
        log.warning("removal event for an object that still exists: ignored")
        return Skipped(event, EXISTS)

    def _prepare(self, event: ObjectEvent, model: LoadedModel) -> Outcome | _Decoded:
        facts: ImageFacts | None = None
        try:
            data, facts = self.reader.read(event)
            image = self.decoder.preprocess(data, model.manifest.input_size, self.max_image_pixels)
        except RefusedObject as exc:
            if exc.reason == "empty" and event.key.endswith("/"):
                # A folder marker is a zero-byte key ending in '/'. Judged by what S3 holds, not by
                # the name: `uploads/cat.jpg/` with a photo in it is an upload and gets its item.
                log.info("a folder marker (zero bytes under a key ending in '/'): ignored")
                return Skipped(event, IGNORED)
            log.warning("bad input, recorded as failed: %s", exc)
            return Failed(event, str(exc), exc.reason, exc.facts)
        except BadInputError as exc:
            log.warning("bad input, recorded as failed: %s", exc)
            return Failed(event, str(exc), exc.reason, facts)  # the decoder refused the bytes read
        except ClientError as exc:
            if is_not_found(exc):
                log.info("object not found (deleted since the event, or never uploaded); nothing to classify")
                return Skipped(event, GONE)
            log.warning("transient error reading the image, will be retried: %s", exc)
            return Retry(event, exc)
        except Exception as exc:  # timeouts, connection errors, the decoder process failing...: retry
            log.warning("error reading the image, will be retried: %s", exc)
            return Retry(event, exc)
        assert facts is not None
        return _Decoded(event, ImageFacts(etag=facts.etag, size_bytes=facts.size_bytes, width=image.width,
                                          height=image.height, format=image.format,
                                          observed_at=facts.observed_at), image)

    def write(self, outcome: Outcome, model_version: str | None) -> WriteResult:
        """Record one outcome; raises (→ the message is retried) on a transient or write error."""
        match outcome:
            case Retry(error=error):
                raise error
            case Classified(event=event, facts=facts, prediction=prediction):
                assert model_version
                return self.results.put_classified(event, facts, prediction, model_version)
            case Failed(event=event, error=error_text, reason=reason, facts=facts):
                return self.results.put_failed(event, error_text, reason, facts, model_version)
            case Deleted(event=event, observed_at=observed_at):
                return self.results.mark_deleted(event, observed_at)
        return WriteResult.NOTHING  # skipped: gone / exists / ignored


def _outcome(step: Outcome | _Decoded | None) -> Outcome:
    """Every event has an outcome once `classify` is done; anything else is a bug here."""
    assert step is not None and not isinstance(step, _Decoded), step
    return step
