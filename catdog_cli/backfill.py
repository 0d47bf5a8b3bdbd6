"""`catdog backfill s3://bucket/prefix`: queue every existing image again, e.g. after a new model.

Each image becomes one SQS message shaped like the S3 notification the bucket would have sent for
it (minus the sequencer, so the new answer replaces the old one). The handler needs no second code
path, and the worker or Lambda treat it like any upload (same retries, same DLQ).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from catdog.s3uri import S3Uri

#: The suffixes the template's notification forwards (case-insensitively, as it lists both cases).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".gif", ".webp")
BACKFILL_EVENT_NAME = "ObjectCreated:Put"
SQS_BATCH = 10


def is_image_key(key: str) -> bool:
    return key.lower().endswith(IMAGE_SUFFIXES)


def s3_event_body(bucket: str, obj: dict[str, Any], region: str, now: datetime | None = None) -> str:
    """The body S3 itself puts on the queue for one created object (keys URL-encoded, as S3 does)."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": when,
        "eventName": BACKFILL_EVENT_NAME,
        "userIdentity": {"principalId": "catdog-backfill"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "catdog-backfill",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "catdog"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": quote_plus(obj["Key"], safe="/"),
                "size": int(obj.get("Size", 0)),
                "eTag": str(obj.get("ETag", "")).strip('"'),
                # No sequencer on purpose: the handler only overwrites an item when the new event's
                # sequencer is higher, and a backfill exists to overwrite (e.g. with a new model).
            },
        },
    }
    return json.dumps({"Records": [record]})


def list_images(s3: Any, uri: S3Uri) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.key):
        for obj in page.get("Contents", []):
            if is_image_key(obj["Key"]):
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
