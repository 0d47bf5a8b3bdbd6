"""Parsing the event shapes the classify function receives, and its settings (no I/O)."""

from __future__ import annotations

import json

import pytest

from catdog.config import ConfigError, Settings
from catdog.s3_events import (
    MalformedMessageError,
    events_from_sqs_body,
    is_test_event,
    normalize_sequencer,
    object_events,
)
from tests.support.paths import REPO


def test_sam_s3_put_event_decodes_the_key_and_keeps_the_sequencer() -> None:
    event = json.loads((REPO / "events" / "s3-put.json").read_text())
    (obj,) = object_events(event)
    assert obj.key == "uploads/my cat.jpg"  # '+' is a space in S3 notifications
    assert obj.uri == f"s3://{obj.bucket}/uploads/my cat.jpg"
    assert obj.is_creation and not obj.is_removal
    assert obj.sequencer == normalize_sequencer("0A1B2C3D4E5F678901")


def test_sqs_file_holds_three_images_and_one_test_event() -> None:
    event = json.loads((REPO / "events" / "sqs-s3.json").read_text())
    parsed = [events_from_sqs_body(r["body"]) for r in event["Records"]]
    assert [len(p) for p in parsed] == [1, 1, 1, 0]
    assert parsed[2][0].key == "uploads/holiday photos/IMG_0001.PNG"
    assert is_test_event(json.loads(event["Records"][3]["body"]))


@pytest.mark.parametrize("older, newer", [("FF", "0100"), ("0A", "0B"), ("9", "0000A"), ("00ff", "100")])
def test_padded_sequencers_order_like_hex_numbers(older: str, newer: str) -> None:
    a, b = normalize_sequencer(older), normalize_sequencer(newer)
    assert a is not None and b is not None
    assert a < b
    assert int(older, 16) < int(newer, 16)


def test_unusable_sequencers_are_treated_as_absent() -> None:
    assert normalize_sequencer(None) is None
    assert normalize_sequencer("") is None
    assert normalize_sequencer("not-hex") is None


#: A record naming `key` exactly as it stands (already URL-encoded, or not text at all).
def _body_for_key(key: str) -> str:
    return json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                    "s3": {"bucket": {"name": "bkt"}, "object": {"key": key}}}]})


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"hello": "world"}),
                                  json.dumps({"Records": [{"eventSource": "aws:sns"}]}),
                                  # nested past the recursion limit: json raises RecursionError
                                  "[" * 100_000, '{"Records": [' + "{}," * 3 + "[" * 100_000,
                                  json.dumps({"Type": "Notification", "Message": '{"a":' * 50_000}),
                                  # keys that are not UTF-8 name no S3 object (every S3 call raises)
                                  _body_for_key("uploads/\ud800.jpg"), _body_for_key("uploads/\udcff")])
def test_messages_that_are_not_s3_notifications_are_refused(body: str) -> None:
    with pytest.raises(MalformedMessageError):
        events_from_sqs_body(body)


def test_invalid_percent_escapes_stay_literal_and_bad_utf8_becomes_replacement_characters() -> None:
    """Not what S3 sends, but a key all the same: it names an object that is not there (no item)."""
    (obj,) = events_from_sqs_body(_body_for_key("uploads/%ZZ%25%.jpg"))
    assert obj.key == "uploads/%ZZ%%.jpg"
    (obj,) = events_from_sqs_body(_body_for_key("uploads/%FF%FE.jpg"))
    assert obj.key == "uploads/\ufffd\ufffd.jpg"


def test_removal_event_without_etag_or_size() -> None:
    payload = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
                            "s3": {"bucket": {"name": "bkt"}, "object": {"key": "uploads/a%2Bb.jpg",
                                                                       "sequencer": "01"}}}]}
    (obj,) = object_events(payload)
    assert obj.is_removal and obj.key == "uploads/a+b.jpg"
    assert (obj.etag, obj.size) == (None, None)


def test_settings_from_env_defaults_and_errors() -> None:
    s = Settings.from_env({"RESULTS_TABLE": "t", "MODEL_BUCKET": "b"})
    assert (s.model_key, s.max_object_bytes, s.model_refresh_seconds) == ("models/latest.json", 20 << 20, 300)
    with pytest.raises(ConfigError, match="RESULTS_TABLE"):
        Settings.from_env({"MODEL_BUCKET": "b"})
    with pytest.raises(ConfigError, match="MAX_OBJECT_BYTES"):
        Settings.from_env({"RESULTS_TABLE": "t", "MODEL_BUCKET": "b", "MAX_OBJECT_BYTES": "20MB"})
