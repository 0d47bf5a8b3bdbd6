"""`catdog event`'s shapes are what the handler parses, and `catdog invoke` notices an all-gone answer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from catdog.batch_processor import is_sqs_event
from catdog.s3_events import events_from_sqs_body, object_events
from catdog_cli.event import ObjectFacts, put_record, remove_record, s3_event, sqs_event
from catdog_cli.invoke import all_gone, all_gone_message

BUCKET = "catdog-images-123456789012-us-east-1"


def test_s3_put_event_carries_the_key_size_and_etag_the_handler_reads() -> None:
    facts = ObjectFacts(exists=True, size=1234, etag="abc123")
    event = s3_event(put_record(BUCKET, "uploads/holiday pics/rød+kat.jpg", facts, "eu-west-1"))

    (parsed,) = object_events(event)
    assert (parsed.bucket, parsed.key) == (BUCKET, "uploads/holiday pics/rød+kat.jpg")
    assert parsed.is_creation
    obj = event["Records"][0]["s3"]["object"]
    assert (obj["size"], obj["eTag"]) == (1234, "abc123")
    assert "sequencer" not in obj, "HEAD has no sequencer; an invented one could outrank a real event"
    assert event["Records"][0]["awsRegion"] == "eu-west-1"
    assert not is_sqs_event(event)


def test_an_event_for_a_missing_object_has_no_size() -> None:
    obj = put_record(BUCKET, "uploads/nope.jpg", ObjectFacts(exists=False), "us-east-1")["s3"]["object"]
    assert "size" not in obj and "eTag" not in obj


def test_remove_event_is_a_removal() -> None:
    (parsed,) = object_events(s3_event(remove_record(BUCKET, "uploads/cat.jpg", "us-east-1")))
    assert parsed.is_removal and parsed.key == "uploads/cat.jpg"


def test_sqs_event_is_one_message_per_record_shaped_like_lambdas() -> None:
    records = [put_record(BUCKET, k, ObjectFacts(exists=True, size=1, etag="e"), "us-east-1")
               for k in ("uploads/a.jpg", "uploads/b c.png")]
    event = sqs_event(records, "arn:aws:sqs:us-east-1:123456789012:catdog-images", now_ms=1700000000000)

    assert is_sqs_event(event)
    assert [e.key for r in event["Records"] for e in events_from_sqs_body(r["body"])] == \
        ["uploads/a.jpg", "uploads/b c.png"]
    first = event["Records"][0]
    assert first["md5OfBody"] == hashlib.md5(first["body"].encode(), usedforsecurity=False).hexdigest()
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert first["attributes"]["SentTimestamp"] == "1700000000000"
    assert len({r["messageId"] for r in event["Records"]}) == 2
    json.dumps(event)  # printable as is


def test_all_gone_only_when_every_counted_object_was_gone() -> None:
    assert all_gone({"model_version": "v1", "gone": 2}) == 2
    assert all_gone({"model_version": "v1", "gone": 1, "classified": 1}) == 0
    assert all_gone({"model_version": "v1", "classified": 1}) == 0
    assert all_gone({"batchItemFailures": []}) == 0
    assert all_gone({"ignored": "s3:TestEvent"}) == 0
    assert all_gone(None) == 0
    assert "catdog event s3-put KEY" in all_gone_message(1)
    assert "none of the 3 objects" in all_gone_message(3)


def test_shipped_sample_events_are_found_by_name_from_any_directory(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from catdog_local.resources import EVENTS_DIR, event_file

    monkeypatch.chdir(tmp_path)  # no events/ here
    assert event_file("events/s3-put.json") == EVENTS_DIR / "s3-put.json"
    assert event_file("sqs-s3.json") == EVENTS_DIR / "sqs-s3.json"
    assert event_file("events/nope.json") == Path("events/nope.json")  # "not found" names what was given
    assert event_file("elsewhere/s3-put.json") == Path("elsewhere/s3-put.json")
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "s3-put.json").write_text("{}")
    assert event_file("events/s3-put.json") == Path("events/s3-put.json")  # the user's own file wins
