"""Faults injected into the real path (moto in-process, resources from template.yaml, the real handler
file, the local worker as Lambda's SQS event source mapping). For each fault we assert what happens
to the message — retried via batchItemFailures, dead-lettered, or recorded as failed — and that at
the end every image has exactly one item: nothing lost, nothing duplicated.

AWS errors are injected at the client's API boundary (`BaseClient._make_api_call`), i.e. what the
application sees after botocore's own retries have given up; moto still serves every other call.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from catdog.manifest import MANIFEST_FILE, TFLITE_FILE, ModelPointer
from catdog_local.lambda_runtime import LambdaContext, load_module
from tests.support.model_factory import build_tiny_model_dir
from tests.support.pipeline import Pipeline, moto_pipeline

RED, BLUE = (220, 30, 30), (30, 60, 220)  # the tiny model says cat for reddish, dog for blue
#: How catdog.results may write an item; the faults target whichever it uses.
TABLE_WRITES = ("PutItem", "UpdateItem")
_original_call = botocore.client.BaseClient._make_api_call


def jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 40), color).save(buf, "JPEG")
    return buf.getvalue()


@dataclass
class Fault:
    service: str
    operations: tuple[str, ...]
    code: str
    status: int
    times: int | None  # None: every time
    when: Callable[[dict[str, Any]], bool]
    fired: int = 0


class Faults:
    """Makes chosen calls fail exactly as AWS reports that error (a ClientError with its code)."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self.hooks: list[Callable[[str, str, dict[str, Any]], None]] = []
        self.lock = threading.Lock()

    def add(self, service: str, operation: str | tuple[str, ...], code: str, status: int, *,
            times: int | None = 1, when: Callable[[dict[str, Any]], bool] = lambda _: True) -> Fault:
        ops = (operation,) if isinstance(operation, str) else operation
        fault = Fault(service, ops, code, status, times, when)
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        self.rules.clear()
        self.hooks.clear()

    def call(self, client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        for hook in list(self.hooks):
            hook(service, operation, params)
        with self.lock:
            for f in self.rules:
                left = f.times is None or f.fired < f.times
                if f.service == service and operation in f.operations and left and f.when(params):
                    f.fired += 1
                    raise ClientError({"Error": {"Code": f.code, "Message": f"injected {f.code}"},
                                       "ResponseMetadata": {"HTTPStatusCode": f.status}}, operation)
        return _original_call(client, operation, params)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    injector = Faults()

    def patched(client: Any, operation: str, params: dict[str, Any]) -> Any:
        return injector.call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", patched)
    return injector


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("model"), version="faults-v1")


@pytest.fixture
def pipe(tmp_path: Path) -> Iterator[Pipeline]:
    with moto_pipeline(tmp_path / "cache") as p:
        p.drain()  # the s3:TestEvent S3 sends when the notification is configured
        yield p


def upload(p: Pipeline, n: int, color: tuple[int, int, int] = RED) -> list[str]:
    keys = [f"uploads/img-{i}.jpg" for i in range(n)]
    for key in keys:
        p.put(key, jpeg(color))
    return keys


def assert_one_classified_item_each(p: Pipeline, keys: list[str], label: str = "cat") -> dict[str, Any]:
    items = p.items()  # raises on a duplicate image
    assert set(items) == {p.uri(k) for k in keys}, "an image was lost or an unexpected one appeared"
    for k in keys:
        item = items[p.uri(k)]
        assert item["status"] == "classified" and item["label"] == label, item
    assert p.queue_depth() == 0 and p.queue_depth(p.stack.dlq_url) == 0
    return items


def redrive_dlq(p: Pipeline) -> int:
    """What `aws sqs start-message-move-task` does: DLQ messages back onto the source queue."""
    moved = 0
    while msgs := p.sqs.receive_message(QueueUrl=p.stack.dlq_url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=0).get("Messages", []):
        for m in msgs:
            p.sqs.send_message(QueueUrl=p.stack.queue_url, MessageBody=m["Body"])
            p.sqs.delete_message(QueueUrl=p.stack.dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    return moved


# ------------------------------------------------------------------------------------------ S3 faults


@pytest.mark.parametrize(("operation", "code", "status"), [
    ("GetObject", "AccessDenied", 403),
    ("HeadObject", "SlowDown", 503),
    ("GetObject", "InternalError", 500),
    ("HeadObject", "ServiceUnavailable", 503),
])
def test_transient_s3_error_retries_only_that_message_then_classifies(
    pipe: Pipeline, faults: Faults, tiny_model: Path, operation: str, code: str, status: int
) -> None:
    pipe.publish(tiny_model)
    keys = upload(pipe, 3)
    fault = faults.add("s3", operation, code, status, times=2, when=lambda prm: prm.get("Key") == keys[1])
    worker = pipe.worker()
    first = worker.process(worker.receive_batch())
    assert (first.received, first.succeeded, first.failed) == (3, 2, 1), "only the faulted message comes back"
    assert pipe.uri(keys[1]) not in pipe.items(), "an AWS error is not the image's fault: no 'failed' item"
    stats = pipe.drain()
    assert fault.fired == 2 and stats.failed == 1 and stats.succeeded == 1
    assert_one_classified_item_each(pipe, keys)


def test_persistent_access_denied_dead_letters_the_message_and_a_redrive_recovers_it(
    pipe: Pipeline, faults: Faults, tiny_model: Path
) -> None:
    pipe.publish(tiny_model)
    keys = upload(pipe, 3)
    fault = faults.add("s3", "GetObject", "AccessDenied", 403, times=None,
                       when=lambda prm: prm["Key"] == keys[0])
    stats = pipe.drain()
    assert stats.failed == pipe.stack.max_receive_count == 5, "delivered maxReceiveCount times, then DLQ"
    assert pipe.queue_depth(pipe.stack.dlq_url) == 1 and pipe.queue_depth() == 0
    assert set(pipe.items()) == {pipe.uri(k) for k in keys[1:]}, "no verdict is invented for the denied one"
    faults.clear()  # the operator fixes the bucket policy...
    assert redrive_dlq(pipe) == 1  # ...and redrives the DLQ
    pipe.drain()
    assert fault.fired == 5
    assert_one_classified_item_each(pipe, keys)


def test_object_deleted_before_it_is_read_leaves_a_deleted_item_not_a_retry(
    pipe: Pipeline, tiny_model: Path
) -> None:
    """NoSuchKey for real: the create event is acknowledged, the remove event writes the tombstone."""
    pipe.publish(tiny_model)
    keys = upload(pipe, 2)
    pipe.s3.delete_object(Bucket=pipe.stack.bucket, Key=keys[0])
    stats = pipe.drain()
    assert stats.failed == 0 and stats.received == 3  # 2 creates + 1 remove, none retried
    items = pipe.items()
    assert items[pipe.uri(keys[0])]["status"] == "deleted" and "label" not in items[pipe.uri(keys[0])]
    assert items[pipe.uri(keys[1])]["status"] == "classified"


def test_injected_no_such_key_is_acknowledged_without_an_item(
    pipe: Pipeline, faults: Faults, tiny_model: Path
) -> None:
    pipe.publish(tiny_model)
    keys = upload(pipe, 2)
    faults.add("s3", "HeadObject", "404", 404, times=1, when=lambda prm: prm["Key"] == keys[0])
    stats = pipe.drain()
    assert stats.failed == 0, "retrying a vanished object cannot help"
    assert set(pipe.items()) == {pipe.uri(keys[1])}


# ------------------------------------------------------------------------------------ DynamoDB faults


def test_dynamodb_throttling_retries_the_messages_and_ends_with_one_item_each(
    pipe: Pipeline, faults: Faults, tiny_model: Path
) -> None:
    pipe.publish(tiny_model)
    keys = upload(pipe, 4)
    fault = faults.add("dynamodb", TABLE_WRITES, "ProvisionedThroughputExceededException", 400, times=3)
    stats = pipe.drain()
    assert fault.fired == 3 and stats.failed == 3
    assert_one_classified_item_each(pipe, keys)


def _s3_message(p: Pipeline, key: str, sequencer: str) -> str:
    record = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
              "eventTime": "2026-11-27T00:00:00.000Z", "eventName": "ObjectCreated:Put",
              "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                     "bucket": {"name": p.stack.bucket, "arn": f"arn:aws:s3:::{p.stack.bucket}"},
                     "object": {"key": key, "size": 1, "eTag": "x", "sequencer": sequencer}}}
    return json.dumps({"Records": [record]})


def _sqs_event(p: Pipeline, body: str, mid: str) -> dict[str, Any]:
    return {"Records": [{"messageId": mid, "receiptHandle": f"rh-{mid}", "body": body,
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": p.stack.queue_arn,
                         "awsRegion": "us-east-1"}]}


def test_conditional_write_race_keeps_the_newest_upload(
    pipe: Pipeline, faults: Faults, tiny_model: Path
) -> None:
    """Two containers race on one key: A read the OLD photo but writes last. The observation
    condition must reject A's stale answer (ConditionalCheckFailed) and acknowledge its message."""
    pipe.publish(tiny_model)
    key = "uploads/race.jpg"
    pipe.put(key, jpeg(RED))  # version 1: a "cat"
    pipe.drain()  # its real notification (no sequencer in moto) writes a first item
    a_waiting, b_written = threading.Event(), threading.Event()

    def hold_a(service: str, operation: str, params: dict[str, Any]) -> None:
        if operation in TABLE_WRITES and threading.current_thread() is thread_a:
            a_waiting.set()
            assert b_written.wait(30), "B never wrote"

    faults.hooks.append(hold_a)
    app_a, app_b = pipe.app, load_module()  # two warm containers
    responses: dict[str, Any] = {}
    thread_a = threading.Thread(target=lambda: responses.__setitem__(
        "a", app_a.handler(_sqs_event(pipe, _s3_message(pipe, key, "0A"), "a"), LambdaContext())))
    thread_a.start()
    assert a_waiting.wait(30), "A never reached its write"
    pipe.put(key, jpeg(BLUE))  # version 2: a "dog", uploaded while A is still busy
    responses["b"] = app_b.handler(_sqs_event(pipe, _s3_message(pipe, key, "0B"), "b"), LambdaContext())
    b_written.set()
    thread_a.join(30)
    assert responses["a"] == {"batchItemFailures": []} and responses["b"] == {"batchItemFailures": []}
    item = pipe.items()[pipe.uri(key)]
    assert item["label"] == "dog", "the stale answer for the old photo overwrote the new one"
    assert item["etag"] == pipe.s3.head_object(Bucket=pipe.stack.bucket, Key=key)["ETag"].strip('"')


# ---------------------------------------------------------------------------------------- model faults


def test_no_model_published_dead_letters_every_image_and_a_redrive_after_publishing_loses_none(
    pipe: Pipeline, tiny_model: Path
) -> None:
    keys = upload(pipe, 3)
    stats = pipe.drain()
    assert stats.failed == 3 * pipe.stack.max_receive_count and stats.succeeded == 0
    assert pipe.items() == {}, "'no model' is not the images' fault: nothing is recorded as failed"
    assert pipe.queue_depth(pipe.stack.dlq_url) == 3
    pipe.publish(tiny_model)
    assert redrive_dlq(pipe) == 3
    pipe.drain()
    assert_one_classified_item_each(pipe, keys)


def _publish_broken(p: Pipeline, model_dir: Path, tflite: bytes | None) -> None:
    pointer = ModelPointer.for_version("models/", "faults-v1")
    p.s3.upload_file(str(model_dir / MANIFEST_FILE), p.stack.bucket, pointer.manifest_key)
    if tflite is not None:
        p.s3.put_object(Bucket=p.stack.bucket, Key=pointer.model_key, Body=tflite)
    p.s3.put_object(Bucket=p.stack.bucket, Key="models/latest.json", Body=pointer.to_json().encode())


@pytest.mark.parametrize("tflite", [None, b"", b"not a flatbuffer", "truncated"],
                         ids=["missing-file", "empty-file", "garbage", "truncated"])
def test_broken_model_files_send_every_message_back_until_the_model_is_fixed(
    pipe: Pipeline, tiny_model: Path, tflite: bytes | str | None
) -> None:
    real = (tiny_model / TFLITE_FILE).read_bytes()
    _publish_broken(pipe, tiny_model, real[: len(real) // 2] if tflite == "truncated" else tflite)  # type: ignore[arg-type]
    keys = upload(pipe, 3)
    worker = pipe.worker()
    first = worker.process(worker.receive_batch())
    assert (first.received, first.failed) == (3, 3), "a model fault must retry every image of the batch"
    assert pipe.items() == {}
    pipe.publish(tiny_model)  # the fixed files under the same version
    pipe.drain()
    assert_one_classified_item_each(pipe, keys)


# ------------------------------------------------------------------------------------- worker killed


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: like a dead process, it skips every `except Exception` and cleanup."""


def test_worker_killed_mid_batch_messages_reappear_and_each_image_ends_with_one_item(
    pipe: Pipeline, faults: Faults, tiny_model: Path
) -> None:
    pipe.publish(tiny_model)
    # Shortened from the template's 720 s so the test does not wait 12 minutes; same semantics.
    pipe.sqs.set_queue_attributes(QueueUrl=pipe.stack.queue_url, Attributes={"VisibilityTimeout": "2"})
    keys = upload(pipe, 6)
    writes = {"n": 0}

    def kill_after_three_writes(service: str, operation: str, params: dict[str, Any]) -> None:
        if operation in TABLE_WRITES:
            writes["n"] += 1
            if writes["n"] == 4:
                raise WorkerKilled

    faults.hooks.append(kill_after_three_writes)
    worker = pipe.worker(batch_size=10)
    worker.retry_delay_s = None
    batch = worker.receive_batch()
    assert len(batch) == 6
    with pytest.raises(WorkerKilled):
        worker.process(batch)
    faults.clear()
    assert len(pipe.items()) == 3, "half the batch was written when the worker died"
    assert pipe.queue_depth() == 6, "no message was deleted: all 6 are in flight"
    first_written = pipe.items()
    time.sleep(2.5)  # the visibility timeout expires
    stats = load_fresh_worker_and_drain(pipe)
    assert stats.received == 6 and stats.failed == 0
    items = assert_one_classified_item_each(pipe, keys)
    for uri, item in first_written.items():
        assert items[uri]["label"] == item["label"]


def load_fresh_worker_and_drain(p: Pipeline) -> Any:
    """A new container after the crash (cold start), as Lambda would start."""
    p.app = load_module()
    return p.drain()
