"""`catdog results`: the classified images in the results table."""

from __future__ import annotations

import argparse

from catdog.ranges import POSITIVE
from catdog.status import Status
from catdog_cli.display import RESULT_FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    res = sub.add_parser("results", help="list classified images from the results table")
    res.add_argument("--label", help="only this label (a Query on the label-index GSI)")
    res.add_argument("--since", metavar="T",
                     help="processed at/after T: ISO-8601 (2026-11-27T18:00:00Z) or an age (30m, 2h, 7d)")
    res.add_argument("--status", choices=[str(s) for s in Status],
                     help="only items with this status (classified, failed, or deleted for tombstones)")
    res.add_argument("--format", choices=RESULT_FORMATS, default="table", help="output format")
    res.add_argument("--limit", type=POSITIVE, default=None, metavar="N",
                     help="show at most N items, newest first (default: all)")
    res.add_argument("--table", help="table name (default: $CATDOG_TABLE, else the local stack's)")
    res.set_defaults(func=cmd_results)


def cmd_results(args: argparse.Namespace) -> int:
    from catdog_cli import results_query  # the work, imported when the command runs (commands/__init__.py)

    return results_query.run(label=args.label, since=args.since, status=args.status, fmt=args.format,
                             limit=args.limit, table=args.table, stack=args.stack)
