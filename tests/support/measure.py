"""Peak memory and wall time of one call, including memory Pillow allocates in C.

`tracemalloc` sees only Python's allocator, and Pillow decodes into plain `malloc`ed buffers, so
on Linux we reset the kernel's peak-RSS mark (`/proc/self/clear_refs`, value 5) and read `VmHWM`
afterwards. Elsewhere we fall back to `tracemalloc` (numpy buffers only: a lower bound).
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Measured:
    result: Any
    error: BaseException | None
    seconds: float
    peak_mb: float
    method: str  # "VmHWM" or "tracemalloc"


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if not match:
        raise OSError(f"{field} not in {_STATUS}")
    return int(match.group(1))


def _can_reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        _status_kb("VmHWM")
    except OSError:
        return False
    return True


def measure(fn: Callable[[], Any]) -> Measured:
    """Run `fn` once; an exception it raises is returned, not raised, so callers can judge it."""
    use_rss = _can_reset_peak()
    if use_rss:
        base_kb = _status_kb("VmRSS")
    else:
        tracemalloc.start()
    result: Any = None
    error: BaseException | None = None
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:
        error = exc
    seconds = time.perf_counter() - started
    if use_rss:
        peak_mb = max(0, _status_kb("VmHWM") - base_kb) / 1024
    else:
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return Measured(result, error, seconds, peak_mb, "VmHWM" if use_rss else "tracemalloc")
