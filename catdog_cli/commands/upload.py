"""`catdog upload PATH…`: photos under the bucket's upload prefix, which triggers classification."""

from __future__ import annotations

import argparse

from catdog.config import DEFAULT_UPLOAD_PREFIX
from catdog.ranges import POSITIVE


def register(sub: argparse._SubParsersAction) -> None:
    upload = sub.add_parser("upload", help="upload photos (files or directories) under the upload prefix")
    upload.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (recursive)")
    upload.add_argument("--prefix", default=DEFAULT_UPLOAD_PREFIX,
                        help=f"key prefix (default {DEFAULT_UPLOAD_PREFIX})")
    upload.add_argument("--bucket", help="bucket name (default: $CATDOG_BUCKET, else the local stack's)")
    upload.add_argument("--workers", type=POSITIVE, default=8, help="parallel uploads (default 8)")
    upload.add_argument("--quiet", action="store_true", help="no progress bar")
    upload.set_defaults(func=cmd_upload)


def cmd_upload(args: argparse.Namespace) -> int:
    from catdog_cli import upload  # the work, imported when the command runs (commands/__init__.py)

    return upload.run(args.paths, prefix=args.prefix, bucket=args.bucket, workers=args.workers,
                      progress=not args.quiet, stack=args.stack)
