"""`catdog event s3-put|sqs|remove KEY…`: print the event S3 or SQS would deliver for an object."""

from __future__ import annotations

import argparse

BUCKET_HELP = "bucket (default: $CATDOG_BUCKET, else the local stack's); s3://BUCKET/KEY also works"


def register(sub: argparse._SubParsersAction) -> None:
    event = sub.add_parser("event", help="print the event S3 or SQS would deliver for an object "
                                         "(for `sam local invoke -e -` or `catdog invoke -e -`)")
    event_sub = event.add_subparsers(dest="event_kind", metavar="{s3-put,sqs,remove}", required=True)
    put = event_sub.add_parser("s3-put", help="a direct S3 ObjectCreated:Put event, with the object's size "
                                              "and ETag from a HEAD")
    put.add_argument("keys", nargs=1, metavar="KEY", help="object key, e.g. uploads/cat.jpg")
    put.add_argument("--bucket", help=BUCKET_HELP)
    sqs = event_sub.add_parser("sqs", help="an SQS batch as Lambda's event source delivers it: one message "
                                           "per KEY, each holding S3's notification")
    sqs.add_argument("keys", nargs="+", metavar="KEY", help="object keys, e.g. uploads/cat.jpg")
    sqs.add_argument("--bucket", help=BUCKET_HELP)
    sqs.add_argument("--queue-arn", help="eventSourceARN (default: the local stack's queue)")
    remove = event_sub.add_parser("remove", help="a direct S3 ObjectRemoved:Delete event (no HEAD: "
                                                 "the object is gone)")
    remove.add_argument("keys", nargs=1, metavar="KEY", help="object key, e.g. uploads/cat.jpg")
    remove.add_argument("--bucket", help=BUCKET_HELP)
    event.set_defaults(func=cmd_event, queue_arn=None)


def cmd_event(args: argparse.Namespace) -> int:
    """The event on stdout (for `sam local invoke -e -` / `catdog invoke -e -`); notes on stderr."""
    from catdog_cli import event  # the work, imported when the command runs (commands/__init__.py)

    return event.run(args.event_kind, args.keys, bucket=args.bucket, queue_arn=args.queue_arn,
                     stack=args.stack)
