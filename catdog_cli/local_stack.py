"""`catdog local up|down|env`: a local stack people can start, see, use and stop.

- `up` serves one named stack (moto + the template's resources) until Ctrl-C/SIGTERM, or in the
  background with `--detach`; a second `up` of a running name is refused. Without `--port` it
  listens on $CATDOG_LOCAL_PORT or 5000, or, when something else has that port (macOS's AirPlay
  receiver listens on 5000), on a free one, and says so: every command finds the stack by its
  state file, so nothing depends on the number. Its queue's visibility
  timeout suits a laptop (`--visibility-timeout`, 120 s): a worker killed mid-batch does not leave
  its messages invisible for the template's 720 s.
- `down` stops a detached (or any) stack by name, and says what went with it: a local stack lives
  in memory, and the README tour's last line used to wipe its uploads, models and results without
  a word.
- `env` prints the exports that point other tools at it.

The worker that serves its queue is `catdog_cli/local_worker.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from catdog.plural import plural
from catdog_cli import exit_codes
from catdog_cli.targets import connect
from catdog_local.moto_server import (
    AWS_CLI_V1_NOTE,
    DEFAULT_HOST,
    DEFAULT_PORT,
    LocalAws,
    apply_endpoint_env,
    export_lines,
    free_port,
    port_in_use,
)
from catdog_local.provision import provision
from catdog_local.state import DEFAULT_STACK, LocalState, StackError, clear, find_stack, state_file
from catdog_local.worker import acknowledge_s3_test_events, queue_depth

#: The port `local up` tries first when not given one (default DEFAULT_PORT, 5000).
PORT_ENV = "CATDOG_LOCAL_PORT"


@dataclass(frozen=True)
class StackOptions:
    """How `catdog local up` serves a stack: its name, where it listens, what it provisions."""

    name: str
    port: int | None  # None: $CATDOG_LOCAL_PORT or DEFAULT_PORT, else any free port
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
        "everything lives in memory: stopping the stack (Ctrl-C, catdog local down) discards it",
        "point other tools at it with (eval \"$(catdog local env)\" does this):",
        *(f"  {line}" for line in export_lines(state.endpoint, state.region)),
        f"  ({AWS_CLI_V1_NOTE})",
    ]


def refuse_running(name: str) -> None:
    try:
        running = find_stack(name)
    except StackError:
        return  # not running: the name is free
    raise StackError(f"stack {name!r} is already running on {running.endpoint} (pid {running.pid}): "
                     f"stop it with `catdog local down --stack {name}`, or start another with "
                     "--stack-name NAME")


def default_port(host: str = DEFAULT_HOST) -> tuple[int, str]:
    """(the port to listen on when none was asked for, a note when it is not the usual one)."""
    preferred = int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    if not port_in_use(preferred, DEFAULT_HOST if host in ("0.0.0.0", "::") else host):
        return preferred, ""
    port = free_port(host if host not in ("0.0.0.0", "::") else DEFAULT_HOST)
    return port, (f"port {preferred} is taken by another program (on macOS, often the AirPlay receiver), "
                  f"so the stack listens on {port}: catdog commands find it by its state file, other "
                  'tools by eval "$(catdog local env)"; --port chooses one')


def up(options: StackOptions, *, detach: bool = False) -> int:
    refuse_running(options.name)
    if options.port is None:
        port, note = default_port(options.host)
        if note:
            print(f"catdog local up: {note}", file=sys.stderr, flush=True)
        options = dataclasses.replace(options, port=port)
    if detach:
        return _detach(options)
    with LocalAws(port=options.port or 0, host=options.host) as aws:
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
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `local down`: a clean stop, exit 0
        path = state.save()
        try:
            for line in summary_lines(state):
                print(line)
            print(f"  state   {path}")
            print("then: catdog local worker (another terminal); Ctrl-C here stops the stack", flush=True)
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
    held = holdings(state)
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while state.alive and time.monotonic() < deadline:
        time.sleep(0.1)
    if state.alive:
        os.kill(state.pid, signal.SIGKILL)
    state_file(state.name).unlink(missing_ok=True)
    print(f"local stack '{state.name}' stopped (it was pid {state.pid} on {state.endpoint})")
    if held:
        print(f"  discarded with it (it lived in memory): {held}")
    return exit_codes.OK


def holdings(state: LocalState) -> str:
    """What the stack holds, in words ("8 uploads, 1 model version, 8 results, 0 messages queued,
    0 in the DLQ"); "" when it does not answer within a few seconds (it is stopped all the same)."""
    quick = Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1})
    connect(state)
    try:
        uploads, versions = _objects(boto3.client("s3", config=quick), state)
        results = sum(page["Count"] for page in boto3.client("dynamodb", config=quick).get_paginator(
            "scan").paginate(TableName=state.table, Select="COUNT"))
        sqs = boto3.client("sqs", config=quick)
        queued, dead = (queue_depth(sqs, url).total for url in (state.queue_url, state.dlq_url))
    except (BotoCoreError, ClientError):
        return ""
    return (f"{plural(uploads, 'upload')}, {plural(versions, 'model version')}, "
            f"{plural(results, 'result')}, {plural(queued, 'message')} queued, {dead} in the DLQ")


def _objects(s3: Any, state: LocalState) -> tuple[int, int]:
    """(objects under the upload prefix, model versions published: models/<version>/manifest.json)."""
    models = state.model_key.rsplit("/", 1)[0] + "/"
    uploads, versions = 0, set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=state.bucket):
        for key in (obj["Key"] for obj in page.get("Contents", [])):
            uploads += key.startswith(state.upload_prefix)
            version, _, rest = key.removeprefix(models).partition("/")
            if key.startswith(models) and rest == "manifest.json":
                versions.add(version)
    return uploads, len(versions)


def env(stack: str | None) -> int:
    """`eval "$(catdog local env)"`: any tool in this shell (sam, scripts, the aws CLI as the note
    on stderr says) uses the stack."""
    state = find_stack(stack)
    print(f"catdog local env: {AWS_CLI_V1_NOTE}", file=sys.stderr)  # stdout is for eval: exports only
    for line in export_lines(state.endpoint, state.region):
        print(line)
    print(f"export CATDOG_STACK={state.name}")
    print(f"export CATDOG_BUCKET={state.bucket}")
    print(f"export CATDOG_TABLE={state.table}")
    print(f"export CATDOG_QUEUE_URL={state.queue_url}")
    return exit_codes.OK
