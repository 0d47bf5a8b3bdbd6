"""Ctrl-C on the long-running commands, as real processes: each exits 130 and says what it left.

`local up` and `review` used to exit 0; an idle worker spoke of "the batch in progress", and one
stopped with SIGTERM sat out its 20 s long poll first. tests/unit/test_ctrl_c.py covers every
command's path through `main`; these send the signal to the real thing.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import DATA_ZIP
from tests.support.processes import CATDOG, follow, local_up, user_env

pytestmark = pytest.mark.slow


def _interruptible() -> None:
    """In the child, before exec: SIGINT back to its default. A shell starts background jobs with
    SIGINT ignored, children inherit that, and Python then never raises KeyboardInterrupt; a
    terminal's foreground command, which these tests stand for, has the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CATDOG, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=_interruptible)


def _signal_once_ready(proc: subprocess.Popen[str], ready: str, signum: int = signal.SIGINT,
                       wait_s: float = 120) -> tuple[int, str]:
    """Send `signum` once the output shows `ready`; (exit code, all its output). The timeouts only
    keep a hang from stalling the suite."""
    lines, seen, reader = follow(proc, ready)
    try:
        assert seen.wait(wait_s), f"never printed {ready!r}:\n{''.join(lines)}"
        proc.send_signal(signum)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    return code, "".join(lines)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return user_env(tmp_path / "stacks")


def test_local_up_in_the_foreground(env: dict[str, str]) -> None:
    proc = _start(env, "local", "up", "--port", "0")
    code, out = _signal_once_ready(proc, "Ctrl-C here stops the stack")
    assert code == 130, out
    assert "local stack 'catdog' stopped" in out and "catdog local up: interrupted" in out
    assert not list(Path(env["CATDOG_STATE_DIR"]).glob("*.json")), "its state file is gone"


def test_an_idle_worker_says_it_held_nothing(env: dict[str, str]) -> None:
    with local_up(env):
        proc = _start(env, "local", "worker")
        code, out = _signal_once_ready(proc, "Ctrl-C to stop")
    assert code == 130, out
    assert "interrupted while waiting for messages: none was in progress" in out
    assert "in progress, not acknowledged" not in out and "batch in progress" not in out


def test_a_worker_stopped_with_sigterm_stops_without_finishing_its_long_poll(env: dict[str, str]) -> None:
    with local_up(env):
        proc = _start(env, "local", "worker", "--wait", "20")
        code, out = _signal_once_ready(proc, "Ctrl-C to stop", signal.SIGTERM)
    assert code == 0, out
    assert "worker: stopping\n" in out and "worker: 0 batches, 0 messages done" in out


def test_review(env: dict[str, str]) -> None:
    with local_up(env):
        proc = _start(env, "review", "--port", "0")
        code, out = _signal_once_ready(proc, r"catdog review: http://")
    assert code == 130, out
    assert "catdog review: interrupted" in out and "Traceback" not in out


def test_train(env: dict[str, str], tmp_path: Path) -> None:
    """Interrupted while it computes the backbone's features: no traceback, nothing published."""
    proc = _start(env, "train", "--data", str(DATA_ZIP), "--limit", "20", "--output", str(tmp_path / "m"))
    code, out = _signal_once_ready(proc, r"^data: ", wait_s=300)
    assert code == 130, out
    assert out.rstrip().endswith("catdog train: interrupted") and "Traceback" not in out
    assert not (tmp_path / "m" / "manifest.json").exists()
