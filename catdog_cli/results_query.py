"""`catdog results`: read the results table, through the `label-index` GSI whenever a label is given.

A label query is a DynamoDB Query on (label, processed_at >= since), which reads only the matching
items; without a label there is no key to use, so it is a Scan with filters (fine for a local
table or a one-off look, costly on a big one -- the README says so).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from catdog_cli.display import printable, safe_json

LABEL_INDEX = "label-index"
FORMATS = ("table", "json", "csv")
#: Columns shown first, in this order; json/csv add every other attribute alphabetically.
PREFERRED_COLUMNS = (
    "image", "label", "model_label", "human_label", "confidence", "top_label", "novelty", "status",
    "processed_at", "model_version", "reason", "error",
)
#: What fits a terminal: the table format shows only these (json carries everything). `label` is what
#: queries use (a person's label when reviewed); `model_label` and `human_label` show both; `top_label`
#: says what an `unknown` image resembled most.
TABLE_COLUMNS = ("image", "label", "model_label", "human_label", "confidence", "top_label", "status",
                 "processed_at", "model_version", "reason")
#: CSV has the same columns whatever the filter, so that files from different queries line up.
CSV_COLUMNS = ("image", "status", "label", "model_label", "top_label", "confidence", "novelty", "human_label",
               "reviewed_at", "reviewed_by", "model_version", "processed_at", "observed_at", "etag",
               "size_bytes", "width", "height", "format", "reason", "error", "scores")
#: The table never squeezes a column below this many characters.
MIN_COLUMN = 12
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


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


def _plain(value: Any) -> Any:
    """DynamoDB's Decimal/sets -> JSON-friendly Python."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return value


def fetch(dynamodb: Any, table: str, **filters: str | None) -> Iterator[dict[str, Any]]:
    """Every matching item, following pagination, as plain dicts (newest first is left to the caller)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserialize = TypeDeserializer().deserialize
    operation, kwargs = build_request(table, **filters)
    paginator = dynamodb.get_paginator(operation)
    for page in paginator.paginate(**kwargs):
        for item in page.get("Items", []):
            yield {k: _plain(deserialize(v)) for k, v in item.items()}


def columns_for(items: list[dict[str, Any]]) -> list[str]:
    present = {k for item in items for k in item}
    first = [c for c in PREFERRED_COLUMNS if c in present]
    return first + sorted(present - set(first))


def _cell(value: Any) -> str:
    """One table/CSV cell, terminal-safe: a key can carry escape sequences (see catdog_cli.display)."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict | list):
        return safe_json(value, sort_keys=True)
    return printable(value)


def _shorten(text: str, width: int) -> str:
    """`s3://bucket/uploads/very/long/na…/photo.jpg`: keep both ends, they say the most."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _fit(cols: list[str], cells: list[list[str]], width: int | None) -> list[int]:
    """Column widths; with `width`, the widest columns give way (down to MIN_COLUMN) until it fits."""
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    if width is None:
        return widths
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    if excess > 0 and "image" in cols:  # the key is what is long; the other columns are short facts
        i = cols.index("image")
        widths[i] -= min(excess, max(0, widths[i] - 3 * MIN_COLUMN))
    while sum(widths) + 2 * (len(widths) - 1) > width:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break
        widths[widest] -= 1
    return widths


def render(items: Iterable[dict[str, Any]], fmt: str = "table", columns: list[str] | None = None,
           width: int | None = None) -> str:
    """`width`: the terminal's, for the table (values are shortened in the middle to fit)."""
    rows = list(items)
    if fmt == "json":
        return safe_json(_plain(rows), indent=2, sort_keys=True)
    cols = columns or columns_for(rows)
    if fmt == "table" and columns is None:
        cols = [c for c in cols if c in TABLE_COLUMNS]
    if fmt == "csv" and columns is None:
        cols = list(CSV_COLUMNS) + sorted({k for r in rows for k in r} - set(CSV_COLUMNS))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in cols})
        return out.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not rows:
        return "(no results)"
    cells = [[_cell(row.get(c)) for c in cols] for row in rows]
    widths = _fit(cols, cells, width)
    cells = [[_shorten(v, w) for v, w in zip(r, widths, strict=True)] for r in cells]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join([line.rstrip(), rule, *body, f"({len(rows)} items)"])
