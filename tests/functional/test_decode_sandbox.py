"""The decoder process: every corpus file ends as promised WITHIN the budgets, and the sandbox
survives whatever an image does to its child (killed, out of memory, crashed)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from catdog.errors import BadInputError
from catdog.sandbox import DecodeSandbox, SandboxError
from tests.support.hostile_corpus import HostileCase, build_corpus
from tests.support.images import jpeg_bytes

CASES = build_corpus()
DECODED = [c for c in CASES if c.decoded]  # the others' verdict is S3's: the bytes never reach a decoder
SIZE = (224, 224)
MAX_PIXELS = 50_000_000
CPU_BUDGET, MEMORY_MB = 2.0, 384
#: How far past the budget the parent may notice (it polls the child's CPU time every 20 ms).
CPU_SLACK = 0.25


@pytest.fixture(scope="module")
def sandbox() -> Iterator[DecodeSandbox]:
    with DecodeSandbox(cpu_seconds=CPU_BUDGET, memory_mb=MEMORY_MB, start=True, measure=True) as sb:
        yield sb


def _outcome(sb: DecodeSandbox, data: bytes) -> tuple[str, str | None]:
    try:
        sb.preprocess(data, SIZE, MAX_PIXELS)
    except BadInputError as exc:
        return "failed", exc.reason
    return "classified", None


@pytest.mark.parametrize("case", DECODED, ids=[c.name for c in DECODED])
def test_every_case_ends_as_promised_within_the_cpu_and_memory_budget(
        sandbox: DecodeSandbox, case: HostileCase) -> None:
    started = time.perf_counter()
    status, reason = _outcome(sandbox, case.data)
    wall = time.perf_counter() - started
    assert case.accepts(status, reason), f"{case.name} ({case.what}): got {status} {reason}"
    cost = sandbox.last_cost
    assert cost is not None
    assert cost.cpu_seconds <= CPU_BUDGET + CPU_SLACK, f"{case.name}: {cost}"
    assert cost.peak_mb <= MEMORY_MB, f"{case.name}: {cost}"
    assert wall < 30, f"{case.name}: {wall:.1f} s of wall time"
    # and the next image is served normally, by a fresh child if this one was killed
    assert _outcome(sandbox, jpeg_bytes()) == ("classified", None)


def test_a_cpu_bomb_is_stopped_at_the_budget_and_names_it(sandbox: DecodeSandbox) -> None:
    bomb = next(c for c in CASES if c.name == "png_many_chunks")
    restarts = sandbox.restarts
    with pytest.raises(BadInputError) as info:
        sandbox.preprocess(bomb.data, SIZE, MAX_PIXELS)
    assert info.value.reason == "cpu_budget" and "2 CPU-second budget" in str(info.value)
    assert sandbox.restarts == restarts + 1


def test_a_lower_cpu_budget_is_honoured() -> None:
    slow = next(c for c in CASES if c.name == "png_rgba_49mp")  # ~1 CPU-second to decode
    with DecodeSandbox(cpu_seconds=0.2, start=True, measure=True) as sb:
        with pytest.raises(BadInputError) as info:
            sb.preprocess(slow.data, SIZE, MAX_PIXELS)
        assert info.value.reason == "cpu_budget"
        assert sb.last_cost is not None and sb.last_cost.cpu_seconds < 0.2 + CPU_SLACK


def test_a_memory_bomb_fails_on_memory_and_the_child_starts_afresh(sandbox: DecodeSandbox) -> None:
    bomb = next(c for c in CASES if c.name == "webp_lossless_rgba_49mp")
    pid = sandbox.pid
    assert _outcome(sandbox, bomb.data) == ("failed", "memory_budget")
    assert _outcome(sandbox, jpeg_bytes()) == ("classified", None)
    assert sandbox.pid != pid


def test_a_decoder_that_crashes_is_the_image_s_fault_not_a_retry(sandbox: DecodeSandbox,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A segfault inside a C decoder (simulated: the child is killed by SIGSEGV mid-request)."""
    sandbox.preprocess(jpeg_bytes(), SIZE, MAX_PIXELS)
    pid = sandbox.pid
    assert pid is not None
    real_await = sandbox._await

    def crash_then_wait(proc, **kwargs):  # type: ignore[no-untyped-def]
        os.kill(proc.pid, signal.SIGSEGV)
        return real_await(proc, **kwargs)

    monkeypatch.setattr(sandbox, "_await", crash_then_wait)
    assert _outcome(sandbox, jpeg_bytes()) == ("failed", "decoder_crashed")
    monkeypatch.undo()
    assert _outcome(sandbox, jpeg_bytes()) == ("classified", None)


def test_a_decoder_that_cannot_start_is_our_problem_so_the_message_is_retried(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the child exits at once, saying nothing
    with DecodeSandbox(start=False) as sb, pytest.raises(SandboxError):
        sb.preprocess(jpeg_bytes(), SIZE, MAX_PIXELS)


def test_the_warm_path_adds_only_a_pipe_round_trip(sandbox: DecodeSandbox) -> None:
    """Not a timing target (see the benchmark): the child is reused, not restarted, per image."""
    pid = sandbox.pid
    for _ in range(20):
        sandbox.preprocess(jpeg_bytes((500, 375)), SIZE, MAX_PIXELS)
    assert sandbox.pid == pid


@pytest.mark.parametrize(("name", "reason"), [("png_many_chunks", "cpu_budget"),
                                              ("webp_lossless_rgba_49mp", "memory_budget")])
def test_thumbnails_are_made_within_the_same_budgets(sandbox: DecodeSandbox, name: str, reason: str) -> None:
    """The review page thumbnails uploads in the same child: a bomb costs it one placeholder."""
    bomb = next(c for c in CASES if c.name == name)
    with pytest.raises(BadInputError) as info:
        sandbox.thumbnail(bomb.data, 128, MAX_PIXELS)
    assert info.value.reason == reason
    thumb = sandbox.thumbnail(jpeg_bytes((256, 128)), 128, MAX_PIXELS)
    assert thumb.jpeg[:3] == b"\xff\xd8\xff" and (thumb.width, thumb.height) == (256, 128)
