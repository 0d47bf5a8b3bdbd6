"""The review page's views against the template's table: paging over a few hundred items, small pages.

Every view must list each of its items exactly once, newest first, and nothing else, and do it
with Queries on the GSIs (the table has no Scan path here at all).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from catdog.classifier import Prediction
from catdog.results import ImageFacts, ResultsTable
from catdog.s3_events import ObjectEvent
from catdog_cli.review.stats import counts, reviewed_accuracy
from catdog_cli.review.views import View, ViewError, fetch_page
from catdog_local.provision import Stack, provision
from tests.functional.conftest import REGION
from tests.support.aws import fake_aws_env

LABELS = ["cat", "dog"]
N = 260


@pytest.fixture(scope="module")
def table() -> Iterator[tuple[Stack, list[dict[str, Any]]]]:
    """N answers (classified by two versions, some unknown, some failed), a few reviewed."""
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        fake_aws_env(mp, REGION)  # the aws_env fixture's own helper: this fixture lives per module
        stack = provision(stack_name="t", region=REGION)
        writer = ResultsTable.named(stack.table)
        rng = random.Random(7)
        for i in range(N):
            event = ObjectEvent(bucket=stack.bucket, key=f"uploads/{i:04d}.jpg",
                                event_name="ObjectCreated:Put")
            facts = ImageFacts(etag=f"e{i}", size_bytes=100)
            if i % 9 == 4:
                writer.put_failed(event, "not an image", "not_an_image", facts)
                continue
            label = rng.choice(["cat", "dog", "unknown"]) if i % 5 else "unknown"
            p = round(rng.uniform(0.5, 1.0), 3)
            prediction = Prediction(label, p, {"cat": p, "dog": 1 - p})
            writer.put_classified(event, facts, prediction, f"v{1 + i % 2}")
            if i % 11 == 0:
                human = rng.choice(["cat", "dog", "unknown"])
                writer.record_review(event.uri, etag=f"e{i}", human_label=human, reviewer="ann")
        items = boto3.resource("dynamodb", region_name=REGION).Table(stack.table).scan()["Items"]
        yield stack, [dict(i) for i in items]


def _walk(stack: Stack, view: View, size: int) -> tuple[list[dict[str, Any]], int]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    seen: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        page = fetch_page(ddb, stack.table, view.streams(LABELS), cursor, size)
        seen += page.items
        pages += 1
        assert pages < 200, "paging does not end"
        if page.cursor is None:
            return seen, pages
        cursor = page.cursor


EXPECTED: dict[str, tuple[View, Callable[[dict[str, Any]], bool], str]] = {
    "all": (View("all"), lambda i: i["status"] in ("classified", "failed"), "processed_at"),
    "failed": (View("failed"), lambda i: i["status"] == "failed", "processed_at"),
    "unknown": (View("unknown"), lambda i: i.get("label") == "unknown", "processed_at"),
    "label": (View("label", "dog"), lambda i: i.get("label") == "dog", "processed_at"),
    "model": (View("model", "v2"), lambda i: i.get("model_version") == "v2", "processed_at"),
    "low": (View("low", threshold=0.7),
            lambda i: i["status"] == "classified" and float(i["confidence"]) < 0.7, "processed_at"),
    "reviewed": (View("reviewed"), lambda i: "human_label" in i, "reviewed_at"),
    "unreviewed": (View("unreviewed"), lambda i: i["status"] == "classified" and "human_label" not in i,
                   "processed_at"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_item_of_a_view_exactly_once_newest_first(table: tuple[Stack, list[dict[str, Any]]],
                                                        name: str) -> None:
    stack, items = table
    view, belongs, sort_attr = EXPECTED[name]
    seen, pages = _walk(stack, view, size=7)
    images = [i["image"] for i in seen]
    expected = {i["image"] for i in items if belongs(i)}
    assert expected, f"the fixture has no {name} items: the test would prove nothing"
    assert len(images) == len(set(images)), "an item was shown twice"
    assert set(images) == expected
    order = [str(i[sort_attr]) for i in seen]
    assert order == sorted(order, reverse=True), "not newest first"
    assert pages >= len(expected) // 7


def test_a_filtered_view_with_a_small_read_budget_still_pages_exactly(
        table: tuple[Stack, list[dict[str, Any]]]) -> None:
    """Short pages are allowed when the filter drops most of what was read; losing or repeating is not."""
    stack, items = table
    ddb = boto3.client("dynamodb", region_name=REGION)
    view = View("low", threshold=0.55)
    expected = {i["image"] for i in items if i["status"] == "classified" and float(i["confidence"]) < 0.55}
    seen, cursor = [], None
    for _ in range(500):
        page = fetch_page(ddb, stack.table, view.streams(LABELS), cursor, 5, read_budget=1)
        assert page.queries <= 1
        seen += [i["image"] for i in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))


def test_a_cursor_from_another_view_or_a_forged_one_is_refused(
        table: tuple[Stack, list[dict[str, Any]]]) -> None:
    stack, _ = table
    ddb = boto3.client("dynamodb", region_name=REGION)
    page = fetch_page(ddb, stack.table, View("all").streams(LABELS), None, 5)
    assert page.cursor
    with pytest.raises(ViewError, match="does not belong to this view"):
        fetch_page(ddb, stack.table, View("failed").streams(LABELS), page.cursor, 5)
    for forged in ("not-a-cursor", "eyJ2IjogMX0", page.cursor[:-4] + "AAAA"):
        with pytest.raises(ViewError):
            fetch_page(ddb, stack.table, View("all").streams(LABELS), forged, 5)


def test_counts_and_reviewed_accuracy_per_version(table: tuple[Stack, list[dict[str, Any]]]) -> None:
    stack, items = table
    ddb = boto3.client("dynamodb", region_name=REGION)
    got = counts(ddb, stack.table, LABELS, 0.7)
    classified = [i for i in items if i["status"] == "classified"]
    assert (got.classified, got.failed) == (len(classified), N - len(classified))
    assert got.per_label == {label: sum(i.get("label") == label for i in items) for label in LABELS}
    assert got.unknown == sum(i.get("label") == "unknown" for i in items)
    assert got.reviewed == sum("human_label" in i for i in items)
    assert got.low == sum(float(i["confidence"]) < 0.7 for i in classified)
    accuracy = {a.version: (a.agreed, a.reviewed) for a in reviewed_accuracy(ddb, stack.table, LABELS)}
    reviewed = [i for i in classified if "human_label" in i]
    by_version = {v: [i for i in reviewed if i["model_version"] == v] for v in ("v1", "v2")}
    assert accuracy == {v: (sum(i["model_label"] == i["human_label"] for i in mine), len(mine))
                        for v, mine in by_version.items()}
