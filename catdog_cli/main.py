"""`catdog`: one command for training, serving and running the pipeline locally.

The parser is built from `catdog_cli.commands` (one module per group of subcommands); each command
imports the module that does its work only when it runs, so `catdog --help` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from catdog_cli import exit_codes
from catdog_cli.commands import REGISTRARS
from catdog_cli.display import printable
from catdog_cli.parser import CatdogParser, subcommand_path
from training_job.quiet import configure_logging

DEBUG_HELP = "show full tracebacks on errors (also CATDOG_DEBUG=1)"
STACK_HELP = ("the local stack to use, by name (also $CATDOG_STACK; default: the only one running, or "
              "'catdog')")


class _VersionAction(argparse.Action):
    """`--version`: computed when asked (it may look up the live model), then exit like argparse's."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from catdog_cli.version import version_text  # it may look up a stack: imported like a command's work

        print(version_text(), flush=True)  # stdout, as argparse's own version action does
        parser.exit()


def _add_globals_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--debug` and `--stack` after any subcommand too (`catdog upload x --debug`). SUPPRESS as the
    default, so a subcommand that was not given one leaves the top-level value alone."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "--debug" not in child._option_string_actions:
                    child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                       help=DEBUG_HELP)
                if "--stack" not in child._option_string_actions:
                    child.add_argument("--stack", metavar="NAME", default=argparse.SUPPRESS, help=STACK_HELP)
                _add_globals_everywhere(child)


def build_parser() -> CatdogParser:
    parser = CatdogParser(
        prog="catdog",
        description="Classify images dropped into S3 with a Lambda; train and run it all locally.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--stack", metavar="NAME", default=None, help=STACK_HELP)
    parser.add_argument("--version", action=_VersionAction,
                        help="print the package version and, when a stack is reachable, its live model")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS:
        register(sub)
    _add_globals_everywhere(parser)
    return parser


@contextlib.contextmanager
def ctrl_c_recorded() -> Iterator[list[int]]:
    """Python's own Ctrl-C (a KeyboardInterrupt), which also notes that it came: a command that
    catches the interrupt to stop cleanly (a server's loop, a worker) still ends as interrupted, so
    every command exits 130 on Ctrl-C whatever its own code does with it. Where SIGINT is ignored (a
    background job) or handled otherwise, nothing changes."""
    seen: list[int] = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield seen
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every way it can end maps to one exit code (catdog_cli/exit_codes.py)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(args.debug or os.environ.get("CATDOG_DEBUG"))
    configure_logging(args.debug)
    command = " ".join(["catdog", *(name for name, _ in subcommand_path(parser, args))])
    with ctrl_c_recorded() as ctrl_c:
        code = _run(args, command, debug)
    if ctrl_c and code != exit_codes.INTERRUPTED:  # the command caught it and ended as if done
        print(f"{command}: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    return code


def _run(args: argparse.Namespace, command: str, debug: bool) -> int:
    try:
        result = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `catdog results | head`: the reader has gone; say nothing more and do not let Python
        # complain when it flushes stdout at exit
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_codes.OK
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        code, message = exit_codes.classify(exc)
        if debug and code != exit_codes.INTERRUPTED:
            raise
        kind = "" if code == exit_codes.INTERRUPTED else "error: "
        print(f"{command}: {kind}{printable(message)}", file=sys.stderr)
        return code
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
