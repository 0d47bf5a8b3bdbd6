"""The events AWS delivers, built locally: S3 notifications, and Lambda's SQS event source batches.

The handler is tested against these shapes locally and receives the real ones on AWS, so they
must match field for field (names, casing, URL-encoded keys, string-typed attributes, base64
binary values).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

# ------------------------------------------------------------------------------ S3 notifications


def s3_record(bucket: str, key: str, *, event_name: str = "ObjectCreated:Put", size: int | None = None,
              etag: str | None = None, sequencer: str | None = None, region: str = "us-east-1",
              principal: str = "catdog", now: datetime | None = None) -> dict[str, Any]:
    """One record of an S3 event notification, as S3 writes it (the key URL-encoded, `+` for spaces)."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if size is not None:
        obj["size"] = int(size)
    if etag:
        obj["eTag"] = etag.strip('"')
    if sequencer:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": when,
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": principal,
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": principal},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }


def s3_notification(*records: dict[str, Any]) -> str:
    """The body S3 puts on the queue: `{"Records": [...]}` as JSON text."""
    return json.dumps({"Records": list(records)})


# ------------------------------------------------------------------- the SQS event source mapping

#: The system attributes Lambda copies into `Records[].attributes` (as strings).
SYSTEM_ATTRIBUTES: tuple[str, ...] = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
)


def queue_region(queue_arn: str, default: str = "us-east-1") -> str:
    """`arn:aws:sqs:<region>:<account>:<name>` -> region."""
    parts = queue_arn.split(":")
    return parts[3] if len(parts) > 5 and parts[3] else default


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's `{StringValue, BinaryValue, DataType}` -> Lambda's camelCase, binary as base64 text."""
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes | bytearray) else binary,
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [
            base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v
            for v in value.get("BinaryListValues", [])
        ],
        "dataType": value.get("DataType", "String"),
    }


def to_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: str(attributes[k]) for k in SYSTEM_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _message_attribute(v) for name, v in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_region(queue_arn),
    }


def to_event(messages: Iterable[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [to_record(m, queue_arn) for m in messages]}


def failed_message_ids(response: Any, message_ids: list[str]) -> set[str]:
    """Which messages to keep, read the way Lambda reads a `ReportBatchItemFailures` response.

    A missing/None response or an empty list means all succeeded. A malformed response, or an
    itemIdentifier that is not in the batch, fails the whole batch -- as Lambda does.
    """
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        return set()  # Lambda ignores a non-object response: the batch succeeded
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    ids: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not ident or ident not in message_ids:
            return set(message_ids)
        ids.add(ident)
    return ids
