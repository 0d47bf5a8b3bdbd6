"""`catdog invoke -e EVENT`: the classify handler in-process on one event, like `sam local invoke`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    inv = sub.add_parser("invoke", help="run the classify handler in-process on an event (sam local invoke)")
    inv.add_argument("--event", "-e", required=True,
                     help="JSON event file, or - for stdin (catdog event ... | catdog invoke -e -); "
                          "events/NAME also finds the shipped samples outside the repository")
    inv.add_argument("--env-vars", "-n", help="JSON of environment variables, SAM's --env-vars format")
    inv.add_argument("--no-local", action="store_true",
                     help="ignore the local stack's endpoint and environment (use your AWS credentials)")
    inv.set_defaults(func=cmd_invoke)


def cmd_invoke(args: argparse.Namespace) -> int:
    from catdog_cli import invoke  # the work, imported when the command runs (commands/__init__.py)

    return invoke.run(args.event, env_vars=args.env_vars, use_local_stack=not args.no_local, stack=args.stack)
