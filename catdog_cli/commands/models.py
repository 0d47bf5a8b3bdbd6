"""`catdog models list|promote|rollback`: the published model versions, and which one is live."""

from __future__ import annotations

import argparse

from catdog_cli.commands.common import BUCKET_HELP, TABLE_HELP
from training_job.settings import DEFAULT_MIN_ACCURACY, ENV_VARS, env_default, setting_type


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the published model versions: list, promote, roll back")
    models_sub = models.add_subparsers(dest="models_command", metavar="{list,promote,rollback}",
                                       required=True)
    listing = models_sub.add_parser("list", help="versions under models/, their accuracy, which is live, and "
                                                 "how each did on the reviewed images")
    listing.add_argument("--bucket", help=BUCKET_HELP)
    listing.add_argument("--table", help=TABLE_HELP + "; without one, no reviewed accuracy")
    listing.set_defaults(func=cmd_list)
    promote = models_sub.add_parser("promote", help="make a published version live, through the quality gate")
    promote.add_argument("version", metavar="VERSION", help="a version listed by `catdog models list`")
    promote.add_argument("--min-accuracy", type=setting_type("min_accuracy"),
                         default=env_default("min_accuracy"),
                         help=f"the quality gate [env {ENV_VARS['min_accuracy']}; "
                              f"default {DEFAULT_MIN_ACCURACY}]")
    promote.add_argument("--bucket", help=BUCKET_HELP)
    promote.set_defaults(func=cmd_promote)
    rollback = models_sub.add_parser("rollback", help="put back the version that was live before this one "
                                                      "(from models/history/)")
    rollback.add_argument("--bucket", help=BUCKET_HELP)
    rollback.set_defaults(func=cmd_rollback)


# Each handler imports its work module when it runs (see catdog_cli/commands/__init__.py).


def cmd_list(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions

    return model_versions.run_list(bucket=args.bucket, table=args.table, stack=args.stack)


def cmd_promote(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions

    return model_versions.run_promote(args.version, args.min_accuracy, bucket=args.bucket, stack=args.stack)


def cmd_rollback(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions

    return model_versions.run_rollback(bucket=args.bucket, stack=args.stack)
