"""`catdog backfill`: every existing image under the prefix is queued once, as an S3-shaped event."""

from __future__ import annotations

import boto3
import pytest

from catdog.s3_events import events_from_sqs_body
from catdog.s3uri import S3Uri
from catdog_cli.backfill import backfill
from catdog_cli.main import main
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.aws import drain

#: A "folder" marker some consoles create (zero bytes): not an object to classify.
FOLDER = "uploads/folder/"
KEYS = [
    "uploads/a.jpg", "uploads/sub dir/b+1.PNG", "uploads/ü/c.webp", "uploads/notes.txt", "other/d.jpg",
    FOLDER, "uploads/cat.jpg/",  # the second has bytes in it: an upload, whatever its name
    *(f"uploads/many/{i:02d}.jpg" for i in range(23)),  # more than one SendMessageBatch of 10
]


@pytest.fixture
def objects(stack: Stack) -> Stack:
    s3 = boto3.client("s3", region_name=REGION)
    for key in KEYS:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=b"" if key == FOLDER else b"x" * 7)
    drain(stack.queue_url)  # the uploads' own notifications
    return stack


def test_every_object_under_the_prefix_is_queued_once(objects: Stack) -> None:
    report = backfill(boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION),
                      S3Uri.parse(f"s3://{objects.bucket}/uploads/"), objects.queue_url, region=REGION,
                      progress=False)
    events = [e for body in drain(objects.queue_url) for e in events_from_sqs_body(body)]
    expected = {k for k in KEYS if k.startswith("uploads/") and k != FOLDER}
    assert report.queued == len(expected) and report.failed == {}
    assert sorted(e.key for e in events) == sorted(expected)  # once each, odd names decoded
    assert all(e.bucket == objects.bucket and e.is_creation and e.size == 7 for e in events)


def test_cli_backfill_of_a_narrower_prefix(objects: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"s3://{objects.bucket}/uploads/sub"
    code = main(["backfill", uri, "--queue-url", objects.queue_url, "--quiet"])
    assert code == 0
    keys = [e.key for body in drain(objects.queue_url) for e in events_from_sqs_body(body)]
    assert keys == ["uploads/sub dir/b+1.PNG"]
    assert "queued 1 object from" in capsys.readouterr().out


def test_an_empty_prefix_queues_nothing(objects: Stack) -> None:
    report = backfill(boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION),
                      S3Uri.parse(f"s3://{objects.bucket}/nothing-here/"), objects.queue_url, region=REGION,
                      progress=False)
    assert report.queued == 0
    assert drain(objects.queue_url) == []
