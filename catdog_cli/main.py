"""`catdog`: one command for training, serving and running the pipeline locally.

Each group of subcommands lives next to the code it drives and registers itself here; heavy
imports (TensorFlow, moto) happen inside the command, so `catdog --help` stays instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from catdog.errors import CatdogError

Register = Callable[[argparse._SubParsersAction], None]


def _registrars() -> list[Register]:
    from catdog_cli import commands
    from training_job import cli as training_cli

    return [training_cli.register, commands.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="catdog",
        description="Classify images dropped into S3 with a Lambda; train and run it all locally.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    if not args.debug:  # "Found credentials in environment variables" on every client is noise
        for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("catdog: interrupted", file=sys.stderr)
        return 130
    except (CatdogError, ValueError, FileNotFoundError, PermissionError) as exc:
        if args.debug or os.environ.get("CATDOG_DEBUG"):
            raise
        print(f"catdog {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # anything else: still one line, with the way to see more
        if args.debug or os.environ.get("CATDOG_DEBUG"):
            raise
        print(f"catdog {args.command}: error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
