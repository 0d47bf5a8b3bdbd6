"""What native code (LiteRT, TensorFlow) writes to file descriptor 2, redirected or filtered.

C and C++ libraries print straight to fd 2, whatever Python's `sys.stderr` or a log level says:
LiteRT announces its XNNPACK delegate on every model load, TensorFlow its CPU features at import.
The redirection happens once, here, for the classifier, the trainer and the local worker.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def native_stderr_to(fd: int) -> Iterator[None]:
    """Inside, file descriptor 2 is `fd`; restored on the way out, whatever happens."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def native_stderr_without(noise: Callable[[str], bool]) -> Iterator[None]:
    """What is written to fd 2 inside reaches stderr afterwards, less the lines `noise` picks."""
    with tempfile.TemporaryFile() as captured:
        try:
            with native_stderr_to(captured.fileno()):
                yield
        finally:
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not noise(line):
                    print(line, file=sys.stderr)
