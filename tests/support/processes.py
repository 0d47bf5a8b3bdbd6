"""Real `catdog` server processes for integration tests: a `catdog local up`, a `catdog review`.

Started as a user would start them (the CLI, a state file, no AWS variables exported) and stopped
with SIGTERM, as Ctrl-C or a supervisor would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from catdog_local.state import LocalState

CATDOG = [sys.executable, "-m", "catdog_cli.main"]


def user_env(state_dir: Path) -> dict[str, str]:
    """A user's shell: no AWS endpoint or credentials exported, only where local stacks leave their
    state files (a folder of its own per test, so stacks of other tests are never found)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CATDOG_"))}
    env["CATDOG_STATE_DIR"] = str(state_dir)
    return env


def stop(proc: subprocess.Popen[str], timeout: float = 20) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


@contextmanager
def local_up(env: dict[str, str]) -> Iterator[LocalState]:
    """`catdog local up --port 0` (the stack `catdog`) until the block ends; yields its state."""
    state_file = Path(env["CATDOG_STATE_DIR"]) / "catdog.json"
    proc = subprocess.Popen([*CATDOG, "local", "up", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    try:
        while not state_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"catdog local up did not start: {stop(proc)}")
            time.sleep(0.2)
        yield LocalState.load(state_file)
    finally:
        stop(proc)


@contextmanager
def review_stack(tmp_path_factory: Any) -> Iterator[tuple[LocalState, dict[str, str]]]:
    """A `catdog local up` for the review page's process tests: (its state, the user's environment,
    with a thumbnail cache of its own)."""
    env = user_env(tmp_path_factory.mktemp("stacks"))
    env["CATDOG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    with local_up(env) as state:
        yield state, env


def follow(proc: subprocess.Popen[str], pattern: str) -> tuple[list[str], threading.Event, threading.Thread]:
    """Read `proc`'s output in a thread: (the lines so far, set once one matches `pattern`, the thread)."""
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if re.search(pattern, line):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, seen, reader


@contextmanager
def review_server(env: dict[str, str], *args: str) -> Iterator[tuple[str, list[str]]]:
    """`catdog review --port 0 ARGS` until the block ends; yields (its URL, its output so far)."""
    proc = subprocess.Popen([*CATDOG, "review", "--port", "0", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines, found, reader = follow(proc, r"catdog review: http://")
    try:
        if not found.wait(60):
            raise RuntimeError(f"catdog review did not print its URL: {''.join(lines)}")
        match = re.search(r"(http://[^\s]+)", "".join(lines))
        assert match is not None
        yield match[1], lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        reader.join(timeout=5)
