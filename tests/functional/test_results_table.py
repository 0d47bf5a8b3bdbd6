"""`catdog results` against the template's table, with items written by the handler's own writer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from catdog.classifier import Prediction
from catdog.results import ImageFacts, ResultsTable
from catdog.s3_events import ObjectEvent
from catdog_cli.main import main
from catdog_cli.results_query import fetch
from catdog_local.provision import Stack, provision
from tests.functional.conftest import REGION


@pytest.fixture
def stack(aws_env: str) -> Iterator[Stack]:
    with mock_aws():
        st = provision(stack_name="t", region=REGION)
        table = ResultsTable.named(st.table)
        facts = ImageFacts(etag="e", size_bytes=10)

        def event(key: str) -> ObjectEvent:
            return ObjectEvent(bucket=st.bucket, key=key, event_name="ObjectCreated:Put")

        def classified(key: str, label: str, p: float) -> None:
            other = "dog" if label == "cat" else "cat"
            table.put_classified(event(key), facts, Prediction(label, p, {label: p, other: 1 - p}), "v1")

        classified("uploads/cat 1.jpg", "cat", 0.91)
        classified("uploads/cat+2.jpg", "cat", 0.7)
        classified("uploads/dög.jpg", "dog", 0.99)
        table.put_failed(event("uploads/broken.jpg"), "not an image", "not_an_image")
        yield st


def _images(items: list[dict]) -> list[str]:
    return sorted(i["image"].rsplit("/", 1)[-1] for i in items)


def test_label_query_uses_the_gsi_and_returns_only_that_label(stack: Stack) -> None:
    items = list(fetch(boto3.client("dynamodb", region_name=REGION), stack.table, label="cat"))
    assert _images(items) == ["cat 1.jpg", "cat+2.jpg"]
    assert {i["confidence"] for i in items} == {0.91, 0.7}


def test_status_filter_finds_failures_which_have_no_label(stack: Stack) -> None:
    items = list(fetch(boto3.client("dynamodb", region_name=REGION), stack.table, status="failed"))
    assert _images(items) == ["broken.jpg"]
    assert items[0]["reason"] == "not_an_image" and "label" not in items[0]


def test_label_and_status_combine(stack: Stack) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    assert _images(list(fetch(ddb, stack.table, label="dog", status="classified"))) == ["dög.jpg"]
    assert list(fetch(ddb, stack.table, label="dog", status="failed")) == []


def test_since_in_the_future_finds_nothing_and_in_the_past_everything(stack: Stack) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    assert list(fetch(ddb, stack.table, label="cat", since="2999-01-01T00:00:00")) == []
    assert len(list(fetch(ddb, stack.table, since="2000-01-01T00:00:00"))) == 4


def test_cli_formats(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "--table", stack.table, "--label", "cat", "--format", "json"]) == 0
    assert _images(json.loads(capsys.readouterr().out)) == ["cat 1.jpg", "cat+2.jpg"]

    assert main(["results", "--table", stack.table, "--status", "failed", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["reason"] for r in rows] == ["not_an_image"]

    assert main(["results", "--table", stack.table, "--since", "1h"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"(4 items in s3://{stack.bucket}/)")


@pytest.mark.parametrize(("columns", "width"), [(None, 100), ("80", 80)])
def test_the_table_piped_or_redirected_fits_100_columns_or_columns(
        stack: Stack, columns: str | None, width: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """It printed 185 columns into a file or `less`; csv and json still carry every field in full."""
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["results", "--table", stack.table]) == 0  # stdout is captured: no terminal
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= width, "\n".join(lines)
    assert lines[0].split()[:2] == ["image", "label"] and "uploads/dög.jpg" in "\n".join(lines)
    assert main(["results", "--table", stack.table, "--format", "csv"]) == 0
    assert max(map(len, capsys.readouterr().out.splitlines())) > width
