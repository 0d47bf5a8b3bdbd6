"""The local stand-in for Lambda's SQS event source mapping: poll, call the handler, delete.

It behaves as the mapping does with `ReportBatchItemFailures`: messages the handler reports in
`batchItemFailures` (or the whole batch, when the handler raises) are left on the queue, come back
after the visibility timeout, and SQS's RedrivePolicy moves them to the DLQ after
`maxReceiveCount` receives. moto applies the RedrivePolicy itself on receive, so nothing here
emulates it; `--retry-delay` only shortens the wait before a failed message is seen again.

A long poll is made of one-second receives (`POLL_SLICE_S`): SQS answers a receive as soon as a
message is visible, so this costs nothing in latency, and between two of them the worker notices a
stop (Ctrl-C, SIGTERM) or, with `until_empty`, a queue with nothing visible, in flight or delayed,
instead of sitting out a 20 s poll first. S3's `s3:TestEvent` goes to the handler like any message
(Lambda delivers it too) but is counted apart: it is not an upload.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from catdog.s3_events import parse_sqs_body
from catdog_local.events import failed_message_ids, to_event
from catdog_local.lambda_runtime import Handler, LambdaContext, prepare_handler
from catdog_local.provision import StackResources

log = logging.getLogger(__name__)

ContextFactory = Callable[[], Any]
#: SQS caps one ReceiveMessage at 10 messages and a long poll at 20 s.
SQS_MAX_MESSAGES = 10
SQS_MAX_WAIT_S = 20
#: The longest one receive blocks: how soon a stop or a drained queue is noticed while idle.
POLL_SLICE_S = 1


@dataclass
class BatchDelivery:
    """One batch of messages handed to the handler: how many it got, finished and left to retry.
    S3's `s3:TestEvent` messages are in none of these counts but in `s3_test_events`."""

    received: int
    succeeded: int
    failed: int
    handler_error: str | None = None
    s3_test_events: int = 0


@dataclass
class WorkerStats:
    batches: int = 0
    received: int = 0
    succeeded: int = 0
    failed: int = 0  # deliveries that failed (a message retried twice counts twice)
    handler_errors: int = 0
    s3_test_events: int = 0
    seconds: float = 0.0

    def add(self, batch: BatchDelivery) -> None:
        self.batches += 1
        self.received += batch.received
        self.succeeded += batch.succeeded
        self.failed += batch.failed
        self.handler_errors += batch.handler_error is not None
        self.s3_test_events += batch.s3_test_events


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed

    @property
    def waiting(self) -> int:
        """What a receive could still get, now (visible) or soon (delayed)."""
        return self.visible + self.delayed


@dataclass
class EventSourceMapping:
    """The parts of the template's SQS event source the worker copies."""

    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window_s: float = 0.0


class Worker:
    def __init__(
        self,
        sqs: Any,
        mapping: EventSourceMapping,
        handler: Handler,
        context_factory: ContextFactory,
        *,
        retry_delay_s: int | None = None,
        wait_time_s: int = SQS_MAX_WAIT_S,
    ) -> None:
        self.sqs = sqs
        self.mapping = mapping
        self.handler = handler
        self.context_factory = context_factory
        self.retry_delay_s = retry_delay_s
        self.wait_time_s = max(0, min(wait_time_s, SQS_MAX_WAIT_S))
        self.stop_event = threading.Event()
        #: Messages received and neither deleted nor handed back yet: what an interruption leaves
        #: invisible until the visibility timeout.
        self.unacknowledged = 0

    # -- one batch -----------------------------------------------------------------------------
    def receive_batch(self, give_up: Callable[[], bool] | None = None, *,
                      draining: bool = False) -> list[dict[str, Any]]:
        """Up to `batch_size` messages: a long poll of up to `wait_time_s` for the first, in slices of
        `POLL_SLICE_S` after each of which a stop or `give_up()` ends the wait, then collecting for up
        to the batching window like Lambda. `draining` (`until_empty`): the window also ends when
        nothing else is waiting, visible or delayed: a drain does not sit out 5 s for messages
        that are not there."""
        wanted = max(1, self.mapping.batch_size)
        poll_ends = time.monotonic() + self.wait_time_s
        deadline = 0.0
        messages: list[dict[str, Any]] = []
        while len(messages) < wanted and not self.stop_event.is_set():
            if messages and time.monotonic() >= deadline:
                break
            wait = 0 if messages else min(POLL_SLICE_S, max(0, math.ceil(poll_ends - time.monotonic())))
            got = self._receive(min(SQS_MAX_MESSAGES, wanted - len(messages)), wait)
            if not messages:
                if not got:
                    if (give_up is not None and give_up()) or time.monotonic() >= poll_ends:
                        break  # an idle long poll: let the caller decide whether to go on
                    continue
                deadline = time.monotonic() + self.mapping.batching_window_s
            messages.extend(got)
            if not got:
                if draining and not self.depth().waiting:
                    break
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return messages

    def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.mapping.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        self.unacknowledged += len(got)
        return got

    def process(self, messages: list[dict[str, Any]]) -> BatchDelivery:
        ids = [m["MessageId"] for m in messages]
        event = to_event(messages, self.mapping.queue_arn)
        error: str | None = None
        try:
            response = self.handler(event, self.context_factory())
            failed = failed_message_ids(response, ids)
        except Exception as exc:  # Lambda: an exception fails the whole batch
            error = f"{type(exc).__name__}: {exc}"
            log.warning("handler raised %s; the whole batch of %d will be retried", error, len(ids))
            failed = set(ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        self._delete(done)
        if self.retry_delay_s is not None:
            self._delay(retry, self.retry_delay_s)
        self.unacknowledged = 0  # deleted, or left to come back as SQS would without us
        tests = {m["MessageId"] for m in messages if is_s3_test_event(m)}
        return BatchDelivery(received=len(messages) - len(tests),
                             succeeded=sum(m["MessageId"] not in tests for m in done),
                             failed=sum(m["MessageId"] not in tests for m in retry),
                             handler_error=error, s3_test_events=len(tests))

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for i in range(0, len(messages), SQS_MAX_MESSAGES):
            chunk = messages[i : i + SQS_MAX_MESSAGES]
            self.sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
            )

    def _delay(self, messages: list[dict[str, Any]], seconds: int) -> None:
        for i in range(0, len(messages), SQS_MAX_MESSAGES):
            chunk = messages[i : i + SQS_MAX_MESSAGES]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                    for n, m in enumerate(chunk)
                ],
            )

    # -- the loop ------------------------------------------------------------------------------
    def depth(self) -> QueueDepth:
        return queue_depth(self.sqs, self.mapping.queue_url)

    def queue_is_drained(self) -> bool:
        """Nothing visible, in flight or delayed: every message was deleted or moved to the DLQ."""
        return self.depth().total == 0

    def run(
        self,
        *,
        once: bool = False,
        until_empty: bool = False,
        on_batch: Callable[[BatchDelivery], None] | None = None,
        on_idle: Callable[[QueueDepth], None] | None = None,
        on_received: Callable[[int], None] | None = None,
    ) -> WorkerStats:
        """Poll until stopped; `once`: one receive; `until_empty`: until the queue is drained, noticed
        within a poll slice (`POLL_SLICE_S`). `on_received` hears a batch's size (S3 test events not
        counted) before the handler runs; `on_idle` hears what is still pending after every empty
        receive while the queue is not drained (messages in flight come back after their visibility
        timeout, delayed ones after their delay): the caller decides how often to say so."""
        stats = WorkerStats()
        start = time.perf_counter()
        drained = False

        def idle() -> bool:
            """After every empty receive: is the queue drained (then give up waiting, if asked to)?"""
            nonlocal drained
            depth = self.depth()
            drained = depth.total == 0
            if on_idle and not drained:
                on_idle(depth)
            return until_empty and drained

        try:
            while not self.stop_event.is_set():
                messages = self.receive_batch(give_up=idle if (until_empty or on_idle) else None,
                                              draining=until_empty)
                if messages and on_received:
                    on_received(sum(not is_s3_test_event(m) for m in messages))
                if messages:
                    result = self.process(messages)
                    stats.add(result)
                    if on_batch:
                        on_batch(result)
                if once or (until_empty and not messages and drained):
                    break
                if until_empty and messages and self.queue_is_drained():
                    break  # the batch took the last of them: no need for an empty poll to say so
        finally:
            stats.seconds = time.perf_counter() - start
        return stats

    def stop(self) -> None:
        self.stop_event.set()


def queue_depth(sqs: Any, queue_url: str) -> QueueDepth:
    """What is left on a queue: visible, in flight (received, not yet deleted) and delayed."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return QueueDepth(int(attrs.get("ApproximateNumberOfMessages", 0)),
                      int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                      int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)))


def is_s3_test_event(message: dict[str, Any]) -> bool:
    """S3's `s3:TestEvent`, sent once when a bucket's notification is set up: not an upload."""
    try:
        return parse_sqs_body(message.get("Body")).test_event
    except Exception:  # a body the handler will reject: a message all the same
        return False


def worker_for(
    stack: StackResources,
    *,
    handler: Handler | None = None,
    batch_size: int | None = None,
    batching_window_s: float | None = None,
    retry_delay_s: int | None = None,
    wait_time_s: int = SQS_MAX_WAIT_S,
) -> Worker:
    """The Lambda stand-in for `stack`: its queue and event source settings, and the real handler file
    imported with the stack's function environment (or `handler`, e.g. one wrapped to quieten it)."""
    if handler is None:
        handler, _ = prepare_handler(stack.function_environment)
    mapping = EventSourceMapping(
        queue_url=stack.queue_url,
        queue_arn=stack.queue_arn,
        batch_size=batch_size or stack.batch_size,
        batching_window_s=stack.batching_window_s if batching_window_s is None else batching_window_s,
    )
    return Worker(boto3.client("sqs", region_name=stack.region), mapping, handler, LambdaContext,
                  retry_delay_s=retry_delay_s, wait_time_s=wait_time_s)


def acknowledge_s3_test_events(sqs: Any, queue_url: str) -> int:
    """Delete the `s3:TestEvent` messages waiting on a queue (what the function does with them) and
    leave every other message as it was; how many were deleted. For a queue no worker serves yet."""
    deleted = 0
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=SQS_MAX_MESSAGES,
                                   WaitTimeSeconds=0, VisibilityTimeout=0).get("Messages", [])
    for message in messages:
        if is_s3_test_event(message):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            deleted += 1
    return deleted
