"""Decode untrusted uploads in a child process with hard CPU and memory budgets, reused across images.

A few kilobytes can cost minutes of CPU (a progressive JPEG whose scans repeat, megabytes of JPEG
fill bytes, RLE-compressed BMP, a PNG of millions of empty chunks) or more memory than the whole
function has (a tiny lossless RGBA WebP declaring 49 MP). Caps on bytes and pixels cannot see these
coming, and one such image would time the whole invocation out and send its batch-mates to the
DLQ. So the Lambda never decodes in its own process: `DecodeSandbox` hands the bytes to a child
that runs `catdog.preprocess.preprocess_image` with its address space capped (RLIMIT_AS) while
the parent watches the child's CPU time and kills it at the budget. Either way the image gets a
`failed` item whose reason names the budget (`cpu_budget`, `memory_budget`), and the next image
gets a fresh child.

Lambda has no /dev/shm, so `multiprocessing.Pool`/`Queue` fail there; a plain subprocess with
pipes works everywhere. The child is started once per container (while the model loads) and
costs a pipe round trip per image afterwards.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from catdog.errors import BadInputError, CatdogError
from catdog.preprocess import PreprocessedImage, Thumbnail
from catdog.sandbox_child import read_frame, write_frame

log = logging.getLogger(__name__)

DEFAULT_CPU_SECONDS = 2.0
DEFAULT_MEMORY_MB = 384
#: A child that uses no CPU for this long is stuck on something other than the image (or starved).
WALL_SECONDS_PER_CPU_SECOND = 8.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class SandboxError(CatdogError):
    """The decoder process itself failed (could not start, broke the protocol, was starved):
    our problem, not the image's, so the message is retried."""


@dataclass(frozen=True)
class Cost:
    """What the last request cost the child: CPU seconds and peak memory above its baseline."""

    cpu_seconds: float
    peak_mb: float
    seconds: float


def _child_command(memory_mb: int) -> list[str]:
    paths = [p for p in sys.path if p and Path(p).exists()]
    code = ("import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
            "from catdog.sandbox_child import main; main(int(sys.argv[2]))")
    return [sys.executable, "-E", "-s", "-c", code, json.dumps(paths), str(memory_mb)]


def _child_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a running child, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class DecodeSandbox:
    """One decoder child, restarted after it is killed. Not thread-safe: one request at a time."""

    def __init__(self, *, cpu_seconds: float = DEFAULT_CPU_SECONDS, memory_mb: int = DEFAULT_MEMORY_MB,
                 start: bool = False, measure: bool = False) -> None:
        """`measure`: also report each request's peak memory (`last_cost`), for benchmarks."""
        self.cpu_seconds = cpu_seconds
        self.memory_mb = memory_mb
        self.measure = measure
        self.last_cost: Cost | None = None
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._lock = threading.Lock()
        if start:
            self.start()

    # -- the child -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the child without waiting for it (its imports overlap the caller's own work)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
               "PYTHONDONTWRITEBYTECODE": "1"}
        self._proc = subprocess.Popen(_child_command(self.memory_mb), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=None, env=env, close_fds=True)
        self._ready = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _ensure_ready(self) -> subprocess.Popen[bytes]:
        self.start()
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        if not self._ready:
            frame = self._await(proc, timeout=60.0, cpu_budget=None)
            if not isinstance(frame, tuple) or not frame[0].get("ready"):
                self._kill()
                raise SandboxError("the decoder process did not start")
            self._ready = True
        return proc

    def _kill(self) -> None:
        proc, self._proc, self._ready = self._proc, None, False
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(Exception):
            proc.stdin.close()  # type: ignore[union-attr]  # the child ends at end of input
            proc.wait(timeout=2)
        if proc.poll() is None:
            self._proc = proc
            self._kill()

    def __enter__(self) -> DecodeSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a container that goes away takes its child along
        with contextlib.suppress(Exception):
            self.close()

    # -- requests ----------------------------------------------------------------------------------
    def preprocess(self, data: bytes, size: tuple[int, int], max_pixels: int) -> PreprocessedImage:
        """`preprocess_image(data, size, max_pixels=...)` in the child, within the budgets.

        Raises `BadInputError` for the image's faults (including the budgets) and `SandboxError`
        when the child could not do its job for reasons of its own.
        """
        if not data:
            raise BadInputError("empty file (0 bytes)", reason="empty")
        with self._lock:
            header = {"op": "preprocess", "size": list(size), "max_pixels": max_pixels,
                      "cpu_seconds": self.cpu_seconds, "measure": self.measure}
            reply, payload = self._request(header, data)
        if not reply.get("ok"):
            raise BadInputError(str(reply.get("error") or "cannot decode"), reason=str(reply.get("reason")))
        h, w, c = reply["shape"]
        pixels = np.frombuffer(payload, dtype=np.uint8).reshape(h, w, c).astype(np.float32)
        return PreprocessedImage(pixels=pixels, width=int(reply["width"]), height=int(reply["height"]),
                                 format=str(reply["format"]))

    def thumbnail(self, data: bytes, max_side: int, max_pixels: int, quality: int = 80) -> Thumbnail:
        """`thumbnail_image(data, max_side, ...)` in the child, within the same budgets: the review
        page shows uploads through the guards the Lambda decodes them with."""
        if not data:
            raise BadInputError("empty file (0 bytes)", reason="empty")
        with self._lock:
            header = {"op": "thumbnail", "max_side": max_side, "max_pixels": max_pixels, "quality": quality,
                      "cpu_seconds": self.cpu_seconds, "measure": self.measure}
            reply, payload = self._request(header, data)
        if not reply.get("ok"):
            raise BadInputError(str(reply.get("error") or "cannot decode"), reason=str(reply.get("reason")))
        return Thumbnail(jpeg=payload, width=int(reply["width"]), height=int(reply["height"]),
                         format=str(reply["format"]))

    def _request(self, header: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes]:
        for attempt in (1, 2):
            proc = self._ensure_ready()
            assert proc.stdin is not None
            try:
                write_frame(proc.stdin, header, data)  # type: ignore[arg-type]
            except (BrokenPipeError, OSError) as exc:
                # The child died before reading the image: not the image's doing. Start afresh once.
                self._kill()
                if attempt == 2:
                    raise SandboxError(f"the decoder process is not accepting work: {exc}") from exc
                continue
            return self._reply(proc)
        raise AssertionError("unreachable")

    def _reply(self, proc: subprocess.Popen[bytes]) -> tuple[dict[str, Any], bytes]:
        started = time.perf_counter()
        frame = self._await(proc, timeout=max(10.0, self.cpu_seconds * WALL_SECONDS_PER_CPU_SECOND),
                            cpu_budget=self.cpu_seconds)
        if isinstance(frame, _Verdict):
            self._kill()
            self.restarts += 1
            self.last_cost = Cost(frame.cpu_seconds, 0.0, time.perf_counter() - started)
            if frame.reason is None:
                raise SandboxError(frame.message)
            return {"ok": False, "reason": frame.reason, "error": frame.message}, b""
        if frame is None:
            raise SandboxError("the decoder process closed its output")
        reply, payload = frame
        self.last_cost = Cost(float(reply.get("cpu_seconds", 0.0)), float(reply.get("peak_mb", 0.0)),
                              float(reply.get("seconds", 0.0)))
        if reply.get("reason") == "memory_budget":
            self._kill()  # it ends itself after a failed allocation; do not wait for it
            self.restarts += 1
        return reply, payload

    def _await(self, proc: subprocess.Popen[bytes], *, timeout: float,
               cpu_budget: float | None) -> tuple[dict[str, Any], bytes] | _Verdict | None:
        """The child's next frame, unless it overspends its CPU budget, dies or goes quiet."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        base_cpu = _child_cpu_seconds(proc.pid) or 0.0
        deadline = time.monotonic() + timeout
        while True:
            readable, _, _ = select.select([fd], [], [], 0.02)
            if readable:
                try:
                    frame = read_frame(proc.stdout)  # type: ignore[arg-type]
                except (EOFError, ValueError, json.JSONDecodeError):
                    frame = None
                # end of output: the child died (how it died says whose fault it was)
                return frame if frame is not None else self._death_verdict(proc, base_cpu, cpu_budget)
            used = (_child_cpu_seconds(proc.pid) or base_cpu) - base_cpu
            if cpu_budget is not None and used > cpu_budget:
                return _Verdict("cpu_budget", f"decoding used more than the {cpu_budget:g} CPU-second budget "
                                              f"(stopped after {used:.2f} s)", used)
            if proc.poll() is not None:
                return self._death_verdict(proc, base_cpu, cpu_budget)
            if time.monotonic() > deadline:
                return _Verdict(None, f"the decoder process made no progress within {timeout:.0f} s "
                                      f"(it used {used:.2f} CPU s); retrying later", used)

    @staticmethod
    def _death_verdict(proc: subprocess.Popen[bytes], base_cpu: float, cpu_budget: float | None) -> _Verdict:
        code = proc.wait(timeout=5)
        if code == -signal.SIGXCPU and cpu_budget is not None:
            return _Verdict("cpu_budget", f"decoding used more than the {cpu_budget:g} CPU-second budget",
                            cpu_budget)
        if code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT, -signal.SIGILL,
                    -signal.SIGFPE):
            return _Verdict("decoder_crashed", f"the image decoder crashed on this file (signal {-code})",
                            0.0)
        return _Verdict(None, f"the decoder process exited unexpectedly (code {code})", 0.0)


@dataclass(frozen=True)
class _Verdict:
    """How a request ended without a reply: `reason` for the image's faults, None for ours."""

    reason: str | None
    message: str
    cpu_seconds: float
