"""Turn SQS `ReceiveMessage` output into the event Lambda's SQS event source mapping delivers.

The handler is tested against this shape locally and receives the real one on AWS, so the two
must match field for field (names, casing, string-typed attributes, base64 binary values).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

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
