"""`catdog results`: read the results table, through the `label-index` GSI whenever a label is given.

A label query is a DynamoDB Query on (label, processed_at >= since), which reads only the matching
items; without a label there is no key to use, so it is a Scan with filters (fine for a local
table or a one-off look, costly on a big one -- the README says so).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import ClientError

from catdog.aws_errors import error_code
from catdog.config import DEFAULT_MODEL_KEY
from catdog_cli import exit_codes, results_table
from catdog_cli.display import RESULT_FORMATS, printable, safe_json
from catdog_cli.dynamo_items import plain_item, plain_value
from catdog_cli.results_hints import Where, hints, label_problem, live_labels
from catdog_cli.targets import ENV_BUCKET, ENV_QUEUE_URL, ENV_TABLE, client, resolve_name
from catdog_local.state import StackError

LABEL_INDEX = "label-index"
#: CSV has the same columns whatever the filter, so that files from different queries line up.
CSV_COLUMNS = ("image", "status", "label", "model_label", "top_label", "confidence", "novelty", "human_label",
               "reviewed_at", "reviewed_by", "model_version", "processed_at", "observed_at", "etag",
               "size_bytes", "width", "height", "format", "reason", "error", "scores", "shadow_label",
               "shadow_confidence", "shadow_version")
#: The table's width when stdout is no terminal (a file, a pipe) and COLUMNS is unset.
PIPED_WIDTH = 100
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def run(*, label: str | None, since: str | None, status: str | None, fmt: str, limit: int | None,
        table: str | None, stack: str | None) -> int:
    """Print the matching items, newest first; when there are none, say what may still be pending."""
    since_prefix = parse_since(since) if since else None
    target = resolve_name(table, ENV_TABLE, "table", "table", stack)
    state = target.state
    where = Where(bucket=state.bucket if state else os.environ.get(ENV_BUCKET),
                  queue_url=state.queue_url if state else os.environ.get(ENV_QUEUE_URL),
                  dlq_url=state.dlq_url if state else None,
                  model_key=state.model_key if state else DEFAULT_MODEL_KEY)
    try:
        items = list(fetch(client("dynamodb"), target.name, label=label, since=since_prefix, status=status))
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS"
            raise StackError(f"table {target.name!r} does not exist ({endpoint}, region "
                             f"{client('dynamodb').meta.region_name})") from None
        raise
    if label and not items and (problem := label_problem(label, live_labels(client("s3"), where))):
        raise ValueError(problem)
    items.sort(key=lambda i: str(i.get("processed_at", "")), reverse=True)
    if limit:
        items = items[:limit]
    print(render(items, fmt, width=table_width(sys.stdout)))
    if not items:
        for line in hints(client("s3"), client("sqs"), where):
            print(f"catdog results: {line}", file=sys.stderr)
    return exit_codes.OK


def table_width(stream: TextIO) -> int:
    """$COLUMNS when set, else the terminal's width, else (a file, a pipe) PIPED_WIDTH."""
    with contextlib.suppress(ValueError):
        if (columns := int(os.environ.get("COLUMNS", ""))) > 0:
            return columns
    if stream.isatty():
        with contextlib.suppress(OSError, ValueError):
            return os.get_terminal_size(stream.fileno()).columns
    return PIPED_WIDTH


def parse_since(text: str, now: datetime | None = None) -> str:
    """`30m`, `2h`, `7d` or an ISO-8601 time -> the UTC `YYYY-MM-DDTHH:MM:SS` prefix items sort by.

    The handler writes `processed_at` as ISO-8601 UTC, so a string `>=` on that prefix is a time
    comparison, and the prefix works whatever fraction or zone suffix the stored values carry.
    """
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"--since {text!r}: use an ISO-8601 time (2026-11-27T18:00:00Z) or an age like 30m, 2h, 7d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def build_request(
    table: str, *, label: str | None = None, since: str | None = None, status: str | None = None
) -> tuple[str, dict[str, Any]]:
    """("query"|"scan", kwargs for the boto3 client call). Pure, so the choice is unit-tested."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    filters: list[str] = []
    kwargs: dict[str, Any] = {"TableName": table}
    if status:
        names["#status"] = "status"
        values[":status"] = {"S": status}
        filters.append("#status = :status")
    if label:
        names["#label"] = "label"
        values[":label"] = {"S": label}
        key = "#label = :label"
        if since:
            names["#processed_at"] = "processed_at"
            values[":since"] = {"S": since}
            key += " AND #processed_at >= :since"
        kwargs.update(IndexName=LABEL_INDEX, KeyConditionExpression=key)
        operation = "query"
    else:
        if since:
            names["#processed_at"] = "processed_at"
            values[":since"] = {"S": since}
            filters.append("#processed_at >= :since")
        operation = "scan"
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
    if names:
        kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = values
    return operation, kwargs


def fetch(dynamodb: Any, table: str, **filters: str | None) -> Iterator[dict[str, Any]]:
    """Every matching item, following pagination, as plain dicts (newest first is left to the caller)."""
    operation, kwargs = build_request(table, **filters)
    paginator = dynamodb.get_paginator(operation)
    for page in paginator.paginate(**kwargs):
        for item in page.get("Items", []):
            yield plain_item(item)


def _cell(value: Any) -> str:
    """One table/CSV cell, terminal-safe: a key can carry escape sequences (see catdog_cli.display)."""
    value = plain_value(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict | list):
        return safe_json(value, sort_keys=True)
    return printable(value)


def render(items: Iterable[dict[str, Any]], fmt: str = "table", width: int | None = None) -> str:
    """`width`: what the table must fit in (catdog_cli/results_table.py); None: nothing is cut."""
    rows = list(items)
    if fmt == "json":
        return safe_json(plain_value(rows), indent=2, sort_keys=True)
    if fmt == "table":
        return results_table.table(rows, _cell, width)
    if fmt == "csv":
        cols = list(CSV_COLUMNS) + sorted({k for r in rows for k in r} - set(CSV_COLUMNS))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in cols})
        return out.getvalue().rstrip("\n")
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(RESULT_FORMATS)}")
