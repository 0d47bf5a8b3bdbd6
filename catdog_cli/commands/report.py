"""`catdog report -o FILE`: the review page's gallery and summary as one static, self-contained file."""

from __future__ import annotations

import argparse
from pathlib import Path

from catdog.ranges import NON_NEGATIVE, SHARE, whole
from catdog_cli.commands.common import (
    BUCKET_HELP,
    DEFAULT_REQUIRE_SHADOW,
    TABLE_HELP,
    gate_flag,
    require_review_extra,
    require_shadow_flag,
)
from catdog_cli.review import DEFAULT_SIDE, DEFAULT_THRESHOLD, MAX_SIDE, MIN_SIDE


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="the review page's gallery and summary as one static, "
                                           "self-contained HTML file")
    report.add_argument("--output", "-o", type=Path, required=True, help="the HTML file to write")
    report.add_argument("--limit", type=NON_NEGATIVE, default=500,
                        help="newest images shown as tiles (default 500; 0: none, the summary only; the "
                             "summary covers the whole table)")
    report.add_argument("--threshold", type=SHARE, default=DEFAULT_THRESHOLD,
                        help=f"what counts as low confidence (default {DEFAULT_THRESHOLD})")
    report.add_argument("--thumb-size", type=whole(MIN_SIDE, MAX_SIDE), default=DEFAULT_SIDE,
                        help=f"thumbnail side in pixels ({MIN_SIDE}-{MAX_SIDE}, default {DEFAULT_SIDE})")
    require_shadow_flag(report, DEFAULT_REQUIRE_SHADOW, "while a shadow model is set, the report judges its "
                                                        "comparison as `promote VERSION --require-shadow N` "
                                                        "would")
    gate_flag(report)
    report.add_argument("--bucket", help=BUCKET_HELP)
    report.add_argument("--table", help=TABLE_HELP)
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    require_review_extra("report")
    from catdog_cli import report  # the work, imported when the command runs (commands/__init__.py)

    return report.run(args.output, limit=args.limit, threshold=args.threshold, thumb_size=args.thumb_size,
                      table=args.table, bucket=args.bucket, stack=args.stack,
                      require_shadow=args.require_shadow, min_accuracy=args.min_accuracy)
