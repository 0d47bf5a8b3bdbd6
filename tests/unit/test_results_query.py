"""`catdog results`: label queries go through the GSI, everything else is a filtered Scan."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catdog_cli.results_query import build_request, parse_since, render, table_width

NOW = datetime(2026, 11, 27, 18, 30, 0, tzinfo=UTC)


def test_label_uses_the_label_index_with_since_as_range_key() -> None:
    op, kw = build_request("t", label="cat", since="2026-11-27T00:00:00")
    assert op == "query"
    assert kw["IndexName"] == "label-index"
    assert kw["KeyConditionExpression"] == "#label = :label AND #processed_at >= :since"
    assert kw["ExpressionAttributeValues"] == {":label": {"S": "cat"}, ":since": {"S": "2026-11-27T00:00:00"}}
    assert "FilterExpression" not in kw


def test_status_is_a_filter_on_the_query() -> None:
    op, kw = build_request("t", label="dog", status="classified")
    assert op == "query"
    assert kw["FilterExpression"] == "#status = :status"  # `status` is a DynamoDB reserved word
    assert kw["ExpressionAttributeNames"]["#status"] == "status"


def test_without_label_it_scans_with_filters() -> None:
    op, kw = build_request("t", since="2026-11-27T00:00:00", status="failed")
    assert op == "scan"
    assert "IndexName" not in kw
    assert kw["FilterExpression"] == "#status = :status AND #processed_at >= :since"


def test_no_filters_is_a_plain_scan() -> None:
    assert build_request("t") == ("scan", {"TableName": "t"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", "2026-11-27T18:00:00"),
        ("2h", "2026-11-27T16:30:00"),
        ("1d", "2026-11-26T18:30:00"),
        ("2026-11-27T10:00:00Z", "2026-11-27T10:00:00"),
        ("2026-11-27T12:00:00+02:00", "2026-11-27T10:00:00"),
        ("2026-11-27", "2026-11-27T00:00:00"),
    ],
)
def test_since_accepts_ages_and_iso_times(text: str, expected: str) -> None:
    assert parse_since(text, now=NOW) == expected


def test_since_prefix_sorts_before_items_stored_with_millis_and_z() -> None:
    stored = "2026-11-27T18:00:00.123Z"  # what the handler writes
    assert parse_since("30m", now=NOW) <= stored
    assert parse_since("29m", now=NOW) > stored


def test_since_rejects_nonsense_with_a_hint() -> None:
    with pytest.raises(ValueError, match="yesterday"):
        parse_since("yesterday")


ITEMS = [
    {"image": "s3://b/uploads/a b+ü.jpg", "label": "cat", "confidence": Decimal("0.98765"),
     "status": "classified", "processed_at": "2026-11-27T18:00:00.000Z",
     "scores": {"cat": 0.98, "dog": 0.02}},
    {"image": "s3://b/uploads/broken.jpg", "status": "failed", "reason": "not_an_image",
     "processed_at": "2026-11-27T18:00:01.000Z"},
]


def test_json_keeps_every_attribute_and_unicode() -> None:
    data = json.loads(render(ITEMS, "json"))  # Decimal from DynamoDB must not break json
    assert data[0]["image"] == "s3://b/uploads/a b+ü.jpg"
    assert data[0]["confidence"] == pytest.approx(0.98765)
    assert data[0]["scores"] == {"cat": 0.98, "dog": 0.02}


def test_csv_has_a_header_and_one_row_per_item() -> None:
    rows = list(csv.DictReader(io.StringIO(render(ITEMS, "csv"))))
    assert [r["image"] for r in rows] == ["s3://b/uploads/a b+ü.jpg", "s3://b/uploads/broken.jpg"]
    assert rows[1]["reason"] == "not_an_image" and rows[1]["label"] == ""
    assert "scores" in rows[0]


def test_table_shows_terminal_columns_and_a_count() -> None:
    out = render(ITEMS, "table").splitlines()
    assert out[0].split() == ["image", "label", "confidence", "status", "processed_at", "reason"]
    assert "0.9877" in out[2]
    assert out[-1] == "(2 items in s3://b/)"
    assert "scores" not in out[0]


def test_empty_table_says_so() -> None:
    assert render([], "table") == "(no results)"


def test_the_table_fits_the_terminal_by_shortening_the_middle_of_long_values() -> None:
    long_key = "s3://catdog-images-123456789012-us-east-1/uploads/" + "holiday/" * 12 + "IMG_0001.jpg"
    items = [{"image": long_key, "label": "cat", "confidence": 0.91, "status": "classified",
              "processed_at": "2026-11-27T18:00:00.000000Z",
              "model_version": "20261127-185611-mobilenetv2-ab"}]
    out = render(items, "table", width=140)
    assert max(len(line) for line in out.splitlines()) <= 140
    row = out.splitlines()[2]
    assert row.startswith("uploads/holiday/") and "…" in row and "IMG_0001.jpg" in row  # both ends kept
    assert "2026-11-27T18:00:00Z" in row, "the short columns stay whole while the key can give way"
    assert max(len(line) for line in render(items, "table", width=80).splitlines()) <= 80
    assert len(render(items, "table").splitlines()[2]) > 140  # no width given: nothing cut


def test_an_unknown_answer_shows_what_it_resembled_most() -> None:
    unknown = {"image": "s3://b/uploads/tulip.jpg", "label": "unknown", "top_label": "cat",
               "confidence": Decimal("0.93"), "novelty": Decimal("3.2"), "status": "classified",
               "processed_at": "2026-11-27T18:00:02.000Z"}
    out = render([*ITEMS, unknown], "table").splitlines()
    row = cells(out[0], out[4])
    assert (row["label"], row["confidence"], row["top_label"]) == ("unknown", "0.9300", "cat")
    assert json.loads(render([unknown], "json"))[0]["novelty"] == pytest.approx(3.2)


def test_a_reviewed_item_shows_the_model_s_label_and_the_person_s() -> None:
    reviewed = {"image": "s3://b/uploads/x.jpg", "label": "cat", "model_label": "dog", "human_label": "cat",
                "confidence": 0.8, "status": "classified"}
    out = render([reviewed, {"image": "s3://b/uploads/y.jpg", "label": "dog", "model_label": "dog",
                             "status": "classified"}], "table").splitlines()
    assert out[0].split()[:4] == ["image", "label", "model_label", "human_label"]
    assert out[2].split()[1:4] == ["cat", "dog", "cat"]
    unreviewed = cells(out[0], out[3])
    assert (unreviewed["label"], unreviewed["model_label"], unreviewed["human_label"]) == ("dog", "dog", "")


def test_a_shadow_answer_is_a_column_of_its_own_while_one_is_there() -> None:
    """Input: one item with a shadow model's answer (issue 21), one without."""
    shadowed = {"image": "s3://b/uploads/x.jpg", "label": "cat", "model_label": "cat", "status": "classified",
                "shadow_label": "dog", "shadow_confidence": Decimal("0.7"), "shadow_version": "v2"}
    plain = {"image": "s3://b/uploads/y.jpg", "label": "dog", "status": "classified"}
    out = render([shadowed, plain], "table", width=200).splitlines()
    assert cells(out[0], out[2])["shadow_label"] == "dog" and cells(out[0], out[3])["shadow_label"] == ""
    assert "shadow_label" not in render([plain], "table", width=200).splitlines()[0]
    rows = list(csv.DictReader(io.StringIO(render([plain], "csv"))))
    assert {"shadow_label", "shadow_confidence", "shadow_version"} <= set(rows[0])  # files line up


def cells(header: str, row: str) -> dict[str, str]:
    """A table row by column, read at the header's column positions (an empty cell stays empty)."""
    names = header.split()
    starts = [header.index(f"{n} ") if f"{n} " in header else header.index(n) for n in names]
    ends = [*starts[1:], None]
    return {n: row[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}


def _tour_items(n: int = 8) -> list[dict[str, object]]:
    """What the README tour's 8 photos look like in the table: one bucket, unreviewed, all answered."""
    return [{"image": f"s3://catdog-images-123456789012-us-east-1/uploads/dogs/dog.{2000 + i}.jpg",
             "label": "dog", "model_label": "dog", "top_label": "dog", "confidence": Decimal("0.9757"),
             "status": "classified", "processed_at": f"2026-12-03T18:14:16.{i:06d}Z",
             "model_version": "20261203-181347-mobilenetv2-ceb21618"} for i in range(n)]


@pytest.mark.parametrize("width", [100, 80])
def test_the_readme_tour_s_results_fit_a_narrow_terminal_without_repeating_themselves(width: int) -> None:
    """They took 185 columns: the bucket on every row, the label three times, microseconds."""
    out = render(_tour_items(), "table", width=width).splitlines()
    assert max(len(line) for line in out) <= width
    assert out[0].split() == ["image", "label", "confidence", "status", "processed_at"]
    assert out[2].split() == ["uploads/dogs/dog.2000.jpg", "dog", "0.9757", "classified",
                              "2026-12-03T18:14:16Z"]
    assert " ".join(out[-2:]) == ("(8 items in s3://catdog-images-123456789012-us-east-1/) (not shown in "
                                  f"{width} columns: model_version; --format json has every field)")


def test_a_wide_terminal_shows_every_column_that_says_something() -> None:
    out = render(_tour_items(), "table", width=200).splitlines()
    assert out[0].split() == ["image", "label", "confidence", "status", "processed_at", "model_version"]
    assert out[-1] == "(8 items in s3://catdog-images-123456789012-us-east-1/)"


def test_a_very_narrow_terminal_keeps_the_image_its_label_and_status() -> None:
    out = render([*_tour_items(2), ITEMS[1]], "table", width=50).splitlines()
    assert out[0].split() == ["image", "label", "status"]
    assert max(len(line) for line in out) <= 50


def test_items_of_several_buckets_keep_their_full_uri() -> None:
    other = {**ITEMS[0], "image": "s3://other-bucket/uploads/z.jpg"}
    out = render([ITEMS[0], other], "table", width=200).splitlines()
    assert out[2].startswith("s3://b/uploads/") and out[3].startswith("s3://other-bucket/uploads/z.jpg")
    assert out[-1] == "(2 items)"


def test_the_width_is_the_terminal_s_else_columns_else_100(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    monkeypatch.delenv("COLUMNS", raising=False)
    assert table_width(piped) == 100
    monkeypatch.setenv("COLUMNS", "132")
    assert table_width(piped) == 132
    monkeypatch.setenv("COLUMNS", "wide")  # nonsense: ignored
    assert table_width(piped) == 100
