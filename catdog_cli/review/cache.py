"""Values the page recomputes at most every few seconds: each costs reads of S3 or whole partitions.

The counts and the reviewed accuracy are partition reads, the live pointer and the list of versions
are S3 reads; a page load must not repeat them, but a review, a promote or a rollback must show up
without a restart. One cache serves both (`clear` after a write).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class TtlCache:
    """Values recomputed at most every `ttl` seconds; safe to share between the server's threads."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._values: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, compute: Callable[[], T]) -> T:
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
        value = compute()
        with self._lock:
            self._values[key] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
