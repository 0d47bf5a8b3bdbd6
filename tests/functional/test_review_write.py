"""A person's review in the results table: conditional on the object version they saw, kept across a
re-classification of that version, cleared by a re-upload, and what `label` then answers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from catdog.classifier import Prediction
from catdog.results import ImageFacts, ResultsTable, ReviewResult
from catdog.s3_events import ObjectEvent
from catdog_local.provision import Stack
from tests.functional.conftest import REGION

KEY = "uploads/<b>tabby</b>.jpg"


def _event(stack: Stack, key: str = KEY) -> ObjectEvent:
    return ObjectEvent(bucket=stack.bucket, key=key, event_name="ObjectCreated:Put")


def _classify(table: ResultsTable, stack: Stack, etag: str, observed_at: str, label: str = "dog",
              version: str = "v1", key: str = KEY) -> None:
    other = "cat" if label == "dog" else "dog"
    facts = ImageFacts(etag=etag, size_bytes=10, observed_at=observed_at)
    table.put_classified(_event(stack, key), facts, Prediction(label, 0.8, {label: 0.8, other: 0.2}), version)


def _item(stack: Stack, key: str = KEY) -> dict[str, Any]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    return dict(table.get_item(Key={"image": f"s3://{stack.bucket}/{key}"})["Item"])


@pytest.fixture
def table(stack: Stack) -> ResultsTable:
    return ResultsTable.named(stack.table)


def test_a_review_sets_the_human_label_and_the_label_to_query_by(table: ResultsTable, stack: Stack) -> None:
    _classify(table, stack, "e1", "2026-01-01T00:00:00.000000Z")
    outcome = table.record_review(_event(stack).uri, etag="e1", human_label="cat", reviewer="ann")
    assert outcome.result is ReviewResult.WRITTEN
    item = _item(stack)
    assert (item["label"], item["human_label"], item["model_label"]) == ("cat", "cat", "dog")
    assert item["reviewed_by"] == "ann" and item["reviewed_at"].endswith("Z")


def test_a_review_of_an_older_version_is_refused_and_writes_nothing(table: ResultsTable,
                                                                    stack: Stack) -> None:
    _classify(table, stack, "e1", "2026-01-01T00:00:00.000000Z")
    _classify(table, stack, "e2", "2026-01-02T00:00:00.000000Z")  # re-uploaded while the page was open
    before = _item(stack)
    outcome = table.record_review(_event(stack).uri, etag="e1", human_label="cat", reviewer="ann")
    assert outcome.result is ReviewResult.STALE and outcome.item is not None and outcome.item["etag"] == "e2"
    assert _item(stack) == before


def test_unknown_image_and_failed_items_cannot_be_reviewed(table: ResultsTable, stack: Stack) -> None:
    missing = table.record_review(f"s3://{stack.bucket}/uploads/nope.jpg", etag="e", human_label="cat",
                                  reviewer="ann")
    assert missing.result is ReviewResult.MISSING
    assert boto3.client("dynamodb", region_name=REGION).scan(TableName=stack.table)["Count"] == 0
    table.put_failed(_event(stack), "not an image", "not_an_image", ImageFacts(etag="e1", size_bytes=3))
    failed = table.record_review(_event(stack).uri, etag="e1", human_label="cat", reviewer="ann")
    assert failed.result is ReviewResult.NOT_CLASSIFIED and "human_label" not in _item(stack)


def test_re_classifying_the_same_version_keeps_the_review(table: ResultsTable, stack: Stack) -> None:
    """A backfill with a new model answers again; the person's label still wins for querying."""
    _classify(table, stack, "e1", "2026-01-01T00:00:00.000000Z")
    table.record_review(_event(stack).uri, etag="e1", human_label="unknown", reviewer="ann")
    _classify(table, stack, "e1", "2026-01-03T00:00:00.000000Z", label="cat", version="v2")
    item = _item(stack)
    assert (item["label"], item["human_label"], item["model_label"], item["model_version"]) == (
        "unknown", "unknown", "cat", "v2")


def test_a_re_upload_clears_the_review(table: ResultsTable, stack: Stack) -> None:
    _classify(table, stack, "e1", "2026-01-01T00:00:00.000000Z")
    table.record_review(_event(stack).uri, etag="e1", human_label="cat", reviewer="ann")
    _classify(table, stack, "e2", "2026-01-02T00:00:00.000000Z", label="dog")
    item = _item(stack)
    assert item["label"] == "dog" and not {"human_label", "reviewed_at", "reviewed_by"} & set(item)


@pytest.mark.parametrize("label", ["", "   ", "x" * 65, "cat\x1b[2J"])
def test_malformed_labels_are_refused_before_any_write(table: ResultsTable, stack: Stack, label: str) -> None:
    _classify(table, stack, "e1", "2026-01-01T00:00:00.000000Z")
    with pytest.raises(ValueError):
        table.record_review(_event(stack).uri, etag="e1", human_label=label, reviewer="ann")
    assert "human_label" not in _item(stack)
