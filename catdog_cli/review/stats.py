"""The numbers at the top of the page and in the report: counts, reviewed accuracy, confidence.

Counts are `Select=COUNT` Queries on the view's own index (DynamoDB still reads the partition, so
the page caches them for a short while). The reviewed accuracy reads only reviewed items, through
the sparse `review-index`: it is the agreement of each item's current model answer with the human
label, grouped by the model version that gave that answer. A photo a version was trained on (its
manifest's `data.trained_on`, from the `catdog dataset export` it learned from) is left out of that
version's figure and counted as excluded: a model agrees with the photos it learned, so counting
them would report its memory, not its accuracy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from catdog.manifest import image_id
from catdog.results import UNKNOWN_LABEL
from catdog.status import Status
from catdog_cli.dynamo_items import plain_item
from catdog_cli.review.views import (
    LABEL_INDEX,
    STATUS_INDEX,
    Stream,
    View,
    reviewed_streams,
)

HISTOGRAM_BINS = 10


def count(ddb: Any, table: str, stream: Stream) -> int:
    total, start = 0, None
    while True:
        kwargs = stream.request(table, count=True)
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = ddb.query(**kwargs)
        total += int(response.get("Count", 0))
        start = response.get("LastEvaluatedKey")
        if not start:
            return total


def query_all(ddb: Any, table: str, stream: Stream,
              projection: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Every item of one stream (following pagination), optionally only some attributes."""
    kwargs = stream.request(table)
    if projection:
        aliases = {f"#p{i}": name for i, name in enumerate(projection)}
        kwargs["ExpressionAttributeNames"].update(aliases)
        kwargs["ProjectionExpression"] = ", ".join(aliases)
    for page in ddb.get_paginator("query").paginate(**kwargs):
        for item in page.get("Items", []):
            yield plain_item(item)


@dataclass
class Counts:
    classified: int
    failed: int
    unknown: int
    reviewed: int
    low: int
    threshold: float
    per_label: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.classified + self.failed


def counts(ddb: Any, table: str, labels: Sequence[str], threshold: float) -> Counts:
    classified, failed = Status.CLASSIFIED.value, Status.FAILED.value
    return Counts(
        classified=count(ddb, table, Stream(STATUS_INDEX, "status", classified)),
        failed=count(ddb, table, Stream(STATUS_INDEX, "status", failed)),
        unknown=count(ddb, table, Stream(LABEL_INDEX, "label", UNKNOWN_LABEL)),
        reviewed=sum(count(ddb, table, s) for s in reviewed_streams(labels)),
        low=count(ddb, table, View("low", threshold=threshold).streams(labels)[0]),
        threshold=threshold,
        per_label={label: count(ddb, table, Stream(LABEL_INDEX, "label", label)) for label in labels},
    )


@dataclass(frozen=True)
class VersionAccuracy:
    """How often one model version's answer agreed with the people who reviewed it."""

    version: str
    reviewed: int  # counted: reviewed photos this version answered, less the excluded ones
    agreed: int
    excluded: int = 0  # reviewed photos this version answered that it was trained on

    @property
    def accuracy(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None


def reviewed_accuracy(ddb: Any, table: str, labels: Sequence[str],
                      trained_on: Mapping[str, frozenset[str]] | None = None) -> list[VersionAccuracy]:
    """Per model version, how its answers agreed with the reviews; `trained_on`: version -> the
    `image_id`s it was trained on, left out and counted as excluded."""
    reviewed: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    excluded: Counter[str] = Counter()
    seen = ("image", "etag", "model_label", "model_version", "human_label", "status")
    for stream in reviewed_streams(labels):
        for item in query_all(ddb, table, stream, seen):
            if item.get("status") != Status.CLASSIFIED.value or not item.get("model_version"):
                continue  # a review outlives a failed re-read of the same photo; it has no answer
            version = str(item["model_version"])
            learned = (trained_on or {}).get(version)
            if learned and image_id(str(item.get("image")), str(item.get("etag") or "")) in learned:
                excluded[version] += 1
                continue
            reviewed[version] += 1
            agreed[version] += item.get("model_label") == item.get("human_label")
    return [VersionAccuracy(v, reviewed[v], agreed[v], excluded[v]) for v in sorted(reviewed | excluded)]


def confidence_histograms(ddb: Any, table: str, bins: int = HISTOGRAM_BINS) -> dict[str, list[int]]:
    """Per model label, how many classified items fall in each confidence bin of [0, 1]."""
    histograms: dict[str, list[int]] = {}
    stream = Stream(STATUS_INDEX, "status", Status.CLASSIFIED.value)
    for item in query_all(ddb, table, stream, ("model_label", "confidence")):
        label = str(item.get("model_label") or "?")
        confidence = float(item.get("confidence") or 0.0)
        row = histograms.setdefault(label, [0] * bins)
        row[min(bins - 1, max(0, int(confidence * bins)))] += 1
    return dict(sorted(histograms.items()))
