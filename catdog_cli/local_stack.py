"""`catdog local up|down|env|worker`: a local stack people can start, see, use and stop.

- `up` serves one named stack (moto + the template's resources) until Ctrl-C/SIGTERM, or in the
  background with `--detach`; a second `up` of a running name is refused. Its queue's visibility
  timeout suits a laptop (`--visibility-timeout`, 120 s): a worker killed mid-batch does not leave
  its messages invisible for the template's 720 s.
- `down` stops a detached (or any) stack by name.
- `worker` is Lambda's SQS event source mapping around the real handler file. People get one
  progress line and a summary; the function's own JSON logs go to a log file (or to stderr with
  `--log-format json`). Ctrl-C and SIGTERM stop it after the current batch and say what happened.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

from catdog_cli.display import printable
from catdog_local.state import LocalState, StackError, clear, find_stack, state_file

#: The local default for the queue's visibility timeout (the template's 720 s is 6x Lambda's timeout).
LOCAL_VISIBILITY_TIMEOUT_S = 120


def logs_dir() -> Path:
    cache = os.environ.get("CATDOG_CACHE") or str(Path.home() / ".cache" / "catdog")
    return Path(cache) / "logs"


# ----------------------------------------------------------------------------------------- up


def summary_lines(state: LocalState) -> list[str]:
    from catdog_local.moto_server import export_lines

    return [
        f"local stack '{state.name}' (moto) listening on {state.endpoint}",
        f"  bucket  {state.bucket}   (upload under s3://{state.bucket}/uploads/)",
        f"  queue   {state.queue_url}   (visibility timeout {state.visibility_timeout} s)",
        f"  dlq     {state.dlq_url}   (after {state.max_receive_count} receives)",
        f"  table   {state.table}",
        "point the aws CLI, SAM or scripts at it with:",
        *(f"  {line}" for line in export_lines(state.endpoint, state.region)),
    ]


def refuse_running(name: str) -> None:
    try:
        running = find_stack(name)
    except StackError:
        return  # not running: the name is free
    raise StackError(f"stack {name!r} is already running on {running.endpoint} (pid {running.pid}): "
                     f"stop it with `catdog local down --stack {name}`, or start another with "
                     "--stack-name NAME")


def up(args: argparse.Namespace) -> int:
    from catdog_local.moto_server import LocalAws, apply_endpoint_env
    from catdog_local.provision import provision

    refuse_running(args.stack_name)
    if args.detach:
        return _detach(args)
    with LocalAws(port=args.port, host=args.host) as aws:
        apply_endpoint_env(aws.endpoint, args.region)
        stack = provision(template_path=args.template, stack_name=args.stack_name, region=args.region)
        if args.visibility_timeout:
            _set_visibility_timeout(stack.queue_url, args.visibility_timeout)
            stack.visibility_timeout = args.visibility_timeout
        state = LocalState.from_stack(stack, aws.endpoint)
        state.log_file = os.environ.get("CATDOG_LOCAL_LOG", "")
        path = state.save()
        for line in summary_lines(state):
            print(line)
        print(f"  state   {path}")
        print("then: catdog local worker (another terminal); Ctrl-C here stops the stack", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            clear(state)
            print(f"local stack '{state.name}' stopped", flush=True)
    return 0


def _set_visibility_timeout(queue_url: str, seconds: int) -> None:
    import boto3

    boto3.client("sqs").set_queue_attributes(QueueUrl=queue_url,
                                             Attributes={"VisibilityTimeout": str(seconds)})


def _detach(args: argparse.Namespace) -> int:
    """`up` again in a new session (it survives this shell), its output in a log file; return once
    its state file says it serves."""
    log = logs_dir() / f"local-{args.stack_name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "catdog_cli.main", "local", "up", "--port", str(args.port),
               "--host", args.host, "--region", args.region, "--template", str(args.template),
               "--stack-name", args.stack_name, "--visibility-timeout", str(args.visibility_timeout)]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, "CATDOG_LOCAL_LOG": str(log)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"the local stack did not start (exit {proc.returncode}); its output:\n"
                             + log.read_text()[-2000:])
        with contextlib.suppress(StackError):
            state = find_stack(args.stack_name)
            if state.pid == proc.pid:
                for line in summary_lines(state):
                    print(line)
                which = "" if args.stack_name == "catdog" else f" --stack {args.stack_name}"
                print(f"running in the background (pid {proc.pid}, log {log}); stop it with: "
                      f"catdog local down{which}", flush=True)
                return 0
        time.sleep(0.2)
    proc.terminate()
    raise StackError(f"the local stack did not answer within 120 s; its output is in {log}")


def down(args: argparse.Namespace) -> int:
    state = find_stack(args.stack)
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while state.alive and time.monotonic() < deadline:
        time.sleep(0.1)
    if state.alive:
        os.kill(state.pid, signal.SIGKILL)
    state_file(state.name).unlink(missing_ok=True)
    print(f"local stack '{state.name}' stopped (it was pid {state.pid} on {state.endpoint})")
    return 0


def env(args: argparse.Namespace) -> int:
    """`eval "$(catdog local env)"`: any tool in this shell (aws, sam, scripts) uses the stack."""
    from catdog_local.moto_server import export_lines

    state = find_stack(args.stack)
    for line in export_lines(state.endpoint, state.region):
        print(line)
    print(f"export CATDOG_STACK={state.name}")
    print(f"export CATDOG_BUCKET={state.bucket}")
    print(f"export CATDOG_TABLE={state.table}")
    print(f"export CATDOG_QUEUE_URL={state.queue_url}")
    return 0


# ------------------------------------------------------------------------------------- worker


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


def worker(args: argparse.Namespace) -> int:
    from catdog_cli.targets import connect
    from catdog_local.lambda_runtime import prepare_handler
    from catdog_local.worker import BatchResult, QueueDepth, worker_for

    state = connect(find_stack(args.stack))
    assert state is not None
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    log_stream: TextIO
    if args.log_format == "json":
        log_stream, log_note = sys.stderr, "function logs: JSON on stderr"
    else:
        log_path = Path(args.log_file) if args.log_file else logs_dir() / f"worker-{state.name}.log"
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

    w = worker_for(state, handler=handler, batch_size=args.batch_size, batching_window_s=args.batch_window,
                   retry_delay_s=args.retry_delay, wait_time_s=args.wait)
    progress = Progress(sys.stderr)
    progress.say(f"worker: stack '{state.name}', queue {state.queue_url.rsplit('/', 1)[-1]} (batches of "
                 f"{w.mapping.batch_size}, DLQ after {state.max_receive_count} receives); {log_note}; "
                 "Ctrl-C to stop")
    totals = {"batches": 0, "done": 0, "retry": 0}

    def on_batch(batch: BatchResult) -> None:
        totals["batches"] += 1
        totals["done"] += batch.succeeded
        totals["retry"] += batch.failed
        if batch.handler_error:
            progress.say(f"worker: the handler raised {printable(batch.handler_error)}; "
                         f"the {batch.received} messages of that batch go back to the queue")
        progress.show(f"worker: {totals['done']} messages done, {totals['retry']} to retry "
                      f"({totals['batches']} batches)")

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
        progress.say("worker: stopping after the current batch")
        w.stop()

    signal.signal(signal.SIGTERM, stop)
    interrupted = False
    try:
        stats = w.run(once=args.once, until_empty=args.until_empty, on_batch=on_batch, on_idle=on_idle)
    except KeyboardInterrupt:
        interrupted = True
        stats = None
    if progress.tty and progress.last:
        sys.stderr.write("\n")
    dlq = _dlq_depth(state)
    summary = (f"worker: {totals['batches']} batches, {totals['done']} messages done, {totals['retry']} "
               f"deliveries to retry{f', {stats.seconds:.1f} s' if stats else ''}; DLQ holds {dlq}")
    if interrupted:
        print(summary + "; interrupted: the batch in progress was not acknowledged and comes back after "
              f"the visibility timeout ({state.visibility_timeout} s), nothing is lost", file=sys.stderr)
        return 130
    print(summary, file=sys.stderr)
    return 0


@contextlib.contextmanager
def _native_stderr_to(stream: TextIO) -> Any:
    if stream is sys.stderr:
        yield
        return
    sys.stderr.flush()
    stream.flush()
    saved = os.dup(2)
    os.dup2(stream.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _dlq_depth(state: LocalState) -> int:
    import boto3

    with contextlib.suppress(Exception):
        attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=state.dlq_url,
                                                          AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return 0
