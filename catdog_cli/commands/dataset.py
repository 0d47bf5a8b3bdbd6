"""`catdog dataset export DEST`: a training data set made from the reviewed images."""

from __future__ import annotations

import argparse

from catdog.ranges import SEED, SHARE, number
from catdog_cli.commands.common import BUCKET_HELP, TABLE_HELP


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("dataset", help="training data sets made from the reviewed images")
    data_sub = data.add_subparsers(dest="dataset_command", metavar="{export}", required=True)
    export = data_sub.add_parser(
        "export", help="write {train,validation}/<label>/ from the human labels (catdog train --data takes "
                       "it)")
    export.add_argument("dest", metavar="DEST",
                        help="an empty or new directory, or s3://bucket/datasets/NAME/ (server-side copies)")
    export.add_argument("--include-confident", type=SHARE, metavar="P",
                        help="also the unreviewed images the model labelled with confidence >= P")
    export.add_argument("--validation-split", type=number(0, 1, high_open=True), default=0.2,
                        help="fraction of each label kept for validation (default 0.2)")
    export.add_argument("--seed", type=SEED, default=1337, help="seed of the split (default 1337)")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.add_argument("--bucket", help=BUCKET_HELP)
    export.add_argument("--table", help=TABLE_HELP)
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from catdog_cli import dataset  # the work, imported when the command runs (commands/__init__.py)

    return dataset.run_export(args.dest, include_confident=args.include_confident,
                              validation_split=args.validation_split, seed=args.seed, progress=not args.quiet,
                              table=args.table, bucket=args.bucket, stack=args.stack)
