"""`catdog backfill s3://BUCKET[/PREFIX]`: queue existing images to (re)classify them."""

from __future__ import annotations

import argparse

from catdog.ranges import POSITIVE_NUMBER
from catdog_cli.commands.common import TABLE_HELP

#: How long `--changed-only` waits for the new answers by default, in seconds.
DEFAULT_TIMEOUT_S = 900.0


def register(sub: argparse._SubParsersAction) -> None:
    back = sub.add_parser("backfill", help="queue every object under s3://bucket/prefix to (re)classify it")
    back.add_argument("uri", metavar="s3://BUCKET[/PREFIX]",
                      help="objects to queue; a bare bucket means its upload prefix (uploads/)")
    back.add_argument("--queue-url", help="queue (default: $CATDOG_QUEUE_URL, else the local stack's)")
    back.add_argument("--quiet", action="store_true", help="no progress bar")
    back.add_argument("--changed-only", action="store_true",
                      help="only the images another model version than the live one answered; then wait for "
                           "the new answers and print how many labels changed, from what to what")
    back.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                      help="with --changed-only: wait for the answers (default; --no-wait queues and exits)")
    back.add_argument("--timeout", type=POSITIVE_NUMBER, default=DEFAULT_TIMEOUT_S, metavar="S",
                      help="with --changed-only: stop waiting after S seconds "
                           f"(default {DEFAULT_TIMEOUT_S:g})")
    back.add_argument("--table", help=f"with --changed-only: the {TABLE_HELP}")
    back.set_defaults(func=cmd_backfill)


def cmd_backfill(args: argparse.Namespace) -> int:
    # the work, imported when the command runs (commands/__init__.py)
    from catdog_cli import backfill, backfill_changed

    target = backfill.resolve(args.uri, args.queue_url, args.stack)
    if args.changed_only:
        return backfill_changed.run(target, table=args.table, stack=args.stack, wait_for_answers=args.wait,
                                    timeout_s=args.timeout, progress=not args.quiet)
    return backfill.run(target, progress=not args.quiet)
