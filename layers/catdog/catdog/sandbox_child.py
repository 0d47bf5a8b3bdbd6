"""The decoder process behind `catdog.sandbox.DecodeSandbox`: decode requests from a pipe, under limits.

Started as `python -E -s -c "..."` with the parent's `sys.path`; it imports Pillow and numpy,
caps its own address space (RLIMIT_AS) at its baseline plus the memory budget, announces itself,
then serves requests until its stdin closes. Each request gets a CPU limit (RLIMIT_CPU, a
backstop: the parent watches the CPU time more precisely and kills the process at the budget).
Nothing but length-prefixed frames is ever written to the protocol pipe: `print` goes to stderr.

Frames: 4-byte big-endian length + JSON header, then 4-byte length + payload bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

# Pillow, numpy and the decoders are imported inside `main` and the request handlers, not above:
# only after stdout is pointed at stderr (an import that prints must never corrupt a protocol frame)
# and before the memory cap is set (they are part of the baseline, not of an image's budget).
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
#: Room for the request and reply buffers on top of the decode budget.
SLACK_BYTES = 48 << 20


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """(header, payload), or None at end of stream."""
    raw = stream.read(4)
    if len(raw) < 4:
        return None
    header = json.loads(_read_exact(stream, struct.unpack(">I", raw)[0]))
    size = struct.unpack(">I", _read_exact(stream, 4))[0]
    return header, _read_exact(stream, size)


def write_frame(stream: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    encoded = json.dumps(header).encode()
    stream.write(struct.pack(">I", len(encoded)) + encoded + struct.pack(">I", len(payload)))
    stream.write(payload)
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the pipe closed mid-frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def status_kb(field: str) -> int:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit_memory(budget_bytes: int) -> int:
    """Cap the address space at what is mapped now + the budget + room for the request and reply
    buffers; returns the cap (0: not capped). Each request is held to its budget by `_request_cap`."""
    baseline = status_kb("VmSize") * 1024
    if not baseline:
        return 0
    cap = baseline + budget_bytes + SLACK_BYTES
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ValueError, OSError):
        return 0
    return cap


def _errno_cell() -> Any:
    """libc's errno of this thread, as a ctypes int (None where libc cannot be loaded)."""
    try:
        where = ctypes.CDLL(None).__errno_location
        where.restype = ctypes.POINTER(ctypes.c_int)
        return where().contents
    except (OSError, AttributeError):
        return None


_ERRNO = _errno_cell()


def _set_errno(value: int) -> None:
    if _ERRNO is not None:
        _ERRNO.value = value


def _get_errno() -> int:
    """The C library's errno: a decoder whose malloc failed under the memory cap leaves ENOMEM
    there, however it then words its error ("broken data", "could not create decoder object")."""
    return int(_ERRNO.value) if _ERRNO is not None else 0


@contextlib.contextmanager
def _request_cap(budget_bytes: int, hard: int) -> Iterator[None]:
    """While one image decodes, the address space may grow by `budget_bytes` from what is mapped now.

    The process-wide cap alone (`_limit_memory`) let a decode use its budget PLUS the buffers'
    slack and whatever the previous requests left mapped: a lossless WebP could peak at 422 MB
    above the baseline under a 384 MB budget. The soft limit is lowered for the decode and raised
    back to the hard cap afterwards, so that reading the next request still has its room.
    """
    mapped = status_kb("VmSize") * 1024
    if not hard or not mapped:
        yield
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (min(hard, mapped + budget_bytes), hard))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


#: What the child does: the model's input (the Lambda), or a small JPEG (the review page).
OPS = ("preprocess", "thumbnail")


def _run(op: str, header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
    """The successful reply of one request; the decoders' exceptions propagate to `_serve`."""
    from catdog.preprocess import preprocess_image, thumbnail_image

    if op == "thumbnail":
        thumb = thumbnail_image(payload, int(header["max_side"]), max_pixels=int(header["max_pixels"]),
                                quality=int(header.get("quality", 80)))
        return {"ok": True, "width": thumb.width, "height": thumb.height, "format": thumb.format}, thumb.jpeg
    height, width = (int(x) for x in header["size"])
    out = preprocess_image(payload, (height, width), max_pixels=int(header["max_pixels"]))
    pixels = out.pixels.astype("uint8")  # integral 0..255 floats: exact both ways
    return {"ok": True, "width": out.width, "height": out.height, "format": out.format,
            "shape": list(pixels.shape)}, pixels.tobytes()


def _serve(header: dict[str, Any], payload: bytes, budget_bytes: int,
           cap: int = 0) -> tuple[dict[str, Any], bytes]:
    from catdog.errors import BadInputError

    op = header.get("op")
    if op not in OPS:
        return {"ok": False, "error": f"unknown op {op!r}", "reason": "protocol"}, b""
    measure = bool(header.get("measure"))  # peak memory costs two /proc round trips: on request only
    baseline_kb = status_kb("VmRSS")
    if measure:
        _reset_peak()
    started = _cpu_seconds()
    memory_error = {"ok": False, "reason": "memory_budget",
                    "error": f"decoding needs more than the {budget_bytes >> 20} MB memory budget"}
    _set_errno(0)
    try:
        with _request_cap(budget_bytes, cap):
            reply, payload = _run(str(op), header, payload)
    except MemoryError:
        reply = dict(memory_error)
    except BadInputError as exc:
        reply = {"ok": False, "reason": exc.reason, "error": str(exc)}
    except Exception as exc:  # the decoders' fault, on this input: the input's fault
        reply = {"ok": False, "reason": "corrupt", "error": f"cannot decode: {type(exc).__name__}: {exc}"}
    out_of_memory = not reply["ok"] and _get_errno() == errno.ENOMEM
    peak_mb = max(0, status_kb("VmHWM") - baseline_kb) / 1024 if measure or not reply["ok"] else 0.0
    reply.update(cpu_seconds=round(_cpu_seconds() - started, 4), peak_mb=round(peak_mb, 1))
    if not reply["ok"] and (out_of_memory or peak_mb * (1 << 20) > 0.75 * budget_bytes):
        # An allocation failed inside a C decoder, which then reported "broken data" or similar
        # (libwebp: "failed to read next frame"); its ENOMEM is still in errno.
        reply.update(memory_error)
    return reply, payload if reply["ok"] else b""


def main(budget_mb: int) -> None:
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() can never corrupt a frame
    sys.stdout = sys.stderr
    protocol_in = os.fdopen(0, "rb")
    import numpy  # noqa: F401  (preloaded: part of the baseline, not of the first image's budget)
    from PIL import Image  # noqa: F401

    import catdog.preprocess  # noqa: F401

    budget_bytes = budget_mb << 20
    cap = _limit_memory(budget_bytes)
    write_frame(protocol_out, {"ready": True, "pid": os.getpid(), "address_space_cap": cap,
                               "baseline_mb": round(status_kb("VmRSS") / 1024, 1)})
    while (frame := read_frame(protocol_in)) is not None:
        header, payload = frame
        cpu_limit = int(_cpu_seconds() + float(header.get("cpu_seconds", 2.0))) + 2  # backstop only
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, resource.RLIM_INFINITY))
        started = time.perf_counter()
        reply, out = _serve(header, payload, budget_bytes, cap)
        reply["seconds"] = round(time.perf_counter() - started, 4)
        del payload
        write_frame(protocol_out, reply, out)
        if reply.get("reason") == "memory_budget":
            return  # a failed allocation may leave a decoder in a bad state: start afresh
