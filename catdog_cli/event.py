"""`catdog event s3-put|sqs|remove`: the event S3 (or Lambda's SQS poller) would deliver for an object.

For `sam local invoke -e -` and `catdog invoke -e -`: a fixed sample event names one fixed key, and
after uploading other photos it only ever reports that key as gone. These events are built for
the object you name, with its real size and ETag from a HEAD. Not the `sequencer`: only S3's
notifications carry one (HEAD does not return it), and an invented one could outrank a real
event in the results table; without it the handler treats the event like a backfill.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from catdog.aws_errors import is_not_found
from catdog.s3uri import S3Uri, is_s3
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.targets import ENV_BUCKET, client, region_of, resolve_name
from catdog_local.events import s3_notification, s3_record, to_event

#: The local stack's account (moto's default), for a queue ARN when no stack names one.
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_QUEUE_NAME = "catdog-images"


@dataclass(frozen=True)
class ObjectFacts:
    """What a HEAD says about an object: `exists` False for a 404, `error` when it could not tell."""

    exists: bool
    size: int | None = None
    etag: str | None = None
    error: str | None = None


def head_object(s3: Any, bucket: str, key: str) -> ObjectFacts:
    """HEAD the object; never raises (an event can still be made without size and ETag)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if is_not_found(exc):
            return ObjectFacts(exists=False)
        return ObjectFacts(exists=False, error=f"{type(exc).__name__}: {exc}")
    etag = str(head.get("ETag", "")).strip('"')
    return ObjectFacts(exists=True, size=int(head["ContentLength"]), etag=etag)


def put_record(bucket: str, key: str, facts: ObjectFacts, region: str) -> dict[str, Any]:
    return s3_record(bucket, key, event_name="ObjectCreated:Put", size=facts.size, etag=facts.etag,
                     region=region)


def remove_record(bucket: str, key: str, region: str) -> dict[str, Any]:
    """S3's removal notifications carry the key (and sequencer) only: no size, no ETag."""
    return s3_record(bucket, key, event_name="ObjectRemoved:Delete", region=region)


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    """A direct S3 trigger's event: `{"Records": [...]}`."""
    return {"Records": list(records)}


def sqs_event(records: list[dict[str, Any]], queue_arn: str, now_ms: int | None = None) -> dict[str, Any]:
    """Lambda's SQS event source batch, one message per S3 notification (as `catdog local worker` does)."""
    sent = str(now_ms if now_ms is not None else int(time.time() * 1000))
    messages = []
    for record in records:
        body = s3_notification(record)
        messages.append({
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"local-{uuid.uuid4()}",
            "Body": body,
            "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": sent,
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": sent},
        })
    return to_event(messages, queue_arn)


def default_queue_arn(region: str) -> str:
    return f"arn:aws:sqs:{region}:{DEFAULT_ACCOUNT}:{DEFAULT_QUEUE_NAME}"


def to_json(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2)


EVENT_KINDS = ("s3-put", "sqs", "remove")


def run(kind: str, names: Sequence[str], *, bucket: str | None, queue_arn: str | None,
        stack: str | None) -> int:
    """Print the event on stdout (for `sam local invoke -e -` / `catdog invoke -e -`), notes on stderr."""
    event, notes = make_event(kind, names, bucket=bucket, queue_arn=queue_arn, stack=stack)
    for note in notes:
        print(f"catdog event: {printable(note)}", file=sys.stderr)
    print(to_json(event))
    return exit_codes.OK


def make_event(kind: str, names: Sequence[str], *, bucket: str | None = None,
               queue_arn: str | None = None, stack: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """(event, notes): `names` are keys in `bucket` (flag > $CATDOG_BUCKET > the local stack) or
    s3://BUCKET/KEY URIs. Notes say what the event cannot promise (a missing object, no HEAD)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; choose from {', '.join(EVENT_KINDS)}")
    state = None
    objects: list[tuple[str, str]] = []
    for name in names:
        if is_s3(name):
            uri = S3Uri.parse(name)
            objects.append((uri.bucket, uri.key))
            continue
        if bucket is None:
            target = resolve_name(None, ENV_BUCKET, "bucket", "bucket", stack)  # may point boto3 at the stack
            bucket, state = target.name, target.state
        objects.append((bucket, name))
    region = region_of(state)
    if kind == "remove":
        return s3_event(*(remove_record(b, k, region) for b, k in objects)), []
    notes: list[str] = []
    s3 = client("s3", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2}))
    records = []
    for b, k in objects:
        facts = head_object(s3, b, k)
        if facts.error:
            notes.append(f"could not HEAD s3://{b}/{k} ({facts.error}); size and eTag left out")
        elif not facts.exists:
            notes.append(f"s3://{b}/{k} does not exist: the handler will count it as gone")
        records.append(put_record(b, k, facts, region))
    if kind == "sqs":
        arn = queue_arn or (state.queue_arn if state else default_queue_arn(region))
        return sqs_event(records, arn), notes
    return s3_event(*records), notes
