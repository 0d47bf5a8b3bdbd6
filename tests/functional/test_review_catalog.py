"""What the review tools make of `models/`: half-published versions, malformed and tampered manifests
(issue 19, findings 1, 4, 5 and 9), through the page's Flask app and the commands, against moto."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from catdog.model_repo import ModelRepo
from catdog.results import ResultsTable
from catdog_cli.main import main
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.server import ReviewService
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.review import Photo, post_json, publish_manifest, put_photos, review_site

PHOTOS = [Photo("uploads/cat-1.jpg", "cat", 0.95), Photo("uploads/dog-1.jpg", "dog", 0.9)]


@pytest.fixture
def page(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, ReviewService,
                                                                                        dict[str, str]]]:
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "cache"))
    etags = put_photos(stack, REGION, PHOTOS)
    with review_site(stack, REGION, tmp_path / "thumbs") as (client, service):
        yield client, service, etags


def _put(stack: Stack, key: str, body: bytes) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=stack.bucket, Key=key, Body=body)


def _buttons(html: str) -> list[str]:
    return re.findall(r'<button type="button" data-label="([^"]+)"', html)


def test_a_page_shown_while_a_publish_uploads_picks_the_new_model_up_once_it_is_live(
        page: Any, stack: Stack) -> None:
    """Finding 4: the half-uploaded version's missing manifest was kept, and once it went live the
    page said "no model is live" (labels []) until it was restarted."""
    client, _, _ = page
    publish_manifest(REGION, stack.bucket, "v1")
    _put(stack, "models/v2/model.tflite", b"uploading...")  # the manifest comes last
    html = client.get("/").get_data(as_text=True)
    assert "model version v2" in html and "does not exist (yet)" in html  # a warning, not a verdict
    publish_manifest(REGION, stack.bucket, "v2", labels=("kitty", "puppy"))
    html = client.get("/").get_data(as_text=True)
    assert "No model is live" not in html and "live model v2" in html
    assert set(_buttons(html)) == {"kitty", "puppy", "unknown"} and "model version v2" not in html


def test_a_malformed_manifest_or_pointer_elsewhere_is_a_warning_for_the_page_and_every_command(
        page: Any, stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 5: one malformed manifest.json under models/ gave HTTP 500 on every page view and made
    report, dataset export and models list exit 2."""
    client, service, etags = page
    publish_manifest(REGION, stack.bucket, "v1")
    _put(stack, "models/broken/manifest.json", b"{not json")
    _put(stack, "models/long/manifest.json", json.dumps({
        "version": "long", "labels": ["cat", "x" * 70], "input_size": [32, 32], "arch": "a",
        "output_activation": "sigmoid"}).encode())  # a 70-char label: a 500 on review before
    ResultsTable.named(stack.table).record_review(f"s3://{stack.bucket}/uploads/cat-1.jpg",
                                                  etag=etags["uploads/cat-1.jpg"], human_label="cat",
                                                  reviewer="ann")
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and set(_buttons(html)) == {"cat", "dog", "unknown"}
    assert "skipped model version broken" in html and "skipped model version long" in html
    review = {"image": f"s3://{stack.bucket}/uploads/dog-1.jpg", "etag": etags["uploads/dog-1.jpg"],
              "label": "x" * 70}
    answer = post_json(client, "/review", review, service.token)
    assert answer.status_code == 400 and "nothing was written" in answer.get_json()["error"]

    names = ["--table", stack.table, "--bucket", stack.bucket]
    assert main(["report", "-o", str(tmp_path / "r.html"), *names]) == 0
    err = capsys.readouterr().err
    assert "warning: skipped model version broken" in err and "skipped model version long" in err
    assert "skipped model version broken" in (tmp_path / "r.html").read_text()
    assert main(["dataset", "export", str(tmp_path / "ds"), "--quiet", *names]) == 0
    assert "skipped model version broken" in capsys.readouterr().err
    assert main(["models", "list", *names]) == 0
    out, err = capsys.readouterr()
    assert "skipped model version broken" in err and re.search(r"^broken\s+—", out, re.M)

    _put(stack, "models/latest.json", b"[1, 2")  # a malformed pointer: no live model, said so
    html = client.get("/").get_data(as_text=True)
    assert "skipped latest.json" in html and "No model is live" in html


def test_the_page_and_the_report_refuse_a_live_manifest_the_pointer_does_not_vouch_for(
        page: Any, stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 1, on the review side: the live manifest rewritten with its labels reversed."""
    client, _, _ = page
    publish_manifest(REGION, stack.bucket, "v1")
    s3 = boto3.client("s3", region_name=REGION)
    raw = json.loads(s3.get_object(Bucket=stack.bucket, Key="models/v1/manifest.json")["Body"].read())
    _put(stack, "models/v1/manifest.json", json.dumps({**raw, "labels": ["dog", "cat"]}).encode())

    html = client.get("/").get_data(as_text=True)
    named = f"s3://{stack.bucket}/models/v1/manifest.json does not match"
    assert named in html and "The live model's manifest cannot be used" in html
    assert _buttons(html) == []  # no keys bound to labels nobody vouches for

    out = tmp_path / "r.html"
    assert main(["report", "-o", str(out), "--table", stack.table, "--bucket", stack.bucket]) == 1
    assert named in capsys.readouterr().err and named in out.read_text()


def test_a_broken_manifest_is_asked_again_after_the_ttl_not_at_every_request(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: models/v2/ with a model file and no manifest (a stray or half-uploaded folder). Every
    page view, /stats call and review asks for every manifest: one S3 read each for a folder that
    stays broken. Within the TTL it is refused from memory, its warning kept."""
    publish_manifest(REGION, stack.bucket, "v1")
    _put(stack, "models/v2/model.tflite", b"uploading...")
    repo = ModelRepo(boto3.client("s3", region_name=REGION), stack.bucket)
    reads: list[str] = []
    real = ModelRepo.published_manifest
    monkeypatch.setattr(ModelRepo, "published_manifest",
                        lambda self, v: (reads.append(v), real(self, v))[1])
    catalog = Catalog(repo, ttl=300)
    assert [catalog.manifest("v2") for _ in range(5)] == [None] * 5
    assert reads == ["v2"] and "does not exist (yet)" in catalog.problems()["v2"]
    publish_manifest(REGION, stack.bucket, "v2", live=False)
    catalog.refresh()  # the TTL over (or a refresh): asked again, and found
    manifest = catalog.manifest("v2")
    assert manifest is not None and manifest.version == "v2" and reads == ["v2", "v2"]
    assert "v2" not in catalog.problems()
