"""`catdog local up|down|env`: a local stack people can start, see, use and stop.

- `up` serves one named stack (moto + the template's resources) until Ctrl-C/SIGTERM, or in the
  background with `--detach`; a second `up` of a running name is refused. Its queue's visibility
  timeout suits a laptop (`--visibility-timeout`, 120 s): a worker killed mid-batch does not leave
  its messages invisible for the template's 720 s.
- `down` stops a detached (or any) stack by name.
- `env` prints the exports that point other tools at it.

The worker that serves its queue is `catdog_cli/local_worker.py`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

from catdog_cli import exit_codes
from catdog_local.moto_server import LocalAws, apply_endpoint_env, export_lines
from catdog_local.provision import provision
from catdog_local.state import DEFAULT_STACK, LocalState, StackError, clear, find_stack, state_file
from catdog_local.worker import acknowledge_s3_test_events


@dataclass(frozen=True)
class StackOptions:
    """How `catdog local up` serves a stack: its name, where it listens, what it provisions."""

    name: str
    port: int
    host: str
    region: str
    template: Path
    visibility_timeout: int  # seconds; 0 keeps the template's


def logs_dir() -> Path:
    cache = os.environ.get("CATDOG_CACHE") or str(Path.home() / ".cache" / "catdog")
    return Path(cache) / "logs"


# ----------------------------------------------------------------------------------------- up


def summary_lines(state: LocalState) -> list[str]:
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


def up(options: StackOptions, *, detach: bool = False) -> int:
    refuse_running(options.name)
    if detach:
        return _detach(options)
    with LocalAws(port=options.port, host=options.host) as aws:
        apply_endpoint_env(aws.endpoint, options.region)
        stack = provision(template_path=options.template, stack_name=options.name, region=options.region)
        if options.visibility_timeout:
            _set_visibility_timeout(stack.queue_url, options.visibility_timeout)
            stack.visibility_timeout = options.visibility_timeout
        # on AWS the function takes S3's setup s3:TestEvent moments after the deploy; until a worker
        # ran, `catdog results` and `aws sqs` counted it as an upload waiting (9 messages for 8 photos)
        acknowledge_s3_test_events(boto3.client("sqs"), stack.queue_url)
        state = LocalState.from_stack(stack, aws.endpoint)
        state.log_file = os.environ.get("CATDOG_LOCAL_LOG", "")
        path = state.save()
        for line in summary_lines(state):
            print(line)
        print(f"  state   {path}")
        print("then: catdog local worker (another terminal); Ctrl-C here stops the stack", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `local down`: a clean stop, exit 0
        try:
            while not stop.wait(1.0):
                pass
        finally:  # Ctrl-C too, whose KeyboardInterrupt then ends the command as interrupted (130)
            clear(state)
            print(f"local stack '{state.name}' stopped", flush=True)
    return exit_codes.OK


def _set_visibility_timeout(queue_url: str, seconds: int) -> None:
    boto3.client("sqs").set_queue_attributes(QueueUrl=queue_url,
                                             Attributes={"VisibilityTimeout": str(seconds)})


def _detach(options: StackOptions) -> int:
    """`up` again in a new session (it survives this shell), its output in a log file; return once
    its state file says it serves."""
    log = logs_dir() / f"local-{options.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "catdog_cli.main", "local", "up", "--port", str(options.port),
               "--host", options.host, "--region", options.region, "--template", str(options.template),
               "--stack-name", options.name, "--visibility-timeout", str(options.visibility_timeout)]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, "CATDOG_LOCAL_LOG": str(log)})
    try:
        return _wait_until_serving(options, proc, log)
    except KeyboardInterrupt:  # Ctrl-C while it starts: no stack left running that nobody asked for
        proc.terminate()
        raise


def _wait_until_serving(options: StackOptions, proc: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"the local stack did not start (exit {proc.returncode}); its output:\n"
                             + log.read_text()[-2000:])
        with contextlib.suppress(StackError):
            state = find_stack(options.name)
            if state.pid == proc.pid:
                for line in summary_lines(state):
                    print(line)
                which = "" if options.name == DEFAULT_STACK else f" --stack {options.name}"
                print(f"running in the background (pid {proc.pid}, log {log}); stop it with: "
                      f"catdog local down{which}", flush=True)
                return exit_codes.OK
        time.sleep(0.2)
    proc.terminate()
    raise StackError(f"the local stack did not answer within 120 s; its output is in {log}")


def down(stack: str | None) -> int:
    state = find_stack(stack)
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while state.alive and time.monotonic() < deadline:
        time.sleep(0.1)
    if state.alive:
        os.kill(state.pid, signal.SIGKILL)
    state_file(state.name).unlink(missing_ok=True)
    print(f"local stack '{state.name}' stopped (it was pid {state.pid} on {state.endpoint})")
    return exit_codes.OK


def env(stack: str | None) -> int:
    """`eval "$(catdog local env)"`: any tool in this shell (aws, sam, scripts) uses the stack."""
    state = find_stack(stack)
    for line in export_lines(state.endpoint, state.region):
        print(line)
    print(f"export CATDOG_STACK={state.name}")
    print(f"export CATDOG_BUCKET={state.bucket}")
    print(f"export CATDOG_TABLE={state.table}")
    print(f"export CATDOG_QUEUE_URL={state.queue_url}")
    return exit_codes.OK
