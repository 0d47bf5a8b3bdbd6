"""Ctrl-C ends every command with exit 130, also one whose own code catches the interrupt to stop
cleanly (`local up` and `review` used to exit 0). Each command of the real parser is run through
`main` with its work replaced: the real processes are interrupted in tests/integration/test_ctrl_c.py.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from catdog_cli import exit_codes
from catdog_cli.main import build_parser, main
from tests.support.cli import COMMANDS, minimal_argv


def _patch_work(monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...], work: Any) -> None:
    handler = build_parser().parse_args(minimal_argv(path)).func
    monkeypatch.setattr(sys.modules[handler.__module__], handler.__name__, work)


@pytest.fixture(autouse=True)
def _python_handles_ctrl_c() -> Iterator[None]:
    """As under a terminal: a shell starts background jobs with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_walk_found_every_command() -> None:
    assert len(COMMANDS) > 20 and ("local", "up") in COMMANDS and ("review",) in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_ctrl_c_ends_the_command_with_130(path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C, delivered to this (the main) thread
        raise AssertionError("the interrupt did not stop the command")

    _patch_work(monkeypatch, path, interrupted)
    assert main(minimal_argv(path)) == exit_codes.INTERRUPTED
    assert capsys.readouterr().err.strip() == f"catdog {' '.join(path)}: interrupted"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_ctrl_c_that_the_command_catches_still_ends_it_with_130(
        path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A server loop that stops on KeyboardInterrupt and returns 0, as `local up` and `review` did."""
    def stops_cleanly(args: argparse.Namespace) -> int:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            print("stopped")
        return exit_codes.OK

    _patch_work(monkeypatch, path, stops_cleanly)
    assert main(minimal_argv(path)) == exit_codes.INTERRUPTED
    assert capsys.readouterr().err.strip() == f"catdog {' '.join(path)}: interrupted"


def test_a_command_that_reports_its_interruption_itself_is_not_told_twice(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`local worker` and `upload` say what they did before returning 130: main adds nothing."""
    def reports(args: argparse.Namespace) -> int:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            print("worker: interrupted while waiting for messages", file=sys.stderr)
        return exit_codes.INTERRUPTED

    _patch_work(monkeypatch, ("local", "worker"), reports)
    assert main(["local", "worker"]) == exit_codes.INTERRUPTED
    assert capsys.readouterr().err.strip() == "worker: interrupted while waiting for messages"


def test_without_ctrl_c_the_code_is_the_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_work(monkeypatch, ("local", "env"), lambda args: exit_codes.PARTIAL)
    assert main(["local", "env"]) == exit_codes.PARTIAL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "main restores Python's own"
