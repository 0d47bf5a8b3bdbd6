"""A results table with real objects behind it, for the review page, report and dataset tests.

Photos are uploaded for real (so thumbnails and copies read real bytes and real ETags) and their
answers are written with the table's own writer, exactly as the function would write them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from catdog.classifier import Prediction
from catdog.manifest import Manifest, ModelPointer, sha256_bytes
from catdog.results import ImageFacts, ResultsTable
from catdog.s3_events import ObjectEvent
from catdog_local.provision import StackResources
from tests.support.images import jpeg_bytes

#: A key a careless or hostile uploader could choose: markup, an escape sequence, a bidi override.
HOSTILE_KEY = 'uploads/<img src=x onerror="alert(1)">\x1b[2J\u202egpj.jpg'


@dataclass(frozen=True)
class Photo:
    key: str
    label: str  # the model's answer; "failed" writes a failed item
    confidence: float = 0.9
    version: str = "v1"
    body: bytes | None = None


def publish_manifest(region: str, bucket: str, version: str = "v1", labels: tuple[str, ...] = ("cat", "dog"),
                     accuracy: float = 0.9, live: bool = True, shadow: bool = False, **data: Any) -> Manifest:
    """A published version (its manifest, a stand-in model.tflite) and, unless `live` is False, the
    pointer that vouches for both, as `catdog publish` writes it: all the page reads of a model.
    `shadow`: that pointer as models/shadow.json instead (`catdog models shadow`).
    `data`: more of the manifest's `data` block (`trained_on=[...]`)."""
    s3 = boto3.client("s3", region_name=region)
    folders = [f"{label}s" for label in labels]  # trained on cats/ and dogs/, as the real data set
    model = f"stand-in weights of {version}".encode()
    manifest = Manifest(version=version, labels=list(labels), input_size=(32, 32), arch="tiny",
                        output_activation="sigmoid", metrics={"accuracy": accuracy},
                        data={"labels": list(labels), "folders": folders, **data},
                        created_at="2026-11-28T00:00:00+00:00",
                        checksums={"model.tflite": sha256_bytes(model)})
    raw = manifest.to_json().encode()
    pointer = ModelPointer.for_version("models/", version, accuracy=accuracy,
                                       model_sha256=sha256_bytes(model),
                                       checksums={**manifest.checksums, "manifest.json": sha256_bytes(raw)})
    s3.put_object(Bucket=bucket, Key=pointer.model_key, Body=model)
    s3.put_object(Bucket=bucket, Key=pointer.manifest_key, Body=raw)
    if live or shadow:
        key = "models/shadow.json" if shadow else "models/latest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=pointer.to_json().encode())
    return manifest


def put_shadow_answers(stack: StackResources, region: str, answers: dict[str, str], version: str) -> None:
    """The shadow answer `version` gave for each key (key -> label), beside the item's live answer, as
    the function's shadow pass writes it."""
    table = boto3.resource("dynamodb", region_name=region).Table(stack.table)
    writer = ResultsTable(table)
    for key, label in answers.items():
        event = ObjectEvent(bucket=stack.bucket, key=key, event_name="ObjectCreated:Put")
        item = table.get_item(Key={"image": event.uri})["Item"]
        facts = ImageFacts(etag=item["etag"], size_bytes=None, observed_at=item["observed_at"])
        scores = {"cat": 0.3, "dog": 0.7} if label == "dog" else {"cat": 0.7, "dog": 0.3}
        written = writer.put_shadow(event, facts, str(item["model_version"]), str(item["model_label"]),
                                    Prediction(label, 0.7, scores), version)
        assert written.value == "written", (key, written)


def put_photos(stack: StackResources, region: str, photos: list[Photo]) -> dict[str, str]:
    """Upload each photo and write its answer; returns key -> ETag (unquoted, as the table has it)."""
    s3 = boto3.client("s3", region_name=region)
    writer = ResultsTable.named(stack.table)
    etags = {}
    for i, photo in enumerate(photos):
        body = photo.body if photo.body is not None else jpeg_bytes((64 + i % 7, 48), (30 * i % 255, 90, 160))
        etag = str(s3.put_object(Bucket=stack.bucket, Key=photo.key, Body=body)["ETag"]).strip('"')
        etags[photo.key] = etag
        event = ObjectEvent(bucket=stack.bucket, key=photo.key, event_name="ObjectCreated:Put")
        facts = ImageFacts(etag=etag, size_bytes=len(body), width=64, height=48, format="JPEG")
        if photo.label == "failed":
            writer.put_failed(event, "not an image (no known image header)", "not_an_image", facts,
                              photo.version)
            continue
        other = "dog" if photo.label == "cat" else "cat"
        p = photo.confidence
        scores = {photo.label: p, other: 1 - p} if photo.label != "unknown" else {"cat": p, "dog": 1 - p}
        writer.put_classified(event, facts, Prediction(photo.label, p, scores), photo.version)
    return etags


def item(region: str, table: str, uri: str) -> dict[str, Any]:
    found = boto3.resource("dynamodb", region_name=region).Table(table).get_item(Key={"image": uri})
    return dict(found.get("Item") or {})


def post_json(client: Any, path: str, body: Any, token: str | None) -> Any:
    headers = {"X-Catdog-Token": token} if token is not None else {}
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)


@contextmanager
def review_site(stack: StackResources, region: str, thumbs: Path,
                **options: Any) -> Iterator[tuple[Any, Any]]:
    """(Flask's test client, the ReviewService) of the review page over `stack`, as `catdog review`
    builds it (a catalog that re-reads at once, 64 px thumbnails, reviewer `ann`); `options` go to
    ReviewService (page_size=3). The thumbnailer's decoder process is stopped afterwards."""
    from catdog.model_repo import ModelRepo
    from catdog_cli.review.catalog import Catalog
    from catdog_cli.review.server import ReviewService, create_app
    from catdog_cli.review.thumbnails import Thumbnailer

    s3 = boto3.client("s3", region_name=region)
    service = ReviewService(
        ddb=boto3.client("dynamodb", region_name=region), table=stack.table, bucket=stack.bucket,
        writer=ResultsTable.named(stack.table), catalog=Catalog(ModelRepo(s3, stack.bucket), ttl=0),
        thumbnailer=Thumbnailer(s3, stack.bucket, thumbs, side=64), reviewer="ann", **options)
    try:
        yield create_app(service, {"localhost"}).test_client(), service
    finally:
        service.thumbnailer.close()
