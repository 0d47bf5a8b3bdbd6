"""`catdog models list|promote|rollback|shadow|compare`: the published model versions, which one is
live, and a candidate shadowing it."""

from __future__ import annotations

import argparse

from catdog.errors import CatdogError
from catdog_cli.commands.common import (
    BUCKET_HELP,
    DEFAULT_REQUIRE_SHADOW,
    TABLE_HELP,
    gate_flag,
    require_shadow_flag,
)


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the published model versions: list, promote, roll back, "
                                           "shadow a candidate")
    models_sub = models.add_subparsers(dest="models_command",
                                       metavar="{list,promote,rollback,shadow,compare}", required=True)
    listing = models_sub.add_parser("list", help="versions under models/, their accuracy, which is live, and "
                                                 "how each did on the reviewed images")
    listing.add_argument("--bucket", help=BUCKET_HELP)
    listing.add_argument("--table", help=TABLE_HELP + "; without one, no reviewed accuracy")
    listing.set_defaults(func=cmd_list)
    promote = models_sub.add_parser("promote", help="make a published version live, through the quality gate")
    promote.add_argument("version", metavar="VERSION", help="a version listed by `catdog models list`")
    gate_flag(promote)
    require_shadow_flag(promote, None, "also require a shadow comparison: at least N uploads the version "
                                        "answered as the shadow model, and no drop in reviewed accuracy "
                                        "against the live answers (needs the table)")
    promote.add_argument("--bucket", help=BUCKET_HELP)
    promote.add_argument("--table", help=TABLE_HELP + "; read only with --require-shadow")
    promote.set_defaults(func=cmd_promote)
    rollback = models_sub.add_parser("rollback", help="put back the version that was live before this one "
                                                      "(from models/history/)")
    rollback.add_argument("--bucket", help=BUCKET_HELP)
    rollback.set_defaults(func=cmd_rollback)
    shadow = models_sub.add_parser("shadow", help="run a candidate version beside the live model on every "
                                                  "upload, recording its answers without using them")
    shadow.add_argument("version", metavar="VERSION", nargs="?",
                        help="a published version that passes the quality gate (without one: show the "
                             "shadow model)")
    shadow.add_argument("--off", action="store_true", help="stop running the shadow model")
    gate_flag(shadow)
    shadow.add_argument("--bucket", help=BUCKET_HELP)
    shadow.set_defaults(func=cmd_shadow)
    compare = models_sub.add_parser("compare", help="how the shadow model answered beside the live one: "
                                                    "agreement, label changes, reviewed accuracy of both, "
                                                    "and the promote gate's verdict")
    compare.add_argument("version", metavar="VERSION", nargs="?",
                         help="a version that was the shadow model (default: the one that is now)")
    require_shadow_flag(compare, DEFAULT_REQUIRE_SHADOW, "the verdict is that of `promote VERSION "
                                                          "--require-shadow N`")
    gate_flag(compare)
    compare.add_argument("--bucket", help=BUCKET_HELP)
    compare.add_argument("--table", help=TABLE_HELP)
    compare.set_defaults(func=cmd_compare)


# Each handler imports its work module when it runs (see catdog_cli/commands/__init__.py).


def cmd_list(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions

    return model_versions.run_list(bucket=args.bucket, table=args.table, stack=args.stack)


def cmd_promote(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions

    return model_versions.run_promote(args.version, args.min_accuracy, bucket=args.bucket, stack=args.stack,
                                      require_shadow=args.require_shadow, table=args.table)


def cmd_rollback(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions

    return model_versions.run_rollback(bucket=args.bucket, stack=args.stack)


def cmd_shadow(args: argparse.Namespace) -> int:
    if args.off and args.version:
        raise CatdogError("give VERSION to set a shadow model, or --off to remove it, not both")
    from catdog_cli import model_shadow
    from catdog_cli.targets import models_repo

    repo, target = models_repo(args.bucket, args.stack)
    return model_shadow.run_shadow(repo, args.version, off=args.off, min_accuracy=args.min_accuracy,
                                   state=target.state)


def cmd_compare(args: argparse.Namespace) -> int:
    from catdog_cli import model_shadow

    return model_shadow.run_compare(args.version, require=args.require_shadow, min_accuracy=args.min_accuracy,
                                    bucket=args.bucket, table=args.table, stack=args.stack)
