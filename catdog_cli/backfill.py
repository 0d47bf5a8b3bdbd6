"""`catdog backfill s3://bucket/prefix`: queue every existing image again, e.g. after a new model.

Each image becomes one SQS message shaped like the S3 notification the bucket would have sent for
it (minus the sequencer, so the new answer replaces the old one). The handler needs no second code
path, and the worker or Lambda treat it like any upload (same retries, same DLQ).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tqdm import tqdm

from catdog.config import DEFAULT_UPLOAD_PREFIX
from catdog.plural import plural
from catdog.s3uri import S3Uri
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.targets import ENV_QUEUE_URL, client, connect_for_uri, region_of, resolve_name
from catdog_local.events import s3_notification, s3_record

BACKFILL_EVENT_NAME = "ObjectCreated:Put"
SQS_BATCH = 10


def is_object_key(key: str, size: int = 0) -> bool:
    """Every object is queued, whatever its name (the function reads the content to decide what it
    is, as for an upload); only the zero-byte "folder" markers some tools create are not objects
    (a key ending in '/' with bytes in it is an upload, as the function sees it too)."""
    return bool(key) and not (key.endswith("/") and size == 0)


def s3_event_body(bucket: str, obj: dict[str, Any], region: str, now: datetime | None = None) -> str:
    """The body S3 itself puts on the queue for one created object (`obj` as ListObjectsV2 gives it).

    No sequencer on purpose: a backfill exists to replace the stored answer (e.g. with a new model).
    """
    return s3_notification(s3_record(bucket, obj["Key"], event_name=BACKFILL_EVENT_NAME,
                                     size=int(obj.get("Size", 0)), etag=str(obj.get("ETag", "")),
                                     region=region, principal="catdog-backfill", now=now))


def list_images(s3: Any, uri: S3Uri) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.key):
        for obj in page.get("Contents", []):
            if is_object_key(obj["Key"], int(obj.get("Size", 0))):
                yield obj


@dataclass
class BackfillReport:
    queued: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # key -> SQS error


def send_batches(sqs: Any, queue_url: str, messages: Sequence[tuple[str, str]],
                 sent: Callable[[int], object] | None = None) -> dict[str, str]:
    """Send (name, body) messages, 10 per SendMessageBatch; returns the ones SQS refused (name -> error)."""
    failed: dict[str, str] = {}
    for i in range(0, len(messages), SQS_BATCH):
        chunk = messages[i : i + SQS_BATCH]
        entries = [{"Id": str(n), "MessageBody": body} for n, (_, body) in enumerate(chunk)]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        for failure in response.get("Failed", []):
            failed[chunk[int(failure["Id"])][0]] = failure.get("Message", failure.get("Code", "?"))
        if sent:
            sent(len(chunk))
    return failed


def backfill(
    s3: Any, sqs: Any, uri: S3Uri, queue_url: str, *, region: str, progress: bool = True
) -> BackfillReport:
    """Queue every image under `uri` (10 per SendMessageBatch), with a tqdm bar."""
    objects = list(list_images(s3, uri))
    messages = [(obj["Key"], s3_event_body(uri.bucket, obj, region)) for obj in objects]
    with tqdm(total=len(objects), unit="image", desc="backfill", disable=not progress) as bar:
        failed = send_batches(sqs, queue_url, messages, bar.update)
    return BackfillReport(queued=len(objects) - len(failed), failed=failed)


@dataclass(frozen=True)
class BackfillTarget:
    """What to queue (the objects under `uri`) and where (the function's queue, in `region`)."""

    uri: S3Uri
    queue_url: str
    region: str


def resolve(uri_text: str, queue_url: str | None, stack: str | None) -> BackfillTarget:
    """The objects and the queue a backfill means: a bare bucket is its upload prefix (the whole
    bucket would queue models/... too), and a prefix the function does not classify is refused."""
    uri = S3Uri.parse(uri_text)
    target = resolve_name(queue_url, ENV_QUEUE_URL, "queue_url", "queue", stack)
    connect_for_uri(str(uri), stack)
    prefix = target.state.upload_prefix if target.state else DEFAULT_UPLOAD_PREFIX
    if not uri.key:
        uri = S3Uri(uri.bucket, prefix)
    elif not uri.key.startswith(prefix):
        raise ValueError(f"{uri}: the function classifies only objects under {prefix}; backfill "
                         f"s3://{uri.bucket}/{prefix} or a folder inside it")
    return BackfillTarget(uri, target.name, region_of(target.state))


def run(target: BackfillTarget, *, progress: bool) -> int:
    """`catdog backfill`: queue every object under the target; the exit code."""
    report = backfill(client("s3"), client("sqs"), target.uri, target.queue_url, region=target.region,
                      progress=progress)
    print(f"queued {plural(report.queued, 'object')} from {printable(target.uri)} on {target.queue_url}")
    for key, error in sorted(report.failed.items()):
        print(f"  FAILED {printable(key)}: {printable(error)}", file=sys.stderr)
    return exit_codes.PARTIAL if report.failed else exit_codes.OK
