"""Typed S3 object events from whatever shape a message arrives in, record by record.

Direct S3 invokes, SQS messages whose body is an S3 notification (also wrapped in an SNS envelope,
or an EventBridge "Object Created"/"Object Deleted" event), and the `s3:TestEvent` S3 sends when a
notification is configured all end up here as `ObjectEvent`s.

Nothing in an event is trusted: each record is checked field by field, and a record that is not a
well-formed S3 object event is rejected ON ITS OWN with a reason. A malformed message can never
raise past this module, so it can never cost its batch-mates their classification (an exception
while preparing the batch would send all ten messages back to the queue, and to the DLQ).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

#: Wide enough for any sequencer S3 emits (they are 16-18 hex digits today).
SEQUENCER_WIDTH = 32
#: S3 puts exactly one record in a notification; more than this is not S3's doing.
MAX_RECORDS_PER_MESSAGE = 10
MAX_KEY_BYTES = 1024  # S3's own limit
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
#: Event types that say the object is gone (versioned buckets and lifecycle rules included).
_REMOVAL_PREFIXES = ("ObjectRemoved", "LifecycleExpiration")
#: What `json.loads` raises on text it cannot turn into a payload. RecursionError is not a
#: ValueError: `[[[[...` nested a few thousand deep (a 10 KB body) raises it, and escaping this
#: module it would fail the whole batch. TypeError: an SNS `Message` that is not text.
_JSON_ERRORS = (TypeError, ValueError, RecursionError)
_EVENTBRIDGE_NAMES = {"Object Created": "ObjectCreated:Put", "Object Deleted": "ObjectRemoved:Delete"}


class MalformedMessageError(ValueError):
    """A message or record that is not an S3 object event: retrying it cannot help."""


def normalize_sequencer(sequencer: Any) -> str | None:
    """Left-pad with zeros to a fixed width so string order == numeric order (None if unusable)."""
    if not isinstance(sequencer, str) or not sequencer.strip():
        return None
    text = sequencer.strip().upper()
    if len(text) > SEQUENCER_WIDTH or not re.fullmatch(r"[0-9A-F]+", text):
        return None  # not hex, or longer than S3 emits: unusable for anything, treat as absent
    return text.rjust(SEQUENCER_WIDTH, "0")


@dataclass(frozen=True)
class ObjectEvent:
    """One S3 object created or removed, key already URL-decoded. What the event CLAIMS: the
    pipeline checks the object itself before anything is written."""

    bucket: str
    key: str
    event_name: str
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None  # normalized (see normalize_sequencer)
    event_time: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def is_removal(self) -> bool:
        return self.event_name.startswith(_REMOVAL_PREFIXES)

    @property
    def is_creation(self) -> bool:
        return self.event_name.startswith("ObjectCreated")


@dataclass
class ParsedMessage:
    """The events a message carries, and why any of its records were rejected."""

    events: list[ObjectEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    test_event: bool = False


def is_test_event(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("Event") == "s3:TestEvent"


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedMessageError(f"{what} is missing or not a string")
    return value


def _size(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedMessageError(f"object size {value!r} is not a number")
    try:
        size = int(value)
    except ValueError:
        raise MalformedMessageError(f"object size {value!r} is not a number") from None
    if size < 0:
        raise MalformedMessageError(f"object size {size} is negative")
    return size


def parse_record(record: Any) -> ObjectEvent:
    """One S3 notification record → `ObjectEvent`, or `MalformedMessageError` saying what is wrong."""
    if not isinstance(record, dict):
        raise MalformedMessageError(f"a record is {type(record).__name__}, not an object")
    if record.get("eventSource") != "aws:s3":
        raise MalformedMessageError(f"record from {record.get('eventSource')!r}, expected aws:s3")
    event_name = _text(record.get("eventName"), "eventName")
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise MalformedMessageError("record has no s3 block")
    bucket_block, obj = s3.get("bucket"), s3.get("object")
    if not isinstance(bucket_block, dict) or not isinstance(obj, dict):
        raise MalformedMessageError("record has no s3.bucket or s3.object block")
    bucket = _text(bucket_block.get("name"), "bucket name")
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise MalformedMessageError(f"bucket name {bucket!r} is not a valid S3 bucket name")
    raw_key = _text(obj.get("key"), "object key")
    key = unquote_plus(raw_key)  # keys arrive URL-encoded: a space is '+'
    try:
        # S3 keys are UTF-8. A lone surrogate (`"\\ud800"` in the JSON) names no object and makes
        # every S3 call raise, which would send the message round until it reached the DLQ.
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedMessageError("object key is not valid UTF-8, so it is not an S3 key") from None
    if not key or len(encoded) > MAX_KEY_BYTES:
        raise MalformedMessageError(f"object key of {len(key)} characters is not a valid S3 key")
    etag = obj.get("eTag")
    event_time = record.get("eventTime")
    return ObjectEvent(
        bucket=bucket,
        key=key,
        event_name=event_name,
        size=_size(obj.get("size")),
        etag=etag.strip('"') if isinstance(etag, str) and etag.strip('"') else None,
        sequencer=normalize_sequencer(obj.get("sequencer")),
        event_time=event_time if isinstance(event_time, str) else None,
    )


def _from_eventbridge(payload: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge S3 event → the notification record it stands for."""
    detail = payload.get("detail")
    if not isinstance(detail, dict):
        raise MalformedMessageError("EventBridge event without a detail block")
    name = _EVENTBRIDGE_NAMES.get(str(payload.get("detail-type")))
    if name is None:
        raise MalformedMessageError(f"EventBridge event type {payload.get('detail-type')!r} is not handled")
    found = detail.get("object")
    obj: dict[str, Any] = found if isinstance(found, dict) else {}
    return {"eventSource": "aws:s3", "eventName": name, "eventTime": payload.get("time"),
            "s3": {"bucket": detail.get("bucket"),
                   "object": {"key": obj.get("key"), "size": obj.get("size"), "eTag": obj.get("etag"),
                              "sequencer": obj.get("sequencer")}}}


def parse_payload(payload: Any) -> ParsedMessage:
    """Every record of an S3 notification (or an SNS/EventBridge-wrapped one), each on its own."""
    parsed = ParsedMessage()
    if isinstance(payload, dict) and payload.get("Type") == "Notification" and "Message" in payload:
        try:  # SNS fan-out: S3 → SNS → SQS wraps the notification in an envelope
            payload = json.loads(payload["Message"])
        except _JSON_ERRORS:
            parsed.rejected.append("SNS envelope whose Message is not JSON")
            return parsed
    if is_test_event(payload):
        parsed.test_event = True
        return parsed
    if isinstance(payload, dict) and payload.get("source") == "aws.s3" and "detail-type" in payload:
        try:
            payload = {"Records": [_from_eventbridge(payload)]}
        except MalformedMessageError as exc:
            parsed.rejected.append(str(exc))
            return parsed
    records = payload.get("Records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or not records:
        parsed.rejected.append("not an S3 event notification (no Records list)")
        return parsed
    if len(records) > MAX_RECORDS_PER_MESSAGE:
        parsed.rejected.append(f"{len(records)} records in one message; S3 sends one (at most "
                               f"{MAX_RECORDS_PER_MESSAGE} are accepted)")
        return parsed
    for i, record in enumerate(records):
        try:
            parsed.events.append(parse_record(record))
        except MalformedMessageError as exc:
            parsed.rejected.append(f"record {i}: {exc}")
    return parsed


def parse_sqs_body(body: Any) -> ParsedMessage:
    if not isinstance(body, str | bytes):
        return ParsedMessage(rejected=[f"message body is {type(body).__name__}, not text"])
    try:
        payload = json.loads(body)
    except _JSON_ERRORS as exc:
        return ParsedMessage(rejected=[f"message body is not JSON: {type(exc).__name__}: {exc}"])
    return parse_payload(payload)


def object_events(payload: Any) -> list[ObjectEvent]:
    """Events of an S3 notification; `[]` for `s3:TestEvent`; raises if ANY record is malformed
    (for a direct invoke, where there is no batch to protect and the caller wants to know)."""
    parsed = parse_payload(payload)
    if parsed.rejected:
        raise MalformedMessageError("; ".join(parsed.rejected))
    return parsed.events


def events_from_sqs_body(body: str) -> list[ObjectEvent]:
    """Events of one SQS message body; raises `MalformedMessageError` if any record is malformed."""
    parsed = parse_sqs_body(body)
    if parsed.rejected:
        raise MalformedMessageError("; ".join(parsed.rejected))
    return parsed.events
