"""`catdog local|upload|invoke|event|results|backfill|demo`: argument parsing only; the work lives in
the module named after each command, imported when the command runs so `--help` stays instant."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from catdog.status import Status
from catdog_cli.display import printable, safe_json
from catdog_cli.local_stack import LOCAL_VISIBILITY_TIMEOUT_S
from catdog_cli.upload import DEFAULT_PREFIX
from catdog_local.moto_server import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION
from catdog_local.resources import TEMPLATE as DEFAULT_TEMPLATE


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


# -------------------------------------------------------------------------------------- local


def cmd_local_up(args: argparse.Namespace) -> int:
    from catdog_cli.local_stack import up

    return up(args)


def cmd_local_down(args: argparse.Namespace) -> int:
    from catdog_cli.local_stack import down

    return down(args)


def cmd_local_env(args: argparse.Namespace) -> int:
    from catdog_cli.local_stack import env

    return env(args)


def cmd_local_worker(args: argparse.Namespace) -> int:
    from catdog_cli.local_stack import worker

    return worker(args)


# ------------------------------------------------------------------------------------- upload


def cmd_upload(args: argparse.Namespace) -> int:
    from catdog_cli.targets import ENV_BUCKET, client, resolve_name
    from catdog_cli.upload import classified_prefix_note, hidden_files, plan_uploads, upload_items

    items = plan_uploads(args.paths, args.prefix)  # fails before resolving anything remote
    if not items:
        raise ValueError(f"nothing to upload in {' '.join(args.paths)} (no files; hidden ones are skipped)")
    target = resolve_name(args.bucket, ENV_BUCKET, "bucket", "bucket", args.stack)
    bucket = target.name
    env = target.state.function_environment if target.state else {}
    if note := classified_prefix_note(args.prefix, env.get("UPLOAD_PREFIX", DEFAULT_PREFIX)):
        print(f"catdog upload: {printable(note)}", file=sys.stderr)
    if skipped := hidden_files(args.paths):
        print(f"catdog upload: skipped {skipped} hidden file(s) (names starting with '.')", file=sys.stderr)
    report = upload_items(client("s3"), bucket, items, workers=args.workers, progress=not args.quiet)
    for key, error in sorted(report.failed.items()):
        print(f"  FAILED {printable(key)}: {printable(error)}", file=sys.stderr)
    where = f"s3://{bucket}/{printable(args.prefix)}"
    if report.interrupted:
        print(f"catdog upload: interrupted: {len(report.uploaded)} of {len(items)} files were uploaded to "
              f"{where}; the other {len(items) - len(report.uploaded)} were not sent", file=sys.stderr)
        return 130
    print(f"uploaded {len(report.uploaded)} files ({report.bytes / 1e6:.1f} MB) to {where}")
    return 1 if report.failed else 0


# ------------------------------------------------------------------------------------- invoke


def cmd_invoke(args: argparse.Namespace) -> int:
    from catdog_cli.invoke import all_gone, all_gone_message, read_event
    from catdog_cli.targets import connect
    from catdog_local.lambda_runtime import invoke, load_env_vars_file
    from catdog_local.resources import event_file
    from catdog_local.state import StackError, find_stack

    event = read_event(args.event)
    variables: dict[str, str] = {}
    if not args.no_local:
        try:
            state = connect(find_stack(args.stack))
        except StackError as exc:
            if not args.env_vars:
                raise StackError(f"{exc}; or give the function's environment with --env-vars FILE "
                                 "(SAM's format) and use --no-local to invoke against AWS") from None
        else:
            assert state is not None
            variables.update(state.function_environment)
    if args.env_vars:
        variables.update(load_env_vars_file(event_file(args.env_vars)))
    response = invoke(event, variables)
    print(safe_json(response, indent=2, default=str))
    if gone := all_gone(response):  # the handler did its job (exit 0), but the user should know
        print(all_gone_message(gone), file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------- event


def cmd_event(args: argparse.Namespace) -> int:
    """Print the event for `sam local invoke -e -` / `catdog invoke -e -`; notes go to stderr."""
    from catdog_cli.event import make_event, to_json

    keys = args.keys if isinstance(args.keys, list) else [args.keys]
    event, notes = make_event(args.event_kind, keys, bucket=args.bucket,
                              queue_arn=getattr(args, "queue_arn", None), stack=args.stack)
    for note in notes:
        print(f"catdog event: {printable(note)}", file=sys.stderr)
    print(to_json(event))
    return 0


# ------------------------------------------------------------------------------------ results


def cmd_results(args: argparse.Namespace) -> int:
    import shutil

    from botocore.exceptions import ClientError

    from catdog_cli.results_hints import Where, hints, label_problem, live_labels
    from catdog_cli.results_query import fetch, parse_since, render
    from catdog_cli.targets import ENV_BUCKET, ENV_QUEUE_URL, ENV_TABLE, client, resolve_name
    from catdog_local.state import StackError

    since = parse_since(args.since) if args.since else None
    target = resolve_name(args.table, ENV_TABLE, "table", "table", args.stack)
    state = target.state
    where = Where(bucket=state.bucket if state else os.environ.get(ENV_BUCKET),
                  queue_url=state.queue_url if state else os.environ.get(ENV_QUEUE_URL),
                  dlq_url=state.dlq_url if state else None,
                  model_key=state.function_environment.get("MODEL_KEY", "models/latest.json") if state
                  else "models/latest.json")
    try:
        items = list(fetch(client("dynamodb"), target.name, label=args.label, since=since,
                           status=args.status))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS"
            raise StackError(f"table {target.name!r} does not exist ({endpoint}, region "
                             f"{client('dynamodb').meta.region_name})") from None
        raise
    if args.label and not items and (problem := label_problem(args.label, live_labels(client("s3"), where))):
        raise ValueError(problem)
    items.sort(key=lambda i: str(i.get("processed_at", "")), reverse=True)
    if args.limit:
        items = items[: args.limit]
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    print(render(items, args.format, width=width))
    if not items:
        for line in hints(client("s3"), client("sqs"), where):
            print(f"catdog results: {line}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------------- backfill


def cmd_backfill(args: argparse.Namespace) -> int:
    from catdog.s3uri import S3Uri
    from catdog_cli.backfill import backfill
    from catdog_cli.targets import ENV_QUEUE_URL, client, connect_for_uri, region_of, resolve_name

    uri = S3Uri.parse(args.uri)
    target = resolve_name(args.queue_url, ENV_QUEUE_URL, "queue_url", "queue", args.stack)
    connect_for_uri(str(uri), args.stack)
    prefix = (target.state.function_environment if target.state else {}).get("UPLOAD_PREFIX", DEFAULT_PREFIX)
    if not uri.key:
        uri = S3Uri(uri.bucket, prefix)  # the whole bucket would queue models/... too
    elif not uri.key.startswith(prefix):
        raise ValueError(f"{uri}: the function classifies only objects under {prefix}; backfill "
                         f"s3://{uri.bucket}/{prefix} or a folder inside it")
    if args.changed_only:
        from catdog_cli import backfill_changed

        return backfill_changed.run(args, uri, target.name, region_of(target.state))
    report = backfill(client("s3"), client("sqs"), uri, target.name, region=region_of(target.state),
                      progress=not args.quiet)
    print(f"queued {report.queued} objects from {printable(uri)} on {target.name}")
    for key, error in sorted(report.failed.items()):
        print(f"  FAILED {printable(key)}: {printable(error)}", file=sys.stderr)
    return 1 if report.failed else 0


# --------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from catdog_cli.demo import DemoConfig, run_demo

    return run_demo(DemoConfig.from_args(args))


# ----------------------------------------------------------------------------------- register


def register(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="run the pipeline's AWS pieces on this machine (moto)")
    local_sub = local.add_subparsers(dest="local_command", metavar="{up,down,worker,env}", required=True)

    up = local_sub.add_parser("up", help="start a local AWS endpoint with the template's resources")
    up.add_argument("--port", type=int, default=DEFAULT_PORT,
                    help=f"listen on 127.0.0.1:PORT (default {DEFAULT_PORT}; 0 picks a free port, printed "
                         "and written to the state file)")
    up.add_argument("--host", default=DEFAULT_HOST,
                    help=f"address to bind (default {DEFAULT_HOST}; 0.0.0.0 lets `sam local invoke`'s "
                         "container reach it as host.docker.internal - anyone on your network could too)")
    up.add_argument("--region", default=DEFAULT_REGION,
                    help=f"region name for the resources (default {DEFAULT_REGION})")
    up.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template to provision from")
    up.add_argument("--stack-name", default="catdog",
                    help="stands in for AWS::StackName and names this local stack (default catdog); "
                         "stacks with different names run side by side")
    up.add_argument("--visibility-timeout", type=int, default=LOCAL_VISIBILITY_TIMEOUT_S, metavar="S",
                    help=f"the queue's visibility timeout (default {LOCAL_VISIBILITY_TIMEOUT_S} s: a worker "
                         "killed mid-batch leaves its messages invisible this long; the template's 720 s "
                         "suits Lambda)")
    up.add_argument("--detach", action="store_true",
                    help="start in the background and return once it serves (stop it with catdog local down)")
    up.set_defaults(func=cmd_local_up)

    down = local_sub.add_parser("down", help="stop a running local stack (--stack NAME; default: the one "
                                             "running)")
    down.set_defaults(func=cmd_local_down)

    worker = local_sub.add_parser(
        "worker", help="poll the local queue and call the handler like Lambda's SQS event source"
    )
    worker.add_argument("--once", action="store_true", help="process one batch (or one empty poll) and exit")
    worker.add_argument("--until-empty", action="store_true",
                        help="exit when the queue is drained (every message deleted or moved to the DLQ)")
    worker.add_argument("--retry-delay", type=int, default=None, metavar="S",
                        help="make failed messages visible again after S seconds instead of the queue's "
                             "visibility timeout (a local shortcut; AWS waits the full timeout)")
    worker.add_argument("--batch-size", type=int, default=None, help="override the template's BatchSize")
    worker.add_argument("--batch-window", type=float, default=None, metavar="S",
                        help="override the template's MaximumBatchingWindowInSeconds")
    worker.add_argument("--wait", type=int, default=20, metavar="S",
                        help="long-poll seconds (0-20, default 20)")
    worker.add_argument("--log-format", choices=("file", "json"), default="file",
                        help="the function's own JSON logs: to a file (default; the path is printed) or "
                             "json on stderr")
    worker.add_argument("--log-file", metavar="PATH",
                        help="where the function's logs go (default ~/.cache/catdog/logs/worker-STACK.log)")
    worker.set_defaults(func=cmd_local_worker)

    env = local_sub.add_parser(
        "env", help='print the exports for the running local stack: eval "$(catdog local env)"'
    )
    env.set_defaults(func=cmd_local_env)

    upload = sub.add_parser("upload", help="upload photos (files or directories) under the upload prefix")
    upload.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (recursive)")
    upload.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"key prefix (default {DEFAULT_PREFIX})")
    upload.add_argument("--bucket", help="bucket name (default: $CATDOG_BUCKET, else the local stack's)")
    upload.add_argument("--workers", type=int, default=8, help="parallel uploads (default 8)")
    upload.add_argument("--quiet", action="store_true", help="no progress bar")
    upload.set_defaults(func=cmd_upload)

    inv = sub.add_parser("invoke", help="run the classify handler in-process on an event (sam local invoke)")
    inv.add_argument("--event", "-e", required=True,
                     help="JSON event file, or - for stdin (catdog event ... | catdog invoke -e -); "
                          "events/NAME also finds the shipped samples outside the repository")
    inv.add_argument("--env-vars", "-n", help="JSON of environment variables, SAM's --env-vars format")
    inv.add_argument("--no-local", action="store_true",
                     help="ignore the local stack's endpoint and environment (use your AWS credentials)")
    inv.set_defaults(func=cmd_invoke)

    event = sub.add_parser("event", help="print the event S3 or SQS would deliver for an object "
                                         "(for `sam local invoke -e -` or `catdog invoke -e -`)")
    event_sub = event.add_subparsers(dest="event_kind", metavar="{s3-put,sqs,remove}", required=True)
    bucket_help = "bucket (default: $CATDOG_BUCKET, else the local stack's); s3://BUCKET/KEY also works"
    put = event_sub.add_parser("s3-put", help="a direct S3 ObjectCreated:Put event, with the object's size "
                                              "and ETag from a HEAD")
    put.add_argument("keys", metavar="KEY", help="object key, e.g. uploads/cat.jpg")
    put.add_argument("--bucket", help=bucket_help)
    sqs = event_sub.add_parser("sqs", help="an SQS batch as Lambda's event source delivers it: one message "
                                           "per KEY, each holding S3's notification")
    sqs.add_argument("keys", nargs="+", metavar="KEY", help="object keys, e.g. uploads/cat.jpg")
    sqs.add_argument("--bucket", help=bucket_help)
    sqs.add_argument("--queue-arn", help="eventSourceARN (default: the local stack's queue)")
    remove = event_sub.add_parser("remove", help="a direct S3 ObjectRemoved:Delete event (no HEAD: "
                                                 "the object is gone)")
    remove.add_argument("keys", metavar="KEY", help="object key, e.g. uploads/cat.jpg")
    remove.add_argument("--bucket", help=bucket_help)
    event.set_defaults(func=cmd_event)

    res = sub.add_parser("results", help="list classified images from the results table")
    res.add_argument("--label", help="only this label (a Query on the label-index GSI)")
    res.add_argument("--since", metavar="T",
                     help="processed at/after T: ISO-8601 (2026-11-27T18:00:00Z) or an age (30m, 2h, 7d)")
    res.add_argument("--status", choices=[str(s) for s in Status],
                     help="only items with this status (classified, failed, or deleted for tombstones)")
    res.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    res.add_argument("--limit", type=positive_int, default=None, metavar="N",
                     help="show at most N items, newest first (default: all)")
    res.add_argument("--table", help="table name (default: $CATDOG_TABLE, else the local stack's)")
    res.set_defaults(func=cmd_results)

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
    back.add_argument("--timeout", type=float, default=900, metavar="S",
                      help="with --changed-only: stop waiting after S seconds (default 900)")
    back.add_argument("--table", help="with --changed-only: the results table (default: $CATDOG_TABLE, else "
                                      "the local stack's)")
    back.set_defaults(func=cmd_backfill)

    from catdog_cli.commands.demo import add_demo_arguments

    demo = sub.add_parser("demo", help="train, publish and classify the validation photos, all locally")
    add_demo_arguments(demo)
    demo.set_defaults(func=cmd_demo)
