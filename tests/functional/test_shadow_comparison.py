"""What a shadow run is read with, against moto: `catdog models compare` and `promote
--require-shadow` (the arithmetic, item by item), the review page's "live vs shadow disagree" view
and the report's comparison.

Live v1 and shadow v2 answered seven photos:

| photo | live | shadow | human | counted |
| --- | --- | --- | --- | --- |
| a | cat | cat | cat | reviewed: both right |
| b | cat | dog | dog | reviewed: shadow right |
| c | dog | dog | — | agreement only |
| d | dog | unknown | — | a change dog → unknown |
| e | cat | dog | cat | excluded: v2 was trained on it |
| f | cat | dog | dog | excluded: v1 was trained on it |
| g | dog | — | — | re-uploaded since: its shadow answer went with the old photo |

so 6 shadowed, 2 agree, changes cat → dog 3 and dog → unknown 1, and on the 2 reviewed photos both
models answered and neither learned: live 1 right (50%), shadow 2 right (100%), 2 excluded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from catdog.manifest import image_id
from catdog.model_repo import ModelRepo
from catdog.results import ResultsTable
from catdog_cli.exit_codes import GATE_REFUSED, OK, USAGE
from catdog_cli.main import main
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.shadow import compare
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.review import Photo, publish_manifest, put_photos, put_shadow_answers, review_site

LIVE = {"a": "cat", "b": "cat", "c": "dog", "d": "dog", "e": "cat", "f": "cat", "g": "dog"}
SHADOW = {"a": "cat", "b": "dog", "c": "dog", "d": "unknown", "e": "dog", "f": "dog", "g": "cat"}
HUMAN = {"a": "cat", "b": "dog", "e": "cat", "f": "dog"}


def _key(name: str) -> str:
    return f"uploads/{name}.jpg"


@pytest.fixture
def table(stack: Stack) -> Stack:
    photos = [Photo(_key(n), label, 0.9, "v1") for n, label in LIVE.items()]
    etags = put_photos(stack, REGION, photos)
    ids = {n: image_id(f"s3://{stack.bucket}/{_key(n)}", etags[_key(n)]) for n in LIVE}
    publish_manifest(REGION, stack.bucket, "v1", accuracy=0.95, trained_on=[ids["f"]])
    publish_manifest(REGION, stack.bucket, "v2", accuracy=0.96, live=False, shadow=True,
                     trained_on=[ids["e"]])
    put_shadow_answers(stack, REGION, {_key(n): label for n, label in SHADOW.items()}, "v2")
    writer = ResultsTable.named(stack.table)
    for n, label in HUMAN.items():
        assert writer.record_review(f"s3://{stack.bucket}/{_key(n)}", etag=etags[_key(n)], human_label=label,
                                    reviewer="ann").result.value == "written"
    put_photos(stack, REGION, [Photo(_key("g"), "dog", 0.8, "v1", body=b"another photo")])  # re-upload
    return stack


def test_the_comparison_counts_agreement_changes_and_both_accuracies_on_the_same_photos(table: Stack) -> None:
    catalog = Catalog(ModelRepo(boto3.client("s3", region_name=REGION), table.bucket))
    c = compare(boto3.client("dynamodb", region_name=REGION), table.table, "v2", catalog.trained_on())
    assert (c.shadowed, c.agreed) == (6, 2)
    assert dict(c.changes) == {("cat", "dog"): 3, ("dog", "unknown"): 1}
    assert dict(c.live_versions) == {"v1": 6}
    assert (c.reviewed, c.live_right, c.shadow_right, c.excluded) == (2, 1, 2, 2)
    assert (c.live_accuracy, c.shadow_accuracy) == (0.5, 1.0)


def test_compare_prints_the_numbers_and_the_promote_gates_verdict(table: Stack,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    names = ["--bucket", table.bucket, "--table", table.table]
    assert main(["models", "compare", *names, "--require-shadow", "5", "--min-accuracy", "0.9"]) == OK
    out = capsys.readouterr().out
    assert "shadow model v2 beside live v1: 6 uploads answered by both" in out
    assert "agreement: 2 of 6 (33.3%)" in out
    assert re.search(r"cat → dog\s+3\n\s+dog → unknown\s+1", out), out
    assert "reviewed, answered by both: 2 (2 more left out: a model was trained on them)" in out
    assert re.search(r"live v1\s+1 right\s+50\.0%", out) and re.search(r"shadow v2\s+2 right\s+100\.0%", out)
    assert "`catdog models promote v2 --require-shadow 5` would pass" in out

    assert main(["models", "compare", "v2", *names, "--require-shadow", "7"]) == OK  # the default gate
    out = capsys.readouterr().out
    assert "would be refused" in out and "6 uploads as the shadow model, fewer than the 7 required" in out
    assert main(["models", "compare", "v2", *names, "--min-accuracy", "0.99", "--require-shadow", "1"]) == OK
    assert "validation accuracy 0.9600 is below --min-accuracy 0.9900" in capsys.readouterr().out


def test_compare_of_a_version_never_shadowed_says_so(table: Stack,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "compare", "v9", "--bucket", table.bucket, "--table", table.table]) == OK
    captured = capsys.readouterr()
    assert "0 uploads answered by both" in captured.out and "would be refused" in captured.out
    assert "nothing in table" in captured.err


def test_compare_without_a_shadow_model_needs_a_version(stack: Stack,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    publish_manifest(REGION, stack.bucket, "v1")
    assert main(["models", "compare", "--bucket", stack.bucket, "--table", stack.table]) == USAGE
    assert "no shadow model is set" in capsys.readouterr().err


def test_promote_requires_enough_shadowed_uploads_and_exits_4_with_the_numbers(
        table: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    promoted: list[str] = []
    monkeypatch.setattr("catdog_cli.model_versions.promote",
                        lambda repo, version, *a: (promoted.append(version), (None, None))[1])
    names = ["--bucket", table.bucket, "--table", table.table]
    assert main(["models", "promote", "v2", "--require-shadow", "7", *names]) == GATE_REFUSED
    err = capsys.readouterr().err
    assert "v2 not promoted (--require-shadow 7)" in err and "fewer than the 7 required" in err
    assert "6 uploads shadowed, agreement 33.3%; reviewed 2 (excluded 2): shadow 100.0%, live 50.0%" in err
    assert promoted == []


def test_promote_with_require_shadow_of_a_missing_version_is_a_usage_error_not_the_gate(
        table: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """Input: `promote v9-typo --require-shadow 0`, a version never published: exit 2 naming it, as
    without the flag (it was exit 4, the gate's code, with "0 uploads shadowed")."""
    assert main(["models", "promote", "v9-typo", "--require-shadow", "0", "--bucket", table.bucket,
                 "--table", table.table]) == USAGE
    err = capsys.readouterr().err
    assert "no version 'v9-typo'" in err and "not promoted" not in err


def test_promote_refuses_a_drop_in_reviewed_accuracy(table: Stack,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Input: b reviewed again as `cat` (the live answer): now live 2 of 2, shadow 1 of 2."""
    etag = boto3.client("s3", region_name=REGION).head_object(Bucket=table.bucket, Key=_key("b"))["ETag"]
    ResultsTable.named(table.table).record_review(f"s3://{table.bucket}/{_key('b')}", etag=etag.strip('"'),
                                                  human_label="cat", reviewer="bob")
    assert main(["models", "promote", "v2", "--require-shadow", "1", "--bucket", table.bucket,
                 "--table", table.table]) == GATE_REFUSED
    err = capsys.readouterr().err
    assert "its reviewed accuracy drops: 50.0% (1 of 2) against the live model's 100.0% (2 of 2)" in err


def test_promote_without_reviews_of_the_shadowed_photos_has_nothing_to_show_no_drop(
        stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    put_photos(stack, REGION, [Photo(_key("a"), "cat", 0.9, "v1")])
    publish_manifest(REGION, stack.bucket, "v1")
    publish_manifest(REGION, stack.bucket, "v2", live=False, shadow=True)
    put_shadow_answers(stack, REGION, {_key("a"): "cat"}, "v2")
    assert main(["models", "promote", "v2", "--require-shadow", "1", "--bucket", stack.bucket,
                 "--table", stack.table]) == GATE_REFUSED
    assert "none of them is reviewed" in capsys.readouterr().err


def test_promote_passes_the_shadow_gate_then_the_quality_gate(
        table: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison passes; the version then goes through the usual gate (here: a stand-in model
    file the serving path cannot load, so the quality gate refuses it, exit 4 as ever)."""
    assert main(["models", "promote", "v2", "--require-shadow", "6", "--bucket", table.bucket,
                 "--table", table.table, "--min-accuracy", "0.5"]) == GATE_REFUSED
    captured = capsys.readouterr()
    assert "shadow comparison of v2: 6 uploads shadowed" in captured.out
    assert "the serving path cannot run it" in captured.err


@pytest.fixture
def page(table: Stack, tmp_path: Path) -> Iterator[Any]:
    with review_site(table, REGION, tmp_path / "thumbs", page_size=50) as (client, _):
        yield client


def _keys(html: str) -> set[str]:
    return {m.rsplit("/", 1)[-1] for m in re.findall(r'<div class="key">([^<]+)</div>', html)}


def test_the_disagree_view_lists_exactly_the_photos_the_shadow_answered_otherwise(page: Any) -> None:
    html = page.get("/").get_data(as_text=True)
    assert re.search(r'live vs shadow v2 disagree \(<span class="n">4</span>\)', html)  # the header's link
    shown = page.get("/?view=disagree").get_data(as_text=True)  # the shadow model's, by default
    assert _keys(shown) == {"b.jpg", "d.jpg", "e.jpg", "f.jpg"}
    assert shown.count('class="shadow differs"') == 4 and "shadow: unknown 70.0% · v2" in shown
    assert _keys(page.get("/?view=disagree&value=v2").get_data(as_text=True)) == _keys(shown)
    assert _keys(page.get("/?view=disagree&value=v9").get_data(as_text=True)) == set()


def test_the_disagree_view_without_a_shadow_model_asks_for_a_version(page: Any, table: Stack) -> None:
    boto3.client("s3", region_name=REGION).delete_object(Bucket=table.bucket, Key="models/shadow.json")
    html = page.get("/").get_data(as_text=True)
    assert "live vs shadow" not in html  # no link while no shadow model is set
    reply = page.get("/?view=disagree")
    assert reply.status_code == 400 and "no shadow model is set" in reply.get_data(as_text=True)
    assert _keys(page.get("/?view=disagree&value=v2").get_data(as_text=True)) == {"b.jpg", "d.jpg", "e.jpg",
                                                                                  "f.jpg"}


def test_the_report_shows_the_comparison_and_the_verdict(table: Stack, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "-o", str(out), "--limit", "0", "--table", table.table, "--bucket", table.bucket,
                 "--require-shadow", "5"]) == OK
    html = out.read_text()
    assert "Live vs shadow: v2" in html and "<th>live v1</th>" in html
    assert "<td>same label</td><td colspan=\"2\">2 (33.3%)</td>" in html
    assert "<td>right on those</td><td>1 (50.0%)</td><td>2 (100.0%)</td>" in html
    assert "<td>cat → dog</td><td>3</td>" in html and "2 more left out" in html
    assert "--require-shadow 5</code>\nwould pass" in html
