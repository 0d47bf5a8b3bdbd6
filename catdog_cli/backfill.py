"""`catdog backfill s3://bucket/prefix`: queue every existing image again, e.g. after a new model.

Each image becomes one SQS message shaped like the S3 notification the bucket would have sent for
it (minus the sequencer, so the new answer replaces the old one). The handler needs no second code
path, and the worker or Lambda treat it like any upload (same retries, same DLQ).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catdog.s3uri import S3Uri
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


def backfill(
    s3: Any, sqs: Any, uri: S3Uri, queue_url: str, *, region: str, progress: bool = True
) -> BackfillReport:
    """Queue every image under `uri` (10 per SendMessageBatch), with a tqdm bar."""
    from tqdm import tqdm

    report = BackfillReport()
    objects = list(list_images(s3, uri))
    with tqdm(total=len(objects), unit="image", desc="backfill", disable=not progress) as bar:
        for i in range(0, len(objects), SQS_BATCH):
            chunk = objects[i : i + SQS_BATCH]
            entries = [
                {"Id": str(n), "MessageBody": s3_event_body(uri.bucket, obj, region)}
                for n, obj in enumerate(chunk)
            ]
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            report.queued += len(response.get("Successful", []))
            for failure in response.get("Failed", []):
                key = chunk[int(failure["Id"])]["Key"]
                report.failed[key] = failure.get("Message", failure.get("Code", "?"))
            bar.update(len(chunk))
    return report
