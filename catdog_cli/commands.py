"""`catdog local|upload|invoke|event|results|backfill|demo`: argument parsing only; the work lives in
the module named after each command, imported when the command runs so `--help` stays instant."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from catdog.status import Status
from catdog_cli.display import printable, safe_json
from catdog_cli.upload import DEFAULT_PREFIX
from catdog_local.moto_server import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION
from catdog_local.resources import TEMPLATE as DEFAULT_TEMPLATE

# ----------------------------------------------------------------------------------- local up


def cmd_local_up(args: argparse.Namespace) -> int:
    from catdog_local.moto_server import LocalAws, apply_endpoint_env, export_lines
    from catdog_local.provision import provision
    from catdog_local.state import LocalState, clear

    with LocalAws(port=args.port, host=args.host) as aws:
        apply_endpoint_env(aws.endpoint, args.region)
        stack = provision(template_path=args.template, stack_name=args.stack_name, region=args.region)
        state = LocalState.from_stack(stack, aws.endpoint)
        path = state.save()
        print(f"local AWS (moto) listening on {aws.endpoint}", flush=True)
        print(f"  bucket  {state.bucket}   (upload under s3://{state.bucket}/uploads/)")
        print(f"  queue   {state.queue_url}")
        print(f"  dlq     {state.dlq_url}   (after {state.max_receive_count} receives)")
        print(f"  table   {state.table}   (GSI label-index)")
        print(f"  state   {path}")
        print("point the aws CLI, SAM or scripts at it with:")
        for line in export_lines(aws.endpoint, args.region):
            print(f"  {line}")
        print("then, in another terminal: catdog local worker   (Ctrl-C here stops everything)", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            current = LocalState.load_optional(path)
            if current is not None and current.pid == state.pid and current.endpoint == state.endpoint:
                clear(path)
            print("local AWS stopped", flush=True)
    return 0


# ---------------------------------------------------------------------------------- local env


def cmd_local_env(args: argparse.Namespace) -> int:
    """`eval "$(catdog local env)"`: any tool in this shell (aws, sam, catdog publish) uses the stack."""
    from catdog_local.moto_server import export_lines
    from catdog_local.state import LocalState

    state = LocalState.load()
    for line in export_lines(state.endpoint, state.region):
        print(line)
    print(f"export CATDOG_BUCKET={state.bucket}")
    print(f"export CATDOG_TABLE={state.table}")
    print(f"export CATDOG_QUEUE_URL={state.queue_url}")
    return 0


# ------------------------------------------------------------------------------- local worker


def cmd_local_worker(args: argparse.Namespace) -> int:
    from catdog_cli.targets import use_state_endpoint
    from catdog_local.state import LocalState
    from catdog_local.worker import worker_for

    state = LocalState.load()
    use_state_endpoint(state)
    worker = worker_for(state, batch_size=args.batch_size, batching_window_s=args.batch_window,
                        retry_delay_s=args.retry_delay, wait_time_s=args.wait)
    mapping = worker.mapping
    print(
        f"worker: polling {state.queue_url} (batch {mapping.batch_size}, "
        f"window {mapping.batching_window_s:g}s, "
        f"DLQ after {state.max_receive_count} receives); Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )

    def report(batch: Any) -> None:
        extra = f" (handler raised {batch.handler_error})" if batch.handler_error else ""
        print(f"batch: {batch.received} messages, {batch.succeeded} done, {batch.failed} to retry{extra}",
              flush=True)

    try:
        stats = worker.run(once=args.once, until_empty=args.until_empty, on_batch=report)
    except KeyboardInterrupt:
        return 130
    print(
        f"worker: {stats.batches} batches, {stats.received} messages, {stats.succeeded} done, "
        f"{stats.failed} failed deliveries in {stats.seconds:.1f}s",
        file=sys.stderr,
    )
    return 0


# ------------------------------------------------------------------------------------- upload


def cmd_upload(args: argparse.Namespace) -> int:
    from catdog_cli.targets import ENV_BUCKET, client, resolve_name
    from catdog_cli.upload import classified_prefix_note, hidden_files, plan_uploads, upload_items

    items = plan_uploads(args.paths, args.prefix)  # fails before resolving anything remote
    if not items:
        raise ValueError(f"nothing to upload in {' '.join(args.paths)} (no files; hidden ones are skipped)")
    target = resolve_name(args.bucket, ENV_BUCKET, "bucket", "bucket")
    bucket = target.name
    env = target.state.function_environment if target.state else {}
    if note := classified_prefix_note(args.prefix, env.get("UPLOAD_PREFIX", DEFAULT_PREFIX)):
        print(f"catdog upload: {printable(note)}", file=sys.stderr)
    if skipped := hidden_files(args.paths):
        print(f"catdog upload: skipped {skipped} hidden file(s) (names starting with '.')", file=sys.stderr)
    report = upload_items(client("s3"), bucket, items, workers=args.workers, progress=not args.quiet)
    print(f"uploaded {len(report.uploaded)} files ({report.bytes / 1e6:.1f} MB) to "
          f"s3://{bucket}/{printable(args.prefix)}")
    for key, error in sorted(report.failed.items()):
        print(f"  FAILED {printable(key)}: {printable(error)}", file=sys.stderr)
    return 1 if report.failed else 0


# ------------------------------------------------------------------------------------- invoke


def cmd_invoke(args: argparse.Namespace) -> int:
    from catdog_cli.invoke import all_gone, all_gone_message, read_event
    from catdog_cli.targets import use_state_endpoint
    from catdog_local.lambda_runtime import invoke, load_env_vars_file
    from catdog_local.resources import event_file
    from catdog_local.state import LocalState

    event = read_event(args.event)
    variables: dict[str, str] = {}
    state = LocalState.load_optional()
    if state is not None and not args.no_local:
        use_state_endpoint(state)
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
                              queue_arn=getattr(args, "queue_arn", None))
    for note in notes:
        print(f"catdog event: {printable(note)}", file=sys.stderr)
    print(to_json(event))
    return 0


# ------------------------------------------------------------------------------------ results


def cmd_results(args: argparse.Namespace) -> int:
    from catdog_cli.results_query import fetch, parse_since, render
    from catdog_cli.targets import ENV_TABLE, client, resolve_name

    since = parse_since(args.since) if args.since else None
    table = resolve_name(args.table, ENV_TABLE, "table", "table").name
    items = list(fetch(client("dynamodb"), table, label=args.label, since=since, status=args.status))
    items.sort(key=lambda i: str(i.get("processed_at", "")), reverse=True)
    if args.limit:
        items = items[: args.limit]
    print(render(items, args.format))
    return 0


# ----------------------------------------------------------------------------------- backfill


def cmd_backfill(args: argparse.Namespace) -> int:
    from catdog.s3uri import S3Uri
    from catdog_cli.backfill import backfill
    from catdog_cli.targets import ENV_QUEUE_URL, client, region_of, resolve_name

    uri = S3Uri.parse(args.uri)
    target = resolve_name(args.queue_url, ENV_QUEUE_URL, "queue_url", "queue")
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
    local_sub = local.add_subparsers(dest="local_command", metavar="{up,worker,env}", required=True)

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
    up.add_argument("--stack-name", default="catdog", help="stands in for AWS::StackName (default catdog)")
    up.set_defaults(func=cmd_local_up)

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
    res.add_argument("--limit", type=int, default=0, help="show at most N items, newest first")
    res.add_argument("--table", help="table name (default: $CATDOG_TABLE, else the local stack's)")
    res.set_defaults(func=cmd_results)

    back = sub.add_parser("backfill", help="queue every image under s3://bucket/prefix to (re)classify it")
    back.add_argument("uri", metavar="s3://BUCKET/PREFIX")
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

    from catdog_cli.demo_args import add_demo_arguments

    demo = sub.add_parser("demo", help="train, publish and classify the validation photos, all locally")
    add_demo_arguments(demo)
    demo.set_defaults(func=cmd_demo)
