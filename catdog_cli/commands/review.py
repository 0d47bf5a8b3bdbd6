"""`catdog review`: a local web page over the results table's photos, to look at and correct them.

Like `report`, `dataset` and `models`, it runs with the caller's own AWS credentials (it reads and
reviews; it is not the function), and finds its names by `catdog_cli.targets` like every command.
"""

from __future__ import annotations

import argparse

from catdog.ranges import PORT, SHARE, whole
from catdog_cli.commands.common import BUCKET_HELP, TABLE_HELP, host_name, require_review_extra
from catdog_cli.review import DEFAULT_THRESHOLD


def register(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser("review", help="a local web page to look at the classified photos and correct "
                                           "their labels")
    review.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this "
                                                            "machine only)")
    review.add_argument("--allow-host", action="append", default=[], metavar="NAME", type=host_name,
                        help="a name browsers may address the page by, besides localhost, 127.0.0.1, ::1 "
                             "and the --host address (repeatable; e.g. this machine's name when binding "
                             "0.0.0.0); requests for any other Host are refused")
    review.add_argument("--port", type=PORT, default=0, help="port (default 0: a free one, printed)")
    review.add_argument("--open", action="store_true", help="open the page in the default browser")
    review.add_argument("--reviewer", help="name recorded as reviewed_by (default: your AWS identity's ARN, "
                                           "else your user name)")
    review.add_argument("--page-size", type=whole(1, 200), default=60,
                        help="photos per page (1-200, default 60)")
    review.add_argument("--threshold", type=SHARE, default=DEFAULT_THRESHOLD,
                        help=f"the low-confidence view's default threshold (default {DEFAULT_THRESHOLD})")
    review.add_argument("--bucket", help=BUCKET_HELP)
    review.add_argument("--table", help=TABLE_HELP)
    review.set_defaults(func=cmd_review)


def cmd_review(args: argparse.Namespace) -> int:
    require_review_extra("review")
    from catdog_cli.review import server  # the work, imported when the command runs (commands/__init__.py)

    return server.run(table=args.table, bucket=args.bucket, stack=args.stack, reviewer=args.reviewer,
                      page_size=args.page_size, threshold=args.threshold, host=args.host, port=args.port,
                      open_browser=args.open, allow_hosts=args.allow_host)
