"""`catdog review`'s page and its one write, through Flask's test client against moto in-process.

The browser test (tests/integration/test_review_browser.py) clicks through a real server; these
check every answer of the server, bad input included, and that nothing is written wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from catdog.classifier import Prediction
from catdog.errors import CatdogError
from catdog.results import ImageFacts, ResultsTable
from catdog.s3_events import ObjectEvent
from catdog_cli.main import main
from catdog_cli.review.preflight import preflight
from catdog_cli.review.server import ReviewService
from catdog_cli.review.thumbnails import Thumbnailer
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.hostile_corpus import build_corpus
from tests.support.review import (
    HOSTILE_KEY,
    Photo,
    item,
    post_json,
    publish_manifest,
    put_photos,
    review_site,
)

PHOTOS = [Photo("uploads/cat-1.jpg", "cat", 0.95), Photo("uploads/dog-1.jpg", "dog", 0.62, "v2"),
          Photo(HOSTILE_KEY, "dog", 0.9), Photo("uploads/what.jpg", "unknown", 0.51),
          Photo("uploads/notes.jpg", "failed", body=b"just text, not a photo\n")]


@pytest.fixture
def site(stack: Stack, tmp_path: Path) -> Iterator[tuple[Any, ReviewService, dict[str, str]]]:
    publish_manifest(REGION, stack.bucket, "v1")
    publish_manifest(REGION, stack.bucket, "v2", live=False)
    etags = put_photos(stack, REGION, PHOTOS)
    with review_site(stack, REGION, tmp_path / "thumbs", page_size=3) as (client, service):
        yield client, service, etags


def uri(stack_bucket: str, key: str) -> str:
    return f"s3://{stack_bucket}/{key}"


def test_the_grid_shows_newest_first_with_counts_accuracy_and_paging(site: Any, stack: Stack) -> None:
    client, _, _ = site
    first = client.get("/")
    html = first.get_data(as_text=True)
    assert first.status_code == 200
    assert html.count('class="tile') == 3  # page size 3: newest first, failed one included
    assert "notes.jpg" in html and "not_an_image" in html
    counts = re.sub(r'<span class="n">(\d+)</span>', r"\1", html)  # the page updates each count
    assert re.search(r"all images \(5\)", counts) and re.search(r"label dog \(2\)", counts)
    assert re.search(r"unknown \(1\)", counts) and re.search(r"failed \(1\)", counts)
    assert "model v2" in html and "no reviewed images yet" in html
    assert 'src="thumb?image=s3' in html and "data:image" not in html  # only ever /thumb URLs
    next_url = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', html)
    assert next_url
    second = client.get("/" + next_url[1].replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('class="tile') == 2 and 'rel="next"' not in second
    shown = re.findall(r'data-image="([^"]+)"', html + second)
    assert len(set(shown)) == 5


def test_a_hostile_key_is_shown_escaped_never_as_markup(site: Any, stack: Stack) -> None:
    client, _, _ = site
    html = client.get("/?view=label&value=dog").get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert "\x1b" not in html and "\u202e" not in html and "\\x1b[2J\\u202egpj.jpg" in html
    assert "script-src 'nonce-" in client.get("/").headers["Content-Security-Policy"]


def test_a_click_records_the_human_label_and_the_label_to_query_by(site: Any, stack: Stack) -> None:
    client, service, etags = site
    image = uri(stack.bucket, "uploads/dog-1.jpg")
    body = {"image": image, "etag": etags["uploads/dog-1.jpg"], "label": "cat"}
    answer = post_json(client, "/review", body, service.token)
    assert answer.status_code == 200 and answer.get_json()["label"] == "cat"
    stored = item(REGION, stack.table, image)
    assert (stored["label"], stored["human_label"], stored["model_label"], stored["reviewed_by"]) == (
        "cat", "cat", "dog", "ann")
    html = client.get("/?view=reviewed").get_data(as_text=True)
    assert "dog-1.jpg" in html and html.count('class="tile') == 1
    assert re.search(r"v2</td>\s*<td>1</td><td>0</td><td>0.0%", html)  # v2 disagreed with the reviewer


def test_unknown_is_one_word_whoever_said_it(site: Any, stack: Stack) -> None:
    """New-user finding: the stored `unknown` read "neither" when a person set it and "unknown" when
    the model did. The page says `unknown` for both, and "neither" is a label like any other: not one
    of this model's, so refused (a page is tied to its server's token: no older page can post)."""
    client, service, etags = site
    image = uri(stack.bucket, "uploads/cat-1.jpg")
    answer = post_json(client, "/review", {"image": image, "etag": etags["uploads/cat-1.jpg"],
                                           "label": "unknown"}, service.token)
    assert answer.status_code == 200 and answer.get_json()["shown"] == "unknown"
    assert item(REGION, stack.table, image)["human_label"] == "unknown"
    html = client.get("/?view=unknown").get_data(as_text=True)
    assert "cat-1.jpg" in html and "neither" not in html
    assert ">0 unknown</button>" in html and "0 unknown (none of them)" in html
    dog = uri(stack.bucket, "uploads/dog-1.jpg")
    neither = {"image": dog, "etag": etags["uploads/dog-1.jpg"], "label": "neither"}
    assert post_json(client, "/review", neither, service.token).status_code == 400


@pytest.mark.parametrize(("key", "body", "status", "message"), [
    ("uploads/cat-1.jpg", {"label": "hamster"}, 400, "not one of the model's labels (cat, dog) or unknown"),
    ("uploads/cat-1.jpg", {"etag": "0123"}, 409, "re-uploaded after the page was loaded"),
    ("uploads/nope.jpg", {}, 404, "no image uploads/nope.jpg in the results table"),
    ("uploads/notes.jpg", {}, 409, "is failed now"),
    ("uploads/cat-1.jpg", {"image": "s3://another-bucket/x.jpg"}, 400, "not an image of s3://"),
    ("uploads/cat-1.jpg", {"label": ""}, 400, "required strings"),
])
def test_bad_reviews_are_refused_with_a_clear_message_and_nothing_is_written(
        site: Any, stack: Stack, key: str, body: dict[str, str], status: int, message: str) -> None:
    client, service, etags = site
    before = boto3.client("dynamodb", region_name=REGION).scan(TableName=stack.table)["Items"]
    request = {"image": uri(stack.bucket, key), "etag": etags.get(key, "e"), "label": "cat", **body}
    answer = post_json(client, "/review", request, service.token)
    assert answer.status_code == status and message in answer.get_json()["error"]
    assert boto3.client("dynamodb", region_name=REGION).scan(TableName=stack.table)["Items"] == before


def test_a_review_needs_the_page_token_and_this_server_s_host(site: Any, stack: Stack) -> None:
    client, _, etags = site
    request = {"image": uri(stack.bucket, "uploads/cat-1.jpg"), "etag": etags["uploads/cat-1.jpg"],
               "label": "dog"}
    assert post_json(client, "/review", request, None).status_code == 403  # e.g. a cross-site form
    assert post_json(client, "/review", request, "guess").status_code == 403
    assert client.get("/", headers={"Host": "evil.example:80"}).status_code == 400  # DNS rebinding
    cross_site = {"Sec-Fetch-Site": "cross-site"}  # what a browser sends for another site's <img> or fetch
    thumb = {"image": uri(stack.bucket, "uploads/cat-1.jpg"), "etag": etags["uploads/cat-1.jpg"]}
    assert client.get("/thumb", query_string=thumb, headers=cross_site).status_code == 403
    same_site = {"Sec-Fetch-Site": "same-origin"}
    assert client.get("/thumb", query_string=thumb, headers=same_site).status_code == 200
    assert "human_label" not in item(REGION, stack.table, uri(stack.bucket, "uploads/cat-1.jpg"))


def test_thumbnails_are_small_jpegs_and_a_hostile_upload_gets_a_placeholder(site: Any, stack: Stack) -> None:
    client, _, etags = site
    thumb = client.get("/thumb", query_string={"image": uri(stack.bucket, "uploads/cat-1.jpg"),
                                               "etag": etags["uploads/cat-1.jpg"]})
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg" and thumb.data[:3] == b"\xff\xd8\xff"
    bomb = next(c for c in build_corpus() if c.name == "png_bomb_100k")
    etag = put_photos(stack, REGION, [Photo("uploads/bomb.png", "cat", body=bomb.data)])["uploads/bomb.png"]
    params = {"image": uri(stack.bucket, "uploads/bomb.png"), "etag": etag}
    placeholder = client.get("/thumb", query_string=params)
    assert placeholder.mimetype == "image/svg+xml" and b"too many pixels" in placeholder.data
    assert client.get("/").status_code == 200  # the page is still up
    params = {"image": uri(stack.bucket, "uploads/cat-1.jpg"), "etag": "old"}
    stale = client.get("/thumb", query_string=params)
    assert b"changed since" in stale.data
    other = client.get("/thumb", query_string={"image": "s3://someone-else/x.jpg", "etag": "e"})
    assert other.status_code == 400


def test_thumbnails_are_cached_by_image_etag_and_size(site: Any, stack: Stack, tmp_path: Path) -> None:
    client, _, etags = site
    params = {"image": uri(stack.bucket, "uploads/cat-1.jpg"), "etag": etags["uploads/cat-1.jpg"]}
    first = client.get("/thumb", query_string=params).data
    boto3.client("s3", region_name=REGION).delete_object(Bucket=stack.bucket, Key="uploads/cat-1.jpg")
    assert client.get("/thumb", query_string=params).data == first  # served from the cache
    assert len(list((tmp_path / "thumbs").rglob("*.jpg"))) == 1


def test_s3_and_dynamodb_errors_while_rendering_are_a_message_in_the_page(site: Any, stack: Stack) -> None:
    client, _, etags = site
    s3 = boto3.client("s3", region_name=REGION)
    s3.delete_object(Bucket=stack.bucket, Key="uploads/dog-1.jpg")
    thumb = {"image": uri(stack.bucket, "uploads/dog-1.jpg"), "etag": etags["uploads/dog-1.jpg"]}
    gone = client.get("/thumb", query_string=thumb)
    assert gone.status_code == 200 and b"gone" in gone.data
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=stack.table)
    page = client.get("/")
    assert page.status_code == 502 and "could not read the results table" in page.get_data(as_text=True)
    unreadable = client.get("/thumb", query_string=thumb)
    assert unreadable.status_code == 502 and "the results table said" in unreadable.get_json()["error"]


def test_bad_view_parameters_are_a_400_page_not_a_crash(site: Any) -> None:
    client, _, _ = site
    for query in ("?view=everything", "?view=low&threshold=2", "?cursor=garbage", "?size=100000"):
        page = client.get("/" + query)
        assert page.status_code == 400 and 'class="error"' in page.get_data(as_text=True), query


def test_a_missing_table_index_or_bucket_stops_the_command_with_one_line(
        stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    ddb, s3 = boto3.client("dynamodb", region_name=REGION), boto3.client("s3", region_name=REGION)
    with pytest.raises(CatdogError, match="no results table 'nope'"):
        preflight(ddb, s3, "nope", stack.bucket)
    with pytest.raises(CatdogError, match="cannot read bucket 'nope'"):
        preflight(ddb, s3, stack.table, "nope")
    ddb.update_table(TableName=stack.table,
                     GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "review-index"}}])
    with pytest.raises(CatdogError, match="has no review-index: deploy the current template"):
        preflight(ddb, s3, stack.table, stack.bucket)
    assert main(["review", "--table", "nope", "--bucket", stack.bucket]) == 2
    assert "no results table 'nope'" in capsys.readouterr().err


# ------------------------------------------------------------------------- issue 19, findings 6 and 9


def test_thumb_serves_only_the_object_versions_of_the_table_and_caches_nothing_else(
        site: Any, stack: Stack, tmp_path: Path) -> None:
    """/thumb fetched any object of the bucket (and grew its cache with each): now only an image the
    table lists, at the etag it lists; the rest is a placeholder that is never cached."""
    client, _, etags = site
    s3 = boto3.client("s3", region_name=REGION)
    secret = s3.put_object(Bucket=stack.bucket, Key="private/not-for-the-page.jpg", Body=b"\xff\xd8 secret")
    private = {"image": uri(stack.bucket, "private/not-for-the-page.jpg"), "etag": secret["ETag"].strip('"')}
    for params, why in ((private, b"not in the table"),
                        ({"image": uri(stack.bucket, "models/v1/manifest.json"), "etag": "x"},
                         b"not in the table"),
                        ({"image": uri(stack.bucket, "uploads/cat-1.jpg"), "etag": "not-its-etag"},
                         b"changed since")):
        answer = client.get("/thumb", query_string=params)
        assert answer.mimetype == "image/svg+xml", params
        assert why in answer.data, params
    assert not (tmp_path / "thumbs").exists() or not list((tmp_path / "thumbs").rglob("*.*"))
    ok = client.get("/thumb", query_string={"image": uri(stack.bucket, "uploads/cat-1.jpg"),
                                             "etag": etags["uploads/cat-1.jpg"]})
    assert ok.mimetype == "image/jpeg"


def test_a_verdict_that_depends_on_the_request_is_never_cached(stack: Stack, tmp_path: Path) -> None:
    etags = put_photos(stack, REGION, PHOTOS[:1])
    s3 = boto3.client("s3", region_name=REGION)
    thumbs = Thumbnailer(s3, stack.bucket, tmp_path / "cache", side=64)
    try:
        image = uri(stack.bucket, "uploads/cat-1.jpg")
        assert thumbs.get(image, "an-old-etag").reason == "changed since"
        assert thumbs.get(uri(stack.bucket, "uploads/none.jpg"), "e").reason == "gone"
        assert not list((tmp_path / "cache").rglob("*.*"))  # nothing kept: asked again, made again
        assert thumbs.get(image, etags["uploads/cat-1.jpg"]).ok
    finally:
        thumbs.close()
    for side in (0, -1, 5000):
        with pytest.raises(ValueError, match="outside"):
            Thumbnailer(s3, stack.bucket, tmp_path / "cache", side=side)


def test_the_thumbnail_cache_stays_under_its_bound(stack: Stack, tmp_path: Path) -> None:
    photos = [Photo(f"uploads/many-{i}.jpg", "cat", 0.9) for i in range(12)]
    etags = put_photos(stack, REGION, photos)
    thumbs = Thumbnailer(boto3.client("s3", region_name=REGION), stack.bucket, tmp_path / "cache", side=64,
                         max_cache_bytes=4000)
    try:
        for photo in photos:
            assert thumbs.get(uri(stack.bucket, photo.key), etags[photo.key]).ok
            assert sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*.*")) <= 4000
    finally:
        thumbs.close()
    assert list((tmp_path / "cache").rglob("*.jpg"))  # the newest are kept


# -------------------------------------------------------------------------- issue 19, new-user findings


def test_an_unknown_tile_says_what_the_photo_resembled_and_how_sure_not_unknown_98_percent(
        site: Any, stack: Stack) -> None:
    """It read "model unknown 98.5%": as if 98.5% sure it was unknown, while 98.5% was for dog."""
    client, _, _ = site
    s3 = boto3.client("s3", region_name=REGION)
    etag = s3.put_object(Bucket=stack.bucket, Key="uploads/fox.jpg", Body=b"a fox")["ETag"].strip('"')
    event = ObjectEvent(bucket=stack.bucket, key="uploads/fox.jpg", event_name="ObjectCreated:Put")
    ResultsTable.named(stack.table).put_classified(
        event, ImageFacts(etag=etag, size_bytes=5), Prediction("unknown", 0.985, {"cat": 0.015, "dog": 0.985},
                                                               top_label="dog", novelty=3.2), "v1")
    html = client.get("/?view=unknown").get_data(as_text=True)
    tile = html[html.index("uploads/fox.jpg"):]
    tile = tile[:tile.index("</figure>")]
    assert "model: <b>unknown</b> (none of its labels), looks most like dog 98.5%" in tile
    assert "unknown 98.5%" not in re.sub(r"<[^>]+>", "", tile)


def test_the_header_numbers_are_served_fresh_after_a_save(site: Any, stack: Stack) -> None:
    """The counts and the accuracy table stayed as they were after a save until a reload: the page
    now re-reads them from /stats once saves pause (its script; the browser test presses the keys)."""
    client, service, etags = site
    before = client.get("/stats").get_json()
    assert dict(before["counts"])["?view=reviewed"] == 0 and before["accuracy"] == []
    body = {"image": uri(stack.bucket, "uploads/dog-1.jpg"), "etag": etags["uploads/dog-1.jpg"],
            "label": "cat"}
    assert post_json(client, "/review", body, service.token).status_code == 200
    after = client.get("/stats").get_json()  # not the cached numbers: a review clears them
    counts = dict(after["counts"])
    assert counts["?view=reviewed"] == 1 and counts["?view=unreviewed"] == 3
    assert counts["?view=label&value=cat"] == 2 and counts["?view=label&value=dog"] == 1
    assert after["accuracy"] == [{"version": "v2", "live": False, "reviewed": 1, "agreed": 0,
                                  "accuracy": "0.0%", "excluded": 0}]
    assert client.get("/stats?view=nope").status_code == 400
    assert client.get("/stats", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
