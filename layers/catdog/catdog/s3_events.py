"""Typed S3 object events from the three shapes the function receives.

Direct S3 invokes, SQS messages whose body is an S3 notification, and the `s3:TestEvent` S3
sends when a notification is configured all end up here as `ObjectEvent`s (or nothing, for the
test event), built on Powertools' `S3Event`/`SQSRecord` data classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

#: Wide enough for any sequencer S3 emits (they are 16-18 hex digits today).
SEQUENCER_WIDTH = 32


class MalformedMessageError(ValueError):
    """An SQS message that is not an S3 notification: retrying it cannot help."""


def normalize_sequencer(sequencer: str | None) -> str | None:
    """Left-pad with zeros to a fixed width so string order == numeric order.

    AWS: sequencers of different lengths compare correctly only after the shorter one is
    left-padded with zeros; storing the padded, upper-cased form lets DynamoDB's `<` do it.
    """
    if not sequencer:
        return None
    text = sequencer.strip().upper()
    try:
        int(text, 16)
    except ValueError:
        return None  # not hex: unusable for ordering, treat as absent
    return text.rjust(SEQUENCER_WIDTH, "0")


@dataclass(frozen=True)
class ObjectEvent:
    """One S3 object created or removed, key already URL-decoded."""

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
        return self.event_name.startswith("ObjectRemoved")

    @property
    def is_creation(self) -> bool:
        return self.event_name.startswith("ObjectCreated")


def is_test_event(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("Event") == "s3:TestEvent"


def object_events(payload: dict[str, Any]) -> list[ObjectEvent]:
    """Events of an S3 notification (`{"Records": [...]}`); `[]` for `s3:TestEvent`."""
    if is_test_event(payload):
        return []
    if not isinstance(payload, dict) or not isinstance(payload.get("Records"), list):
        raise MalformedMessageError("not an S3 event notification (no Records list)")
    events = []
    for record in S3Event(payload).records:
        if record.get("eventSource") != "aws:s3":
            raise MalformedMessageError(f"record from {record.get('eventSource')!r}, expected aws:s3")
        obj = record.s3.get_object
        raw_size = obj.get("size")
        events.append(
            ObjectEvent(
                bucket=record.s3.bucket.name,
                key=unquote_plus(obj.key),  # keys arrive URL-encoded: a space is '+'
                event_name=record.event_name,
                size=int(raw_size) if raw_size not in (None, "") else None,
                etag=obj.etag or None,
                sequencer=normalize_sequencer(obj.get("sequencer")),
                event_time=record.get("eventTime"),
            )
        )
    return events


def events_from_sqs_body(body: str) -> list[ObjectEvent]:
    try:
        payload = json.loads(body)
    except (TypeError, json.JSONDecodeError) as exc:
        raise MalformedMessageError(f"message body is not JSON: {exc}") from exc
    return object_events(payload)
