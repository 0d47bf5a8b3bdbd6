"""Backfill messages must look like S3's own notifications, or the handler would need a second path."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from catdog.s3_events import events_from_sqs_body
from catdog_cli.backfill import is_object_key, s3_event_body

OBJ = {"Key": "uploads/sub dir/blüe dog+1.JPG", "Size": 1234, "ETag": '"abc123"'}


def test_body_round_trips_through_the_handlers_parser() -> None:
    body = s3_event_body("bucket-1", OBJ, "eu-west-1", now=datetime(2026, 11, 27, tzinfo=UTC))
    (event,) = events_from_sqs_body(body)
    assert event.bucket == "bucket-1"
    assert event.key == "uploads/sub dir/blüe dog+1.JPG"  # spaces, '+', unicode survive the encoding
    assert event.is_creation
    assert event.size == 1234
    assert event.etag == "abc123"


def test_key_is_url_encoded_like_s3_and_has_no_sequencer() -> None:
    record = json.loads(s3_event_body("b", OBJ, "us-east-1"))["Records"][0]
    assert record["s3"]["object"]["key"] == "uploads/sub+dir/bl%C3%BCe+dog%2B1.JPG"
    assert "sequencer" not in record["s3"]["object"]  # so the new answer overwrites the old one
    assert record["eventSource"] == "aws:s3" and record["awsRegion"] == "us-east-1"


def test_every_object_is_queued_whatever_its_name_but_folder_markers() -> None:
    """As for uploads: the function decides from the content, so notes.txt gets a `failed` item
    (not_an_image) instead of silently no item at all."""
    assert is_object_key("uploads/a.JPG") and is_object_key("uploads/scan.tif")
    assert is_object_key("uploads/notes.txt") and is_object_key("uploads/jpg")
    assert not is_object_key("uploads/holiday/") and not is_object_key("")
    assert is_object_key("uploads/cat.jpg/", 678), "bytes under a key ending in '/' are an upload"
