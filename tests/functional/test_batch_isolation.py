"""One hostile upload or message must never cost its batch-mates: a batch of 10 where one is hostile
gets the other 9 classified on the FIRST delivery, nothing retried, nothing dead-lettered.

Through the real path: put_object / send_message → SQS → the local event source mapping → the
handler file → the results table (moto in-process, resources from template.yaml). One case of each
class of the hardening issue's list (the decoder tests run every file case; the message list is
run whole, it is cheap).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hostile_corpus import (
    DROPPED,
    HostileCase,
    HostileMessage,
    _record,
    build_corpus,
    build_messages,
)
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.pipeline import Pipeline, moto_pipeline

#: One or more of every class: decompression and CPU bombs, memory bombs, broken and non-image
#: files, conversions that once raised, refused formats, names without a usual suffix, odd keys,
#: an archive storage class.
FILE_CASES = (
    "png_bomb_100k", "progressive_scan_bomb", "jpeg_fill_bytes", "bmp_rle8_bomb", "png_many_chunks",
    "webp_lossless_rgba_49mp", "png_rgba_49mp", "png_50m_by_1", "tiff_rgba_25mp", "zero_bytes",
    "truncated_jpeg", "text_as_jpg", "tiff_la_associated_alpha", "tiff_float", "heic", "avif", "eps",
    "suffix_Jpeg", "suffix_tif", "suffix_bmp", "no_suffix", "key_escape_sequences", "key_1024_bytes",
    "webp_anim_canvas_49mp", "key_trailing_slash", "archived_glacier",
)
#: What a dropped or ignored message leaves in the log (the promise: never silence).
LOGGED = ("dropping a record that is not an S3 object event", "ignored", "object not found")
BY_NAME = {c.name: c for c in build_corpus()}
GOOD = 9


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    model = build_tiny_model_dir(tmp_path_factory.mktemp("model"), version="isolation-v1")
    with moto_pipeline(tmp_path_factory.mktemp("cache")) as p:
        p.publish(model)
        p.drain()  # S3's s3:TestEvent from setting up the notification
        yield p


def _one_delivery(p: Pipeline, prefix: str) -> tuple[object, list[str]]:
    """Nine good photos are queued beside the hostile thing; ONE batch of 10 goes to the handler."""
    good = [f"uploads/{prefix}/good-{i}.jpg" for i in range(GOOD)]
    for key in good:
        p.put(key, jpeg_bytes(color=(220, 30, 30)))
    worker = p.worker(batch_size=10)
    messages = worker.receive_batch()
    assert len(messages) == GOOD + 1, "the test needs all ten in one batch"
    return worker.process(messages), good


def _assert_batch_mates_classified_on_first_delivery(p: Pipeline, result: object, good: list[str]) -> None:
    assert result.failed == 0 and result.handler_error is None, f"something was retried: {result}"  # type: ignore[attr-defined]
    for key in good:
        item = p.item(key)
        assert item is not None and (item["status"], item["label"]) == ("classified", "cat"), key
    assert p.queue_depth() == 0 and p.queue_depth(p.stack.dlq_url) == 0


@pytest.mark.parametrize("name", FILE_CASES)
def test_a_hostile_upload_costs_its_nine_batch_mates_nothing(pipe: Pipeline, name: str) -> None:
    case: HostileCase = BY_NAME[name]
    pipe.put(case.key, case.data, **case.put_args)
    result, good = _one_delivery(pipe, f"file-{name}")
    _assert_batch_mates_classified_on_first_delivery(pipe, result, good)
    item = pipe.item(case.key)
    assert item is not None and case.accepts(item["status"], item.get("reason")), f"{name}: {item}"


@pytest.mark.parametrize("message", build_messages("BUCKET"), ids=lambda m: m.name)
def test_a_malformed_or_foreign_message_costs_its_nine_batch_mates_nothing(
        pipe: Pipeline, message: HostileMessage, caplog: pytest.LogCaptureFixture) -> None:
    body = message.body.replace("BUCKET", pipe.stack.bucket)
    before = pipe.count()
    pipe.sqs.send_message(QueueUrl=pipe.stack.queue_url, MessageBody=body)
    result, good = _one_delivery(pipe, f"msg-{message.name}")
    _assert_batch_mates_classified_on_first_delivery(pipe, result, good)
    assert pipe.count() == before + GOOD, f"{message.name} ({message.expect}) wrote an item"
    logged = [r.getMessage() for r in caplog.records]
    assert any(words in line for line in logged for words in LOGGED), f"{message.name} left no log line"


def test_a_message_the_parser_chokes_on_costs_only_itself(pipe: Pipeline, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Whatever the next parser bug raises, it is raised in Powertools' `_prepare`, where it would
    fail the whole batch: the message is dropped on its own instead."""
    import catdog.batch_processor as processor

    real = processor.parse_sqs_body

    def choke(body: object) -> object:
        if "CHOKE" in str(body):
            raise RuntimeError("a parser bug")
        return real(body)

    monkeypatch.setattr(processor, "parse_sqs_body", choke)
    before = pipe.count()
    pipe.sqs.send_message(QueueUrl=pipe.stack.queue_url, MessageBody='{"CHOKE": 1}')
    result, good = _one_delivery(pipe, "choke")
    _assert_batch_mates_classified_on_first_delivery(pipe, result, good)
    assert pipe.count() == before + GOOD
    assert any("dropping a record" in r.getMessage() for r in caplog.records)


def test_ten_records_naming_one_object_cost_one_decode(pipe: Pipeline,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A forged message can name one object ten times (a CPU bomb's, say): it is decoded once per
    batch, so repeating a key cannot multiply what it costs the batch-mates."""
    key = "uploads/named-ten-times.jpg"
    pipe.put(key, jpeg_bytes(color=(30, 30, 220)))
    pipe.drain()  # its own notification
    sandbox = pipe.app.processor.runtime.sandbox
    decoded: list[int] = []
    real = sandbox.preprocess

    def counting(data: bytes, size: tuple[int, int], max_pixels: int) -> object:
        decoded.append(len(data))
        return real(data, size, max_pixels)

    monkeypatch.setattr(sandbox, "preprocess", counting)
    body = json.dumps({"Records": [_record(pipe.stack.bucket, key)] * 10})
    pipe.sqs.send_message(QueueUrl=pipe.stack.queue_url, MessageBody=body)
    result, good = _one_delivery(pipe, "named-ten-times")
    _assert_batch_mates_classified_on_first_delivery(pipe, result, good)
    assert len(decoded) == GOOD + 1, f"{len(decoded)} decodes for {GOOD} photos + one object named ten times"
    assert (pipe.item(key) or {}).get("status") == "classified"


def test_the_message_list_covers_every_malformation_the_issue_names() -> None:
    names = {m.name for m in build_messages("b-1")}
    assert {"no_s3_block", "records_null", "no_key", "non_numeric_size", "no_event_name", "non_string_key",
            "empty_key", "invalid_bucket", "other_bucket", "outside_uploads"} <= names
    assert sum(m.expect == DROPPED for m in build_messages("b-1")) >= 10


def test_the_pipeline_fixture_really_drops_nothing_it_should_keep(pipe: Pipeline, tmp_path: Path) -> None:
    """Guards the tests above: a good batch of 10 is ten classified items."""
    pipe.put("uploads/guard/extra.jpg", jpeg_bytes())
    result, good = _one_delivery(pipe, "guard")
    _assert_batch_mates_classified_on_first_delivery(pipe, result, good)
    assert (pipe.item("uploads/guard/extra.jpg") or {}).get("status") == "classified"


@pytest.mark.parametrize("operation", ["HeadObject", "GetObject"])
def test_an_upload_encrypted_with_a_customer_key_is_failed_not_dead_lettered(
        pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    """An SSE-C upload: real S3 answers the function's HEAD (or GET) with 400, which no retry can
    change. moto does not enforce customer keys, so S3's answer is played for that one key."""
    from botocore.exceptions import ClientError

    key = f"uploads/sse-c-{operation}.jpg"
    pipe.put(key, jpeg_bytes(color=(30, 220, 30)))
    s3 = pipe.app.processor.runtime.batch.reader.s3
    method = "head_object" if operation == "HeadObject" else "get_object"
    real = getattr(s3, method)

    def refuse(**kw: object) -> object:
        if kw.get("Key") == key:
            code = "400" if operation == "HeadObject" else "InvalidRequest"
            raise ClientError({"Error": {"Code": code, "Message": "Bad Request"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)
        return real(**kw)

    monkeypatch.setattr(s3, method, refuse)
    result, good = _one_delivery(pipe, f"sse-c-{operation}")
    _assert_batch_mates_classified_on_first_delivery(pipe, result, good)
    item = pipe.item(key)
    assert item is not None and (item["status"], item["reason"]) == ("failed", "unreadable"), item
    assert "customer-provided key" in item["error"]
