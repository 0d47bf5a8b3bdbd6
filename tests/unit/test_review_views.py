"""The review page's views, parsed from the URL, and the Queries they make (no DynamoDB here)."""

from __future__ import annotations

import pytest

from catdog_cli.review.views import KINDS, REQUIRED_INDEXES, View, ViewError, decode_cursor, encode_cursor


def test_every_view_is_a_query_on_an_index_never_a_scan() -> None:
    for kind in KINDS:
        view = View.parse(kind, "x" if kind in ("label", "model", "disagree") else None)
        for stream in view.streams(["cat", "dog"]):
            request = stream.request("t", limit=10)
            assert request["IndexName"] in REQUIRED_INDEXES
            assert request["ScanIndexForward"] is False and request["KeyConditionExpression"] == "#k = :k"


def test_all_merges_classified_and_failed_and_reviewed_spans_every_label() -> None:
    assert [s.key_value for s in View("all").streams([])] == ["classified", "failed"]
    assert [s.key_value for s in View("reviewed").streams(["dog", "cat"])] == ["cat", "dog", "unknown"]
    assert {s.sort_attr for s in View("reviewed").streams(["cat"])} == {"reviewed_at"}


def test_the_disagree_view_reads_only_the_disagreements_of_one_shadow_version() -> None:
    (stream,) = View.parse("disagree", "v2").streams(["cat", "dog"])
    request = stream.request("t", limit=10)
    assert (request["IndexName"], request["ExpressionAttributeValues"][":k"]) == ("shadow-index",
                                                                                  {"S": "v2:disagree"})
    assert "FilterExpression" not in request  # a partition of its own: nothing read to be dropped
    assert View.parse("disagree", "v2").query_args() == {"view": "disagree", "value": "v2"}
    with pytest.raises(ViewError, match="no shadow model is set"):
        View.parse("disagree").streams([])


def test_the_low_confidence_threshold_is_a_number_in_the_filter() -> None:
    (stream,) = View.parse("low", threshold="0.65").streams([])
    request = stream.request("t")
    assert request["FilterExpression"] == "#c < :t"
    assert request["ExpressionAttributeValues"][":t"] == {"N": "0.65"}


@pytest.mark.parametrize(("kind", "value", "threshold", "message"), [
    ("everything", None, None, "unknown view"),
    ("label", "", None, "needs a value"),
    ("low", None, "abc", "not a number"),
    ("low", None, "1.5", "between 0"),
    ("label", "cat\x1b[2J", None, "cannot be in the table"),
])
def test_bad_view_parameters_are_a_clear_error(kind: str, value: str | None, threshold: str | None,
                                               message: str) -> None:
    with pytest.raises(ViewError, match=message):
        View.parse(kind, value, threshold)


def test_a_cursor_round_trips_and_only_for_its_own_streams() -> None:
    streams = View("all").streams([])
    start = {"image": "s3://b/k", "status": "classified", "processed_at": "2026"}
    cursor = encode_cursor(streams, [decode_cursor(None, streams)[0], decode_cursor(None, streams)[1]])
    assert [s.start for s in decode_cursor(cursor, streams)] == [None, None]
    from catdog_cli.review.views import StreamState

    cursor = encode_cursor(streams, [StreamState(start), StreamState(None, True)])
    assert decode_cursor(cursor, streams)[0].start == start
    with pytest.raises(ViewError):
        decode_cursor(cursor, View("failed").streams([]))
    bad_key = encode_cursor(streams, [StreamState({"image": "x"}), StreamState()])  # not the index's keys
    with pytest.raises(ViewError):
        decode_cursor(bad_key, streams)
