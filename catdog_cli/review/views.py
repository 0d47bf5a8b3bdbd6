"""The page's views as DynamoDB Query streams, and paging over them, newest first.

A view is one or more descending Queries on a GSI ("all" is classified + failed, two partitions of
`status-index`; "reviewed" is one partition of `review-index` per label; "live vs shadow disagree"
is one partition of the sparse `shadow-index`, so it reads only disagreements). A page merges the
streams by their sort key and remembers, per stream, where it stopped: the cursor in the URL is
those ExclusiveStartKeys, opaque to the user. So a page view costs a few Queries of about one
page each, whatever the table's size, and every item appears exactly once across pages.

Filtered views (low confidence, not reviewed) read more than they show (DynamoDB applies the
filter after reading); a page stops after `read_budget` Queries and may then be short, and the next
page goes on from there. Items are only taken in true newest-first order: an item of one stream is
held back while another stream may still hold a newer one it has not read yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from catdog.results import UNKNOWN_LABEL, shadow_agreement
from catdog.status import Status
from catdog_cli.dynamo_items import plain_item
from catdog_cli.review import DEFAULT_THRESHOLD

LABEL_INDEX = "label-index"
STATUS_INDEX = "status-index"
MODEL_INDEX = "model-index"
REVIEW_INDEX = "review-index"
SHADOW_INDEX = "shadow-index"
#: Every GSI the page needs: `catdog review` says which one a table lacks (docs/deploying.md).
REQUIRED_INDEXES = (LABEL_INDEX, STATUS_INDEX, MODEL_INDEX, REVIEW_INDEX, SHADOW_INDEX)
KINDS = ("all", "unknown", "low", "failed", "label", "model", "reviewed", "unreviewed", "disagree")
#: Views whose value names something (a label, a version); `disagree`'s defaults to the shadow model.
_VALUED = ("label", "model", "disagree")
MAX_PAGE_SIZE = 200
#: Items a filtered view (low confidence, not reviewed) reads per request, per item it shows.
FILTERED_READ_FACTOR = 8
#: Longest cursor accepted from a URL (a few keys of at most ~1 KB each).
MAX_CURSOR_CHARS = 16_000


class ViewError(ValueError):
    """A view, value, threshold or cursor from the URL that cannot be used (HTTP 400)."""


@dataclass(frozen=True)
class Stream:
    """One descending Query: `index` where `key_attr` = `key_value`, optionally filtered."""

    index: str
    key_attr: str
    key_value: str
    sort_attr: str = "processed_at"
    filter: str | None = None
    names: tuple[tuple[str, str], ...] = ()
    values: tuple[tuple[str, Any], ...] = ()

    @property
    def key_attrs(self) -> tuple[str, ...]:
        """What an ExclusiveStartKey of this index consists of: the table's and the index's keys."""
        return ("image", self.key_attr, self.sort_attr)

    def request(self, table: str, limit: int = 0, start: dict[str, str] | None = None,
                count: bool = False) -> dict[str, Any]:
        """The kwargs of the boto3 client's `query` (pure: unit-tested without DynamoDB)."""
        names = {"#k": self.key_attr, **dict(self.names)}
        values: dict[str, Any] = {":k": {"S": self.key_value}, **dict(self.values)}
        kwargs: dict[str, Any] = {
            "TableName": table, "IndexName": self.index, "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if count:
            kwargs["Select"] = "COUNT"
        elif limit:
            kwargs["Limit"] = limit
        if self.filter:
            kwargs["FilterExpression"] = self.filter
        if start:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        return kwargs

    def describe(self) -> str:
        return f"{self.index}:{self.key_value}:{self.filter or ''}:{dict(self.values)}"


def _number(value: float) -> dict[str, str]:
    return {"N": str(Decimal(str(value)))}


@dataclass(frozen=True)
class View:
    """What the page lists: a kind, its label or version, and the low-confidence threshold."""

    kind: str = "all"
    value: str = ""
    threshold: float = DEFAULT_THRESHOLD

    @classmethod
    def parse(cls, kind: str | None, value: str | None = None,
              threshold: str | float | None = None) -> View:
        kind = kind or "all"
        if kind not in KINDS:
            raise ViewError(f"unknown view {kind!r}; choose one of {', '.join(KINDS)}")
        value = (value or "").strip()
        if kind in ("label", "model") and not value:
            raise ViewError(f"the {kind} view needs a value (which {kind})")
        if len(value) > 256 or not value.isprintable():
            raise ViewError("that label or version cannot be in the table")
        try:
            t = DEFAULT_THRESHOLD if threshold in (None, "") else float(threshold)
        except (TypeError, ValueError):
            raise ViewError(f"threshold {threshold!r} is not a number between 0 and 1") from None
        if not 0.0 < t <= 1.0:
            raise ViewError(f"threshold {t:g} is not between 0 (exclusive) and 1")
        return cls(kind, value if kind in _VALUED else "", round(t, 4))

    def streams(self, labels: Sequence[str]) -> list[Stream]:
        """The Queries behind this view; `labels` are every label a reviewer may have given."""
        classified, failed = Status.CLASSIFIED.value, Status.FAILED.value
        if self.kind == "all":
            return [Stream(STATUS_INDEX, "status", classified), Stream(STATUS_INDEX, "status", failed)]
        if self.kind == "failed":
            return [Stream(STATUS_INDEX, "status", failed)]
        if self.kind == "unknown":
            return [Stream(LABEL_INDEX, "label", UNKNOWN_LABEL)]
        if self.kind == "label":
            return [Stream(LABEL_INDEX, "label", self.value)]
        if self.kind == "model":
            return [Stream(MODEL_INDEX, "model_version", self.value)]
        if self.kind == "low":
            return [Stream(STATUS_INDEX, "status", classified, filter="#c < :t",
                           names=(("#c", "confidence"),), values=((":t", _number(self.threshold)),))]
        if self.kind == "disagree":
            if not self.value:
                raise ViewError("no shadow model is set (catdog models shadow VERSION): name the shadow "
                                "version whose disagreements to show (?view=disagree&value=VERSION)")
            # one partition of the sparse shadow-index: only the disagreements are read
            return [Stream(SHADOW_INDEX, "shadow_agreement", shadow_agreement(self.value, False))]
        if self.kind == "unreviewed":
            return [Stream(STATUS_INDEX, "status", classified, filter="attribute_not_exists(#h)",
                           names=(("#h", "human_label"),))]
        return reviewed_streams(labels)

    def title(self) -> str:
        return {"all": "all images", "unknown": "unknown", "failed": "failed",
                "low": f"confidence below {self.threshold:g}", "reviewed": "reviewed",
                "unreviewed": "not reviewed", "label": f"label {self.value}",
                "model": f"model {self.value}",
                "disagree": f"live vs shadow {self.value} disagree"}[self.kind]

    def query_args(self) -> dict[str, str]:
        """The URL parameters that name this view."""
        args = {"view": self.kind}
        if self.value:
            args["value"] = self.value
        if self.kind == "low":
            args["threshold"] = f"{self.threshold:g}"
        return args


def reviewed_streams(labels: Sequence[str]) -> list[Stream]:
    """Every reviewed item: one partition of the sparse review-index per label (and unknown)."""
    every = sorted({*labels, UNKNOWN_LABEL})
    return [Stream(REVIEW_INDEX, "human_label", label, sort_attr="reviewed_at") for label in every]


# ------------------------------------------------------------------------------------------ cursor


@dataclass
class StreamState:
    """Where one stream stands: after `start` (None: from the top), or `done`."""

    start: dict[str, str] | None = None
    done: bool = False


def _signature(streams: Sequence[Stream]) -> str:
    return hashlib.sha256("|".join(s.describe() for s in streams).encode()).hexdigest()[:16]


def encode_cursor(streams: Sequence[Stream], states: Sequence[StreamState]) -> str:
    data = {"v": _signature(streams), "s": [[st.start, st.done] for st in states]}
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, streams: Sequence[Stream]) -> list[StreamState]:
    """The states a cursor holds; a cursor for another view, or not a cursor at all, is a ViewError."""
    if not cursor:
        return [StreamState() for _ in streams]
    stale = ViewError("this page link does not belong to this view (or the labels changed since); "
                      "start again from the first page")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise stale
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise stale from None
    if not isinstance(data, dict) or data.get("v") != _signature(streams):
        raise stale
    raw = data.get("s")
    if not isinstance(raw, list) or len(raw) != len(streams):
        raise stale
    decoded = []
    for stream, entry in zip(streams, raw, strict=True):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], bool)):
            raise stale
        start, done = entry
        if start is not None and not (isinstance(start, dict) and set(start) == set(stream.key_attrs)
                                      and all(isinstance(v, str) and len(v) <= 2048 for v in start.values())):
            raise stale
        decoded.append(StreamState(start, done))
    return decoded


# ------------------------------------------------------------------------------------------ paging


@dataclass
class Page:
    items: list[dict[str, Any]]
    cursor: str | None  # the next page's, None on the last page
    queries: int = 0  # DynamoDB requests this page took
    read: int = 0  # items DynamoDB read (more than shown on filtered views)


@dataclass
class _Reader:
    stream: Stream
    state: StreamState
    buffer: list[dict[str, Any]] = field(default_factory=list)
    after: dict[str, str] | None = None  # the position after the buffer (DynamoDB's LastEvaluatedKey)
    fetched: bool = False
    resume: dict[str, str] | None = None  # where the buffer was read from
    taken: dict[str, str] | None = None  # key of the last item taken from the buffer

    def boundary(self) -> str | None:
        """The newest sort value this stream may still hold unread: None = no limit (never read)."""
        if not self.fetched or self.after is None:
            return None
        return self.after.get(self.stream.sort_attr, "")

    @property
    def exhausted(self) -> bool:
        return self.state.done or (self.fetched and self.after is None)

    def head_sort(self) -> str:
        return str(self.buffer[0].get(self.stream.sort_attr, ""))


def fetch_page(ddb: Any, table: str, streams: Sequence[Stream], cursor: str | None, size: int,
               read_budget: int = 12) -> Page:
    """One page of at most `size` items, newest first across `streams`, and the next page's cursor."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ViewError(f"page size {size} is outside 1..{MAX_PAGE_SIZE}")
    readers = [_Reader(s, st) for s, st in zip(streams, decode_cursor(cursor, streams), strict=True)]
    page = Page(items=[], cursor=None)

    def refill(reader: _Reader) -> None:
        start = reader.after if reader.fetched else reader.state.start
        # A filter drops most of what is read: read more per request so that a page fills in a few.
        limit = FILTERED_READ_FACTOR * size if reader.stream.filter else max(size - len(page.items), 10)
        response = ddb.query(**reader.stream.request(table, limit=limit, start=start))
        page.queries += 1
        page.read += int(response.get("ScannedCount", 0))
        reader.buffer = [plain_item(i) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        reader.after = {k: v["S"] for k, v in last.items()} if last else None
        reader.fetched = True
        reader.resume, reader.taken = start, None

    while len(page.items) < size:
        heads = [r for r in readers if r.buffer]
        best = max(heads, key=_Reader.head_sort, default=None)
        best_sort = best.head_sort() if best else None
        # A stream whose buffer ran dry may still hold something newer than the best head: read it first.
        blockers = [r for r in readers if not r.buffer and not r.exhausted
                    and (best_sort is None or (b := r.boundary()) is None or b > best_sort)]
        if blockers:
            if page.queries >= read_budget:
                break  # a short page; the cursor goes on from here
            for reader in blockers:
                refill(reader)
            continue
        if best is None:
            break  # every stream is exhausted
        item = best.buffer.pop(0)
        best.taken = {k: str(item[k]) for k in best.stream.key_attrs}
        page.items.append(item)

    states = []
    for reader in readers:
        if reader.buffer:  # read but not shown: continue after the last one shown
            states.append(StreamState(reader.taken or reader.resume, False))
        elif reader.fetched:
            states.append(StreamState(reader.after, reader.after is None))
        else:
            states.append(reader.state)
    if any(not st.done for st in states):
        page.cursor = encode_cursor(streams, states)
    return page
