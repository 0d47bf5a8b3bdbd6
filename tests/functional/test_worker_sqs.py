"""The local worker against the template's real queues (moto in-process): Lambda's retry semantics."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3

from catdog_local.provision import Stack
from catdog_local.worker import (
    POLL_SLICE_S,
    SQS_MAX_WAIT_S,
    EventSourceMapping,
    QueueDepth,
    Worker,
    acknowledge_s3_test_events,
)
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


class RecordingSqs:
    """The real (moto) client, recording how long each receive asked to wait, and how many receives
    came after the worker's last delete."""

    def __init__(self) -> None:
        self.real = boto3.client("sqs", region_name=REGION)
        self.waits: list[int] = []
        self.receives_after_last_delete = 0

    def receive_message(self, **kw: Any) -> Any:
        self.waits.append(kw.get("WaitTimeSeconds", 0))
        self.receives_after_last_delete += 1
        return self.real.receive_message(**kw)

    def delete_message_batch(self, **kw: Any) -> Any:
        self.receives_after_last_delete = 0
        return self.real.delete_message_batch(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _long_polling_worker(stack: Stack, sqs: Any, handler: Any, **kw: Any) -> Worker:
    """As `catdog local worker` builds it: the default 20 s long poll, the template's 5 s window."""
    mapping = EventSourceMapping(stack.queue_url, stack.queue_arn, batch_size=10, batching_window_s=5.0)
    return Worker(sqs, mapping, handler, lambda: object(), wait_time_s=SQS_MAX_WAIT_S, **kw)


def test_until_empty_never_sits_out_a_long_poll_once_the_queue_is_drained(stack: Stack) -> None:
    """`--until-empty` used to wait 20 s (one long poll) after the last image, and 5 s (the batching
    window) for messages that were not there: no receive may now block longer than a poll slice,
    and the batch that deletes the last message ends the run without another receive."""
    _drain_s3_test_event(stack)
    _send(stack, "a", "b", "c")
    sqs = RecordingSqs()
    handler = RecordingHandler()

    stats = _long_polling_worker(stack, sqs, handler).run(until_empty=True)

    assert stats.succeeded == 3 and stats.batches == 1, "the three came as one batch, no window sat out"
    assert max(sqs.waits) <= POLL_SLICE_S, sqs.waits
    assert sqs.receives_after_last_delete == 0, sqs.waits


def test_until_empty_does_not_end_while_a_message_is_in_flight_or_delayed(stack: Stack) -> None:
    """A failed delivery is invisible until its retry, a delayed message until its delay: the queue
    is not empty then, and the worker must wait for both rather than exit."""
    _drain_s3_test_event(stack)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="delayed", DelaySeconds=2)
    _send(stack, "poison-once")
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        bodies = [r["body"] for r in event["Records"]]
        first_time = [b for b in bodies if b == "poison-once" and b not in seen]
        seen.extend(bodies)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] in first_time]}

    heard: list[QueueDepth] = []
    stats = _long_polling_worker(stack, RecordingSqs(), handler, retry_delay_s=1).run(
        until_empty=True, on_idle=heard.append)

    assert sorted(seen) == ["delayed", "poison-once", "poison-once"]
    assert (stats.succeeded, stats.failed) == (2, 1)
    assert heard and all(d.total for d in heard), "it said what it waited for, never 'empty'"
    assert _bodies(stack.queue_url) == [] and _bodies(stack.dlq_url) == []


def test_a_stop_while_idle_ends_the_long_poll_within_a_slice(stack: Stack) -> None:
    """SIGTERM (`stop()`) used to wait out the 20 s receive in progress."""
    _drain_s3_test_event(stack)
    sqs = RecordingSqs()
    worker = _long_polling_worker(stack, sqs, RecordingHandler())
    stopper = threading.Timer(0.5, worker.stop)
    stopper.start()
    worker.run()
    stopper.join()
    assert 1 <= len(sqs.waits) <= 2 and max(sqs.waits) <= POLL_SLICE_S, sqs.waits
    assert worker.unacknowledged == 0, "an idle worker holds no message"


def test_s3s_test_event_is_handled_but_not_counted_as_a_message(stack: Stack) -> None:
    """The queue of a fresh stack holds S3's s3:TestEvent: "9 messages done" for 8 photos."""
    s3 = boto3.client("s3", region_name=REGION)
    for name in ("a.jpg", "b.jpg"):
        s3.put_object(Bucket=stack.bucket, Key=f"uploads/{name}", Body=b"x")
    handler = RecordingHandler()
    stats = _worker(stack, handler).run(until_empty=True)
    assert len(handler.records) == 3, "the handler still gets it, as Lambda delivers it"
    assert (stats.received, stats.succeeded, stats.s3_test_events) == (2, 2, 1)


def test_acknowledging_the_setup_test_event_leaves_every_other_message(stack: Stack) -> None:
    """What `catdog local up` does before anyone looks at the queue (`catdog results`, `aws sqs`)."""
    _send(stack, "an upload of someone's")
    sqs = boto3.client("sqs", region_name=REGION)
    assert acknowledge_s3_test_events(sqs, stack.queue_url) == 1
    assert _bodies(stack.queue_url) == ["an upload of someone's"]
