"""Fake AWS for tests: credentials no account accepts, a region, and the only endpoint boto3 may use."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

#: What boto3 needs to sign a request; moto (in-process or a local server) accepts anything.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing"}


def fake_aws_env(mp: pytest.MonkeyPatch, region: str, endpoint: str | None = None) -> None:
    """Fake credentials and `region`; `endpoint` (a local stack), or none, so that only moto's
    in-process mock can answer: a test can never reach a real account."""
    for key, value in FAKE_CREDENTIALS.items():
        mp.setenv(key, value)
    mp.setenv("AWS_DEFAULT_REGION", region)
    if endpoint:
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
    else:
        mp.delenv("AWS_ENDPOINT_URL", raising=False)


def drain(url: str, region: str | None = None) -> list[str]:
    """Receive and delete every message on the queue at `url`; their bodies, in the order received."""
    sqs = boto3.client("sqs", region_name=region)
    bodies = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        for message in got:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def scan_all(table: Any) -> list[dict[str, Any]]:
    """Every item of a DynamoDB Table resource, page after page."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
