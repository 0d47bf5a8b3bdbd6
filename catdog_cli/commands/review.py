"""`catdog review|report|dataset|models`: look at the results, correct them, retrain, roll back.

Argument parsing only, registered by one registrar (`register`); the work lives in
`catdog_cli/review/`, `report.py`, `dataset.py` and `models_cmd.py`, imported when a command runs.
Names come from `catdog_cli.targets.resolve_name` like every other command's; these commands use
the caller's own AWS credentials (they read and review, they are not the function).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from catdog_cli.review import DEFAULT_THRESHOLD
from training_job.settings import DEFAULT_MIN_ACCURACY, ENV_VARS, env_default

BUCKET_HELP = "bucket (default: $CATDOG_BUCKET, else the local stack's)"
TABLE_HELP = "results table (default: $CATDOG_TABLE, else the local stack's)"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _names(args: argparse.Namespace) -> tuple[str, str]:
    """(table, bucket), each by flag > environment > the running local stack."""
    from catdog_cli.targets import ENV_BUCKET, ENV_TABLE, resolve_name

    table = resolve_name(args.table, ENV_TABLE, "table", "table", args.stack).name
    bucket = resolve_name(args.bucket, ENV_BUCKET, "bucket", "bucket", args.stack).name
    return table, bucket


def _need_flask(command: str) -> None:
    """The page and the report need Flask (and its Jinja2); a wheel installed without it says how."""
    import importlib.util

    from catdog.errors import CatdogError

    if importlib.util.find_spec("flask") is None or importlib.util.find_spec("jinja2") is None:
        raise CatdogError(f"catdog {command} needs Flask: pip install 'catdog[review]' (or make install)")


# -------------------------------------------------------------------------------------- review


def cmd_review(args: argparse.Namespace) -> int:
    _need_flask("review")
    from catdog_cli.display import printable
    from catdog_cli.review.server import ReviewSettings, build_service, serve

    table, bucket = _names(args)
    service = build_service(ReviewSettings(table=table, bucket=bucket, reviewer=args.reviewer,
                                           page_size=args.page_size, threshold=args.threshold))
    if args.host not in LOOPBACK:
        print(f"catdog review: listening on {printable(args.host)}: anyone who can reach it can read the "
              "photos and write reviews with your AWS credentials", file=sys.stderr)

    def ready(url: str) -> None:
        print(f"catdog review: {url}  (table {printable(table)}, bucket {printable(bucket)}, reviewer "
              f"{printable(service.reviewer)}; Ctrl-C to stop)", flush=True)

    serve(service, args.host, args.port, open_browser=args.open, on_ready=ready)
    return 0


# -------------------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    _need_flask("report")
    import boto3

    from catdog.model_repo import ModelRepo
    from catdog_cli.display import printable
    from catdog_cli.report import build_report, write_report
    from catdog_cli.review.catalog import Catalog
    from catdog_cli.review.server import preflight
    from catdog_cli.review.thumbnails import Thumbnailer

    if args.limit < 0:
        raise ValueError(f"--limit {args.limit}: give 0 (no tiles, the summary only) or more")
    table, bucket = _names(args)
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    preflight(ddb, s3, table, bucket)
    thumbnailer = Thumbnailer(s3, bucket, side=args.thumb_size)
    try:
        html = build_report(ddb, table, bucket, Catalog(ModelRepo(s3, bucket)), thumbnailer,
                            limit=args.limit, threshold=args.threshold)
    finally:
        thumbnailer.close()
    images = html.count('<figure class="tile')
    size = write_report(args.output, html)
    print(f"wrote {printable(args.output)}: {images} images ({size / 1e6:.1f} MB, self-contained, read-only) "
          f"from table {printable(table)}")
    return 0


# ------------------------------------------------------------------------------------- dataset


def cmd_dataset_export(args: argparse.Namespace) -> int:
    import boto3
    from tqdm import tqdm

    from catdog.model_repo import ModelRepo
    from catdog_cli import dataset
    from catdog_cli.display import printable
    from catdog_cli.review.catalog import Catalog
    from catdog_cli.review.server import preflight

    table, bucket = _names(args)
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    preflight(ddb, s3, table, bucket)
    dataset.check_empty(s3, args.dest)
    catalog = Catalog(ModelRepo(s3, bucket))
    live = catalog.live()
    manifest = catalog.manifest(live.version) if live else None
    labels = catalog.all_labels()
    folders = {label: dataset.model_folders(manifest).get(label, label) for label in labels}
    chosen = dataset.plan(dataset.collect(ddb, table, labels, args.include_confident), folders,
                          args.validation_split, args.seed)
    if not chosen:
        raise ValueError("nothing to export: no reviewed images"
                         + ("" if args.include_confident else " (add --include-confident P to take the "
                                                              "model's confident answers too)"))
    header = dataset.manifest_header(table, bucket, args.seed, args.validation_split, args.include_confident,
                                     folders)
    with tqdm(total=len(chosen), unit="image", desc="export", disable=args.quiet) as bar:
        report = dataset.export(s3, bucket, args.dest, chosen, header, progress=bar.update)
    written = len(chosen) - len(report.skipped)
    parts = [f"{split} " + ", ".join(f"{label} {n}" for label, n in sorted(c.items()))
             for split, c in sorted(report.counts().items())]
    print(f"exported {written} images to {printable(args.dest)}: {'; '.join(parts)} "
          f"(manifest {dataset.MANIFEST})")
    for image, why in sorted(report.skipped.items()):
        print(f"  SKIPPED {printable(image)}: {printable(why)}", file=sys.stderr)
    return 1 if report.skipped else 0


# -------------------------------------------------------------------------------------- models


def _repo(args: argparse.Namespace) -> Any:
    import boto3

    from catdog.model_repo import ModelRepo
    from catdog_cli.targets import ENV_BUCKET, resolve_name

    bucket = resolve_name(args.bucket, ENV_BUCKET, "bucket", "bucket", args.stack).name
    return ModelRepo(boto3.client("s3"), bucket, "models/")


def cmd_models_list(args: argparse.Namespace) -> int:
    import boto3

    from catdog.errors import CatdogError
    from catdog_cli import model_versions as models_cmd
    from catdog_cli.review.catalog import Catalog
    from catdog_cli.targets import ENV_TABLE, resolve_name

    repo = _repo(args)
    reviewed = None
    try:
        table = resolve_name(args.table, ENV_TABLE, "table", "table", args.stack).name
        reviewed = models_cmd.reviewed_by_version(boto3.client("dynamodb"), table, Catalog(repo).all_labels())
    except CatdogError as exc:
        print(f"catdog models: no reviewed accuracy ({exc})", file=sys.stderr)
    except Exception as exc:  # the table is optional here: a listing without it is still useful
        print(f"catdog models: no reviewed accuracy (the results table: {type(exc).__name__}: {exc})",
              file=sys.stderr)
    print(models_cmd.render(models_cmd.list_versions(repo, reviewed), with_reviews=reviewed is not None))
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions as models_cmd
    from catdog_cli.display import printable
    from catdog_cli.identity import caller_identity

    repo = _repo(args)
    pointer, previous = models_cmd.promote(repo, args.version, args.min_accuracy, caller_identity())
    if previous == pointer.version:
        print(f"{printable(pointer.version)} is already live; nothing changed")
        return 0
    print(f"promoted {printable(pointer.version)} (validation accuracy {pointer.accuracy}) through the "
          f"quality gate: live was {printable(previous or 'nothing')}, now {printable(pointer.version)} "
          f"({repo.uri(repo.pointer_key)})")
    print("re-classify what the previous model answered: catdog backfill --changed-only "
          f"s3://{repo.bucket}/uploads/")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    from catdog_cli import model_versions as models_cmd
    from catdog_cli.display import printable
    from catdog_cli.identity import caller_identity

    repo = _repo(args)
    restored, replaced = models_cmd.rollback(repo, caller_identity())
    print(f"rolled back: live was {printable(replaced.version)}, now {printable(restored.version)} "
          f"(the pointer as it was published at {printable(restored.published_at or '?')}, sha256 "
          f"{restored.model_sha256[:12] or '?'}…)")
    print("re-classify what the rolled-back model answered: catdog backfill --changed-only "
          f"s3://{repo.bucket}/uploads/")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser("review", help="a local web page to look at the classified photos and correct "
                                           "their labels")
    review.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this "
                                                            "machine only)")
    review.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed)")
    review.add_argument("--open", action="store_true", help="open the page in the default browser")
    review.add_argument("--reviewer", help="name recorded as reviewed_by (default: your AWS identity's ARN, "
                                           "else your user name)")
    review.add_argument("--page-size", type=int, default=60, help="photos per page (1-200, default 60)")
    review.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"the low-confidence view's default threshold (default {DEFAULT_THRESHOLD})")
    review.add_argument("--bucket", help=BUCKET_HELP)
    review.add_argument("--table", help=TABLE_HELP)
    review.set_defaults(func=cmd_review)

    report = sub.add_parser("report", help="the review page's gallery and summary as one static, "
                                           "self-contained HTML file")
    report.add_argument("--output", "-o", type=Path, required=True, help="the HTML file to write")
    report.add_argument("--limit", type=int, default=500,
                        help="newest images shown as tiles (default 500; the summary covers the whole table)")
    report.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"what counts as low confidence (default {DEFAULT_THRESHOLD})")
    report.add_argument("--thumb-size", type=int, default=160, help="thumbnail side in pixels (default 160)")
    report.add_argument("--bucket", help=BUCKET_HELP)
    report.add_argument("--table", help=TABLE_HELP)
    report.set_defaults(func=cmd_report)

    data = sub.add_parser("dataset", help="training data sets made from the reviewed images")
    data_sub = data.add_subparsers(dest="dataset_command", metavar="{export}", required=True)
    export = data_sub.add_parser(
        "export", help="write {train,validation}/<label>/ from the human labels (catdog train --data takes "
                       "it)")
    export.add_argument("dest", metavar="DEST",
                        help="an empty or new directory, or s3://bucket/datasets/NAME/ (server-side copies)")
    export.add_argument("--include-confident", type=float, metavar="P",
                        help="also the unreviewed images the model labelled with confidence >= P")
    export.add_argument("--validation-split", type=float, default=0.2,
                        help="fraction of each label kept for validation (default 0.2)")
    export.add_argument("--seed", type=int, default=1337, help="seed of the split (default 1337)")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.add_argument("--bucket", help=BUCKET_HELP)
    export.add_argument("--table", help=TABLE_HELP)
    export.set_defaults(func=cmd_dataset_export)

    models = sub.add_parser("models", help="the published model versions: list, promote, roll back")
    models_sub = models.add_subparsers(dest="models_command", metavar="{list,promote,rollback}",
                                       required=True)
    listing = models_sub.add_parser("list", help="versions under models/, their accuracy, which is live, and "
                                                 "how each did on the reviewed images")
    listing.add_argument("--bucket", help=BUCKET_HELP)
    listing.add_argument("--table", help=TABLE_HELP + "; without one, no reviewed accuracy")
    listing.set_defaults(func=cmd_models_list)
    promote = models_sub.add_parser("promote", help="make a published version live, through the quality gate")
    promote.add_argument("version", metavar="VERSION", help="a version listed by `catdog models list`")
    promote.add_argument("--min-accuracy", type=float, default=env_default("min_accuracy"),
                         help=f"the quality gate [env {ENV_VARS['min_accuracy']}; "
                              f"default {DEFAULT_MIN_ACCURACY}]")
    promote.add_argument("--bucket", help=BUCKET_HELP)
    promote.set_defaults(func=cmd_models_promote)
    rollback = models_sub.add_parser("rollback", help="put back the version that was live before this one "
                                                      "(from models/history/)")
    rollback.add_argument("--bucket", help=BUCKET_HELP)
    rollback.set_defaults(func=cmd_models_rollback)
