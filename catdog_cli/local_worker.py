"""`catdog local worker`: Lambda's SQS event source mapping around the real handler file, for people.

People get one progress line (what it is doing now: waiting, or handling a batch) and a summary;
the function's own JSON logs go to a log file (or to stderr with `--log-format json`). SIGTERM stops
it after the current batch, Ctrl-C at once (exit 130); either way it says what happened to the
messages it held, and an idle worker held none. The polling itself is `catdog_local.worker`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from catdog.native_stderr import native_stderr_to
from catdog.plural import plural
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.local_stack import logs_dir
from catdog_cli.targets import connect
from catdog_local.lambda_runtime import prepare_handler
from catdog_local.state import LocalState, find_stack
from catdog_local.worker import BatchDelivery, QueueDepth, WorkerStats, worker_for


@dataclass(frozen=True)
class WorkerOptions:
    """`catdog local worker`'s flags: when to stop, how to poll, where the function's logs go."""

    once: bool
    until_empty: bool
    retry_delay_s: int | None  # None: the queue's visibility timeout
    batch_size: int | None  # None: the template's
    batch_window_s: float | None  # None: the template's
    wait_s: int
    log_format: str  # "file" or "json"
    log_file: Path | None  # None: logs_dir()/worker-STACK.log


class Progress:
    """One status line on a terminal (rewritten in place), one line per batch otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last = text

    def say(self, text: str) -> None:
        """A line of its own (the status line, if any, is redrawn under it)."""
        if self.tty and self.last:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        if self.tty and self.last:
            self.stream.write(self.last)
        self.stream.flush()


def run(stack: str | None, options: WorkerOptions) -> int:
    """Serve the stack's queue until drained (`until_empty`), once, or until stopped; the exit code."""
    state = connect(find_stack(stack))
    assert state is not None
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    log_stream: TextIO
    if options.log_format == "json":
        log_stream, log_note = sys.stderr, "function logs: JSON on stderr"
    else:
        log_path = options.log_file or logs_dir() / f"worker-{state.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_stream = log_path.open("a")
        log_note = f"function logs: {log_path}"
    with contextlib.redirect_stdout(log_stream):  # Powertools binds its log stream at import time
        real_handler, _ = prepare_handler(state.function_environment)

    def handler(event: dict[str, Any], context: Any) -> Any:
        # EMF metric lines (stdout) and what native code writes to fd 2 (LiteRT's "Created TensorFlow
        # Lite XNNPACK delegate") are the function's output: they go where its logs go
        with contextlib.redirect_stdout(log_stream), _native_stderr_to(log_stream):
            return real_handler(event, context)

    w = worker_for(state, handler=handler, batch_size=options.batch_size,
                   batching_window_s=options.batch_window_s, retry_delay_s=options.retry_delay_s,
                   wait_time_s=options.wait_s)
    progress = Progress(sys.stderr)
    totals = WorkerStats()

    def so_far() -> str:
        return (f"{plural(totals.succeeded, 'message')} done, {totals.failed} to retry "
                f"({plural(totals.batches, 'batch')})")

    def on_received(count: int) -> None:
        if progress.tty:  # a line of its own per batch would double the output of a pipe
            progress.show(f"worker: handling {plural(count, 'message')}; {so_far()}")

    def on_batch(batch: BatchDelivery) -> None:
        totals.add(batch)
        if batch.handler_error:
            progress.say(f"worker: the handler raised {printable(batch.handler_error)}; "
                         f"the {plural(batch.received, 'message')} of that batch go back to the queue")
        progress.show(f"worker: {so_far()}" + ("; waiting for messages" if progress.tty else ""))

    last_idle = [0.0]

    def on_idle(depth: QueueDepth) -> None:
        if time.monotonic() - last_idle[0] < 10:
            return
        last_idle[0] = time.monotonic()
        waiting = []
        if depth.in_flight:
            waiting.append(f"{depth.in_flight} in flight (received elsewhere or failed; visible again "
                           f"within {state.visibility_timeout} s)")
        if depth.delayed:
            waiting.append(f"{depth.delayed} delayed")
        if depth.visible:
            waiting.append(f"{depth.visible} waiting")
        progress.say(f"worker: queue not empty: {', '.join(waiting)}")

    def stop(*_: object) -> None:
        progress.say("worker: stopping after the current batch" if w.unacknowledged else "worker: stopping")
        w.stop()

    signal.signal(signal.SIGTERM, stop)
    started = time.perf_counter()
    interrupted = False
    try:  # from the line that says Ctrl-C stops it, a Ctrl-C gets the summary below
        progress.say(f"worker: stack '{state.name}', queue {state.queue_url.rsplit('/', 1)[-1]} (batches "
                     f"of {w.mapping.batch_size}, DLQ after {state.max_receive_count} receives); {log_note}; "
                     "Ctrl-C to stop")
        w.run(once=options.once, until_empty=options.until_empty, on_batch=on_batch, on_idle=on_idle,
              on_received=on_received)
    except KeyboardInterrupt:
        interrupted = True
    if progress.tty and progress.last:
        sys.stderr.write("\n")
    summary = (f"worker: {plural(totals.batches, 'batch')}, {plural(totals.succeeded, 'message')} done, "
               f"{plural(totals.failed, 'delivery', 'deliveries')} to retry, "
               f"{time.perf_counter() - started:.1f} s; DLQ holds {_dlq_depth(state)}")
    if totals.s3_test_events:
        summary += "; S3's s3:TestEvent acknowledged (not an upload: not counted)"
    if not interrupted:
        print(summary, file=sys.stderr)
        return exit_codes.OK
    if w.unacknowledged:
        print(f"{summary}; interrupted with {plural(w.unacknowledged, 'message')} in progress, not "
              f"acknowledged: back on the queue after the visibility timeout ({state.visibility_timeout} s), "
              "nothing is lost", file=sys.stderr)
    else:
        print(f"{summary}; interrupted while waiting for messages: none was in progress", file=sys.stderr)
    return exit_codes.INTERRUPTED


def _native_stderr_to(stream: TextIO) -> contextlib.AbstractContextManager[None]:
    if stream is sys.stderr:
        return contextlib.nullcontext()
    stream.flush()
    return native_stderr_to(stream.fileno())


def _dlq_depth(state: LocalState) -> int:
    with contextlib.suppress(Exception):
        attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=state.dlq_url,
                                                          AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return 0
