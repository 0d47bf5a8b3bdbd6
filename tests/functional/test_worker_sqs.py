"""The local worker against the template's real queues (moto in-process): Lambda's retry semantics."""

from __future__ import annotations

import json
from typing import Any

import boto3

from catdog_local.provision import Stack
from catdog_local.worker import EventSourceMapping, Worker
from tests.functional.conftest import REGION


class RecordingHandler:
    """Fails every message whose body says "poison"; remembers every record it saw."""

    def __init__(self, raise_error: bool = False) -> None:
        self.records: list[dict[str, Any]] = []
        self.raise_error = raise_error

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.records.extend(event["Records"])
        if self.raise_error:
            raise RuntimeError("model store unreachable")
        return {"batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if "poison" in r["body"]
        ]}


def _drain_s3_test_event(stack: Stack) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    got = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    for m in got.get("Messages", []):
        sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])


def _send(stack: Stack, *bodies: str) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    for body in bodies:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)


def _worker(stack: Stack, handler: Any, batch_size: int = 10, retry_delay_s: int | None = 0) -> Worker:
    mapping = EventSourceMapping(stack.queue_url, stack.queue_arn, batch_size=batch_size)
    return Worker(boto3.client("sqs", region_name=REGION), mapping, handler, lambda: object(),
                  retry_delay_s=retry_delay_s, wait_time_s=0)


def _bodies(url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    # WaitTimeSeconds=0: the template's queue long-polls 20 s by default
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [m["Body"] for m in got.get("Messages", [])]


def test_a_message_that_keeps_failing_ends_in_the_dlq_after_max_receive_count(stack: Stack) -> None:
    _drain_s3_test_event(stack)
    _send(stack, json.dumps({"ok": 1}), json.dumps({"poison": True}), json.dumps({"ok": 2}))
    handler = RecordingHandler()

    stats = _worker(stack, handler).run(until_empty=True)

    poison = [r for r in handler.records if "poison" in r["body"]]
    poison_counts = [r["attributes"]["ApproximateReceiveCount"] for r in poison]
    assert poison_counts == [str(n) for n in range(1, stack.max_receive_count + 1)]  # 5 deliveries, then DLQ
    assert _bodies(stack.dlq_url) == [json.dumps({"poison": True})]
    assert _bodies(stack.queue_url) == []
    assert stats.succeeded == 2 and stats.failed == stack.max_receive_count


def test_successes_are_deleted_and_only_failures_come_back(stack: Stack) -> None:
    _drain_s3_test_event(stack)
    _send(stack, "ok-a", "poison-b")
    handler = RecordingHandler()
    worker = _worker(stack, handler)
    worker.run(once=True)
    worker.run(once=True)
    assert [r["body"] for r in handler.records] == ["ok-a", "poison-b", "poison-b"]


def test_without_retry_delay_a_failure_waits_for_the_visibility_timeout(stack: Stack) -> None:
    _drain_s3_test_event(stack)
    _send(stack, "poison")
    handler = RecordingHandler()
    worker = _worker(stack, handler, retry_delay_s=None)
    worker.run(once=True)
    worker.run(once=True)  # the template's 720 s timeout: nothing visible yet
    assert len(handler.records) == 1
    assert not worker.queue_is_drained()  # still in flight, not lost


def test_a_handler_exception_retries_the_whole_batch(stack: Stack) -> None:
    _drain_s3_test_event(stack)
    _send(stack, "a", "b")
    handler = RecordingHandler(raise_error=True)
    worker = _worker(stack, handler)
    first = worker.process(worker.receive_batch())
    assert (first.succeeded, first.failed) == (0, 2)
    assert first.handler_error == "RuntimeError: model store unreachable"
    worker.run(once=True)
    assert sorted(r["attributes"]["ApproximateReceiveCount"] for r in handler.records[2:]) == ["2", "2"]


def test_batches_are_capped_at_the_batch_size(stack: Stack) -> None:
    _drain_s3_test_event(stack)
    _send(stack, *[f"m{i}" for i in range(7)])
    handler = RecordingHandler()
    worker = _worker(stack, handler, batch_size=3)
    sizes = []
    worker.run(until_empty=True, on_batch=lambda b: sizes.append(b.received))
    assert sizes == [3, 3, 1]


def test_records_carry_the_queue_arn_and_region(stack: Stack) -> None:
    _drain_s3_test_event(stack)
    _send(stack, "x")
    handler = RecordingHandler()
    _worker(stack, handler).run(once=True)
    (record,) = handler.records
    assert record["eventSourceARN"] == stack.queue_arn
    assert record["awsRegion"] == REGION
    assert record["eventSource"] == "aws:sqs"
