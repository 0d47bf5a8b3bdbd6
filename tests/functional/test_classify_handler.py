"""The classify handler end to end in moto: bucket, queue and table come from template.yaml.

Each test loads `functions/classify/app.py` fresh (a new "container") and drives it with the
event shapes Lambda sends: SQS batches built from the notifications moto itself delivered, the
files under events/, and hand-made S3 records where a test needs control over the sequencer.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from catdog.manifest import MANIFEST_FILE, TFLITE_FILE, Manifest, ModelPointer
from catdog.model_repo import write_manifest
from catdog_local.lambda_runtime import LambdaContext, load_module
from catdog_local.provision import Stack
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.nonphotos import nonphotos
from tests.support.paths import REPO
from tests.support.pipeline import REGION, function_stack

RED, BLUE = (220, 30, 30), (30, 60, 220)


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "v1": build_tiny_model_dir(root / "v1", version="test-v1"),
        "v2": build_tiny_model_dir(root / "v2", labels=("kitty", "puppy"), version="test-v2"),
        "novelty": build_tiny_model_dir(root / "v3", version="test-v3", novelty=True),
    }


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    yield from function_stack(monkeypatch, tmp_path)


def publish(stack: Stack, model_dir: Path) -> str:
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    pointer = ModelPointer.for_version("models/", manifest["version"])
    s3 = boto3.client("s3", region_name=REGION)
    s3.upload_file(str(model_dir / MANIFEST_FILE), stack.bucket, pointer.manifest_key)
    s3.upload_file(str(model_dir / TFLITE_FILE), stack.bucket, pointer.model_key)
    s3.put_object(Bucket=stack.bucket, Key="models/latest.json", Body=pointer.to_json().encode())
    return manifest["version"]


@pytest.fixture
def app(stack: Stack) -> ModuleType:
    return load_module()


def invoke(app: ModuleType, event: dict[str, Any]) -> Any:
    return app.handler(event, LambdaContext())


def put(stack: Stack, key: str, body: bytes) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=stack.bucket, Key=key, Body=body)


def head_etag(stack: Stack, key: str) -> str:
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=stack.bucket, Key=key)
    return str(head["ETag"]).strip('"')


def drain_as_sqs_event(stack: Stack) -> dict[str, Any]:
    """What Lambda's event source mapping would send for the messages now on the queue."""
    sqs = boto3.client("sqs", region_name=REGION)
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        for m in got:
            records.append({
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": stack.queue_arn, "awsRegion": REGION,
            })
            sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])
    return {"Records": records}


def s3_record(stack: Stack, key: str, sequencer: str | None = None,
              event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key.replace(" ", "+"), "size": 1, "eTag": "x"}
    if sequencer:
        obj["sequencer"] = sequencer
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
            "eventTime": "2026-11-27T00:00:00.000Z", "eventName": event_name,
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "object": obj,
                   "bucket": {"name": stack.bucket, "arn": f"arn:aws:s3:::{stack.bucket}"}}}


def sqs_event(stack: Stack, bodies: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [
        {"messageId": mid, "receiptHandle": f"rh-{mid}", "attributes": {"ApproximateReceiveCount": "1"},
         "body": body if isinstance(body, str) else json.dumps(body), "messageAttributes": {},
         "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": stack.queue_arn, "awsRegion": REGION}
        for mid, body in bodies.items()]}


def items(stack: Stack) -> dict[str, dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    return {i["image"]: i for i in table.scan()["Items"]}


def uri(stack: Stack, key: str) -> str:
    return f"s3://{stack.bucket}/{key}"


def encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny file whose header claims a huge image: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b"")


# ---------------------------------------------------------------------------------- the happy paths


def test_sqs_batch_from_real_notifications_lands_in_the_table(stack: Stack, app: ModuleType,
                                                                models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    put(stack, "uploads/my red cat.jpg", jpeg_bytes((80, 60), RED))
    put(stack, "uploads/blue.png", encode(Image.new("RGB", (40, 40), BLUE), "PNG"))
    event = drain_as_sqs_event(stack)
    assert len(event["Records"]) == 3  # two uploads + the s3:TestEvent from provisioning

    assert invoke(app, event) == {"batchItemFailures": []}

    got = items(stack)
    assert set(got) == {uri(stack, "uploads/my red cat.jpg"), uri(stack, "uploads/blue.png")}
    cat = got[uri(stack, "uploads/my red cat.jpg")]
    assert (cat["status"], cat["label"], cat["model_version"]) == ("classified", "cat", "test-v1")
    assert isinstance(cat["confidence"], Decimal) and cat["confidence"] > Decimal("0.5")
    assert set(cat["scores"]) == {"cat", "dog"}
    assert (cat["width"], cat["height"], cat["size_bytes"]) == (80, 60, len(jpeg_bytes((80, 60), RED)))
    assert cat["etag"] and cat["processed_at"].endswith("Z")
    assert got[uri(stack, "uploads/blue.png")]["label"] == "dog"


def test_a_non_photo_is_answered_unknown_and_queryable_like_any_label(
        stack: Stack, app: ModuleType, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The two-output model: a cat-coloured photo gets its label, generated noise gets `unknown`
    (status classified, keeping the top label, confidence, scores and novelty), and the label-index
    GSI and the ImagesByLabel metric treat `unknown` like any label."""
    from catdog_cli.results_query import fetch

    publish(stack, models["novelty"])
    put(stack, "uploads/cat.jpg", jpeg_bytes((80, 60), RED))
    name, noise = next(nonphotos(per_kind=1, kinds=("uniform_noise",)))
    put(stack, f"uploads/{name}", noise)
    capsys.readouterr()

    assert invoke(app, drain_as_sqs_event(stack)) == {"batchItemFailures": []}

    got = items(stack)
    cat, other = got[uri(stack, "uploads/cat.jpg")], got[uri(stack, f"uploads/{name}")]
    assert (cat["label"], cat["model_label"], cat["top_label"]) == ("cat", "cat", "cat")
    assert cat["novelty"] <= 1
    assert (other["status"], other["label"], other["model_label"]) == ("classified", "unknown", "unknown")
    assert other["top_label"] in ("cat", "dog") and other["novelty"] > 1
    assert other["confidence"] == max(other["scores"].values()) and set(other["scores"]) == {"cat", "dog"}
    found = list(fetch(boto3.client("dynamodb", region_name=REGION), stack.table, label="unknown"))
    assert [i["image"] for i in found] == [uri(stack, f"uploads/{name}")]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_label = {doc["label"]: doc["ImagesByLabel"] for doc in emf if "ImagesByLabel" in doc}
    assert by_label == {"cat": [1.0], "unknown": [1.0]}


def test_events_s3_put_json_direct_invoke(stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    event = json.loads((REPO / "events" / "s3-put.json").read_text())
    assert event["Records"][0]["s3"]["bucket"]["name"] == stack.bucket, "events/ must name the local stack"
    put(stack, "uploads/my cat.jpg", jpeg_bytes(color=RED))  # the file's key is URL-encoded: my+cat.jpg

    result = invoke(app, event)

    assert result["classified"] == 1
    item = items(stack)[uri(stack, "uploads/my cat.jpg")]
    assert item["label"] == "cat"
    # The item describes the object read, not the event's claims: the file's eTag is made up, so
    # neither it nor the file's sequencer is recorded.
    claimed = event["Records"][0]["s3"]["object"]["eTag"]
    assert item["etag"] == head_etag(stack, "uploads/my cat.jpg") != claimed
    assert "sequencer" not in item


def test_events_sqs_s3_json(stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    event = json.loads((REPO / "events" / "sqs-s3.json").read_text())
    put(stack, "uploads/cat.2000.jpg", jpeg_bytes(color=RED))
    put(stack, "uploads/dog.2000.jpg", jpeg_bytes(color=BLUE))
    put(stack, "uploads/holiday photos/IMG_0001.PNG", encode(Image.new("RGB", (30, 20), BLUE), "PNG"))

    assert invoke(app, event) == {"batchItemFailures": []}

    labels = {k: v["label"] for k, v in items(stack).items()}
    assert labels == {uri(stack, "uploads/cat.2000.jpg"): "cat", uri(stack, "uploads/dog.2000.jpg"): "dog",
                      uri(stack, "uploads/holiday photos/IMG_0001.PNG"): "dog"}


def test_direct_s3_test_event_is_acknowledged(app: ModuleType, stack: Stack) -> None:
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": stack.bucket}
    assert invoke(app, event) == {"ignored": "s3:TestEvent"}
    assert items(stack) == {}


# ------------------------------------------------------------------------------------- bad inputs


def test_every_bad_input_is_a_failed_item_and_the_rest_of_the_batch_is_classified(
        stack: Stack, app: ModuleType, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "200000")
    publish(stack, models["v1"])
    noise = Image.frombytes("RGB", (400, 400), random.Random(0).randbytes(400 * 400 * 3))
    good = jpeg_bytes((300, 300), RED)
    bad = {
        "uploads/zero.jpg": (b"", "empty"),
        "uploads/notes.jpg": (b"just some text, not a photo\n" * 10, "not_an_image"),
        "uploads/invoice.jpg": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "not_an_image"),
        "uploads/truncated.jpg": (good[: len(good) // 2], "corrupt"),
        "uploads/huge.png": (encode(noise, "PNG"), "too_large"),
        "uploads/bomb.png": (png_with_declared_size(60_000, 60_000), "too_many_pixels"),
        "uploads/icon.png": (encode(Image.new("RGB", (32, 32), RED), "ICO"), "unsupported_format"),
    }
    assert len(bad["uploads/huge.png"][0]) > 200_000
    for key, (body, _) in bad.items():
        put(stack, key, body)
    put(stack, "uploads/good.jpg", good)
    event = drain_as_sqs_event(stack)

    assert invoke(app, event) == {"batchItemFailures": []}, "bad input must never be retried"

    got = items(stack)
    for key, (_, reason) in bad.items():
        item = got[uri(stack, key)]
        assert (item["status"], item["reason"]) == ("failed", reason), key
        assert item["error"] and "label" not in item, key
    assert got[uri(stack, "uploads/good.jpg")]["label"] == "cat"
    assert "MAX_OBJECT_BYTES" in got[uri(stack, "uploads/huge.png")]["error"]


def test_the_size_cap_is_named_in_the_unit_it_is_set_in(stack: Stack, app: ModuleType,
                                                        models: dict[str, Path]) -> None:
    """MAX_OBJECT_BYTES=20971520 is 20 MiB, not "21.0 MB" (a 20 MB file then looked under the cap)."""
    publish(stack, models["v1"])
    put(stack, "uploads/big.jpg", jpeg_bytes() + b"\0" * (21 << 20))
    invoke(app, drain_as_sqs_event(stack))
    error = items(stack)[uri(stack, "uploads/big.jpg")]["error"]
    assert "over the 20 MiB cap (MAX_OBJECT_BYTES=20971520)" in error, error


class _ShrinkingContext(LambdaContext):
    """A Lambda context whose remaining time collapses after `calls` questions."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 60_000 if self.calls >= 0 else 3_000


def test_when_the_invocation_runs_short_of_time_the_rest_goes_back_instead_of_timing_out(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    """Lambda's timeout kills the whole batch; stopping early loses nothing and keeps what is done."""
    publish(stack, models["v1"])
    for i in range(5):
        put(stack, f"uploads/t{i}.jpg", jpeg_bytes(color=RED))
    event = drain_as_sqs_event(stack)
    image_ids = [r["messageId"] for r in event["Records"] if "Records" in json.loads(r["body"])]

    response = app.handler(event, _ShrinkingContext(calls=2))

    retried = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert len(retried) == 3 and retried <= set(image_ids), response
    assert len(items(stack)) == 2, "the two images decoded in time are written"


def _exif_rotated_jpeg() -> bytes:
    img = Image.new("RGB", (64, 32), RED)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° on display: a person sees 32 wide, 64 high
    return encode(img, "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (24, 24), RED), Image.new("RGB", (24, 24), BLUE)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def test_unusual_but_valid_images_are_classified(stack: Stack, app: ModuleType,
                                                 models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    red_alpha = Image.new("RGBA", (20, 20), (*RED, 255))
    cases = {
        "uploads/gray.jpg": (encode(Image.new("L", (20, 20), 90), "JPEG"), None),
        "uploads/palette.png": (encode(Image.new("RGB", (20, 20), BLUE).convert("P"), "PNG"), "dog"),
        "uploads/alpha.png": (encode(red_alpha, "PNG"), "cat"),
        "uploads/cmyk.jpg": (encode(Image.new("CMYK", (20, 20), (0, 230, 230, 20)), "JPEG"), "cat"),
        "uploads/sixteen.png": (encode(Image.new("I;16", (20, 20), 40000), "PNG"), None),
        "uploads/rotated.jpg": (_exif_rotated_jpeg(), "cat"),
        "uploads/animated.gif": (_animated_gif(), "cat"),  # first frame is red
        "uploads/plain.png": (encode(Image.new("RGB", (20, 20), BLUE), "PNG"), "dog"),
        "uploads/photo.webp": (encode(Image.new("RGB", (20, 20), RED), "WEBP"), "cat"),
    }
    for key, (body, _) in cases.items():
        put(stack, key, body)

    assert invoke(app, drain_as_sqs_event(stack)) == {"batchItemFailures": []}

    got = items(stack)
    for key, (_, label) in cases.items():
        assert got[uri(stack, key)]["status"] == "classified", (key, got[uri(stack, key)].get("error"))
        if label:
            assert got[uri(stack, key)]["label"] == label, key
    rotated = got[uri(stack, "uploads/rotated.jpg")]
    assert (rotated["width"], rotated["height"]) == (32, 64)


# ------------------------------------------------------------------------ one current answer per image


def test_redelivery_leaves_one_item_with_the_same_answer(stack: Stack, app: ModuleType,
                                                         models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    put(stack, "uploads/a.jpg", jpeg_bytes(color=RED))
    event = sqs_event(stack, {"m1": {"Records": [s3_record(stack, "uploads/a.jpg", "0055")]}})
    invoke(app, event)
    first = items(stack)[uri(stack, "uploads/a.jpg")]

    assert invoke(app, event) == {"batchItemFailures": []}

    assert list(items(stack)) == [uri(stack, "uploads/a.jpg")]
    again = items(stack)[uri(stack, "uploads/a.jpg")]
    assert (again["label"], again["etag"]) == (first["label"], first["etag"])


def test_a_late_event_for_an_older_upload_answers_for_the_object_as_it_is_now(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    """Events only say which object to look at: whatever their sequencer, the item describes the
    bytes read, so a late event can never write a stale label."""
    publish(stack, models["v1"])
    key = "uploads/changing.jpg"
    put(stack, key, jpeg_bytes(color=BLUE))
    invoke(app, sqs_event(stack, {"new": {"Records": [s3_record(stack, key, "0100")]}}))
    assert items(stack)[uri(stack, key)]["label"] == "dog"
    put(stack, key, jpeg_bytes(color=RED))

    assert invoke(app, sqs_event(stack, {"old": {"Records": [s3_record(stack, key, "FF")]}})) == {
        "batchItemFailures": []}

    item = items(stack)[uri(stack, key)]
    assert (item["label"], item["etag"]) == ("cat", head_etag(stack, key))


def test_a_forged_maximal_sequencer_cannot_pin_a_label_against_later_uploads(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    key = "uploads/pinned.jpg"
    put(stack, key, jpeg_bytes(color=RED))
    forged = s3_record(stack, key, "F" * 32)
    forged["s3"]["object"]["eTag"] = head_etag(stack, key)  # even with the object's real ETag
    invoke(app, sqs_event(stack, {"forged": {"Records": [forged]}}))
    assert items(stack)[uri(stack, key)]["label"] == "cat"

    put(stack, key, jpeg_bytes(color=BLUE))  # a genuine re-upload, with an ordinary sequencer
    invoke(app, sqs_event(stack, {"genuine": {"Records": [s3_record(stack, key, "0200")]}}))

    item = items(stack)[uri(stack, key)]
    assert (item["label"], item["etag"]) == ("dog", head_etag(stack, key))


def test_object_removed_marks_the_item_deleted_and_late_creates_cannot_resurrect_it(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    key = "uploads/gone.jpg"
    put(stack, key, jpeg_bytes(color=RED))
    invoke(app, sqs_event(stack, {"c": {"Records": [s3_record(stack, key, "10")]}}))
    boto3.client("s3", region_name=REGION).delete_object(Bucket=stack.bucket, Key=key)

    removed = {"d": {"Records": [s3_record(stack, key, "20", "ObjectRemoved:Delete")]}}
    assert invoke(app, sqs_event(stack, removed)) == {"batchItemFailures": []}
    item = items(stack)[uri(stack, key)]
    assert item["status"] == "deleted" and "label" not in item

    # a late redelivery of the first upload's event finds no object: the tombstone stays
    assert invoke(app, sqs_event(stack, {"c2": {"Records": [s3_record(stack, key, "10")]}})) == {
        "batchItemFailures": []}
    assert items(stack)[uri(stack, key)]["status"] == "deleted"

    put(stack, key, jpeg_bytes(color=BLUE))  # uploaded again: a newer look at the key wins
    invoke(app, sqs_event(stack, {"c3": {"Records": [s3_record(stack, key, "30")]}}))
    assert items(stack)[uri(stack, key)]["label"] == "dog"


def test_a_forged_removal_of_an_object_that_exists_changes_nothing(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    key = "uploads/still-here.jpg"
    put(stack, key, jpeg_bytes(color=RED))
    invoke(app, sqs_event(stack, {"c": {"Records": [s3_record(stack, key, "10")]}}))
    before = items(stack)[uri(stack, key)]

    forged = {"d": {"Records": [s3_record(stack, key, "F" * 20, "ObjectRemoved:Delete")]}}
    assert invoke(app, sqs_event(stack, forged)) == {"batchItemFailures": []}

    assert items(stack)[uri(stack, key)] == before


def test_real_delete_notification_from_moto(stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    put(stack, "uploads/x.jpg", jpeg_bytes(color=RED))
    invoke(app, drain_as_sqs_event(stack))
    boto3.client("s3", region_name=REGION).delete_object(Bucket=stack.bucket, Key="uploads/x.jpg")
    invoke(app, drain_as_sqs_event(stack))
    assert items(stack)[uri(stack, "uploads/x.jpg")]["status"] == "deleted"


def test_object_deleted_before_read_is_skipped_not_retried(stack: Stack, app: ModuleType,
                                                           models: dict[str, Path],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    publish(stack, models["v1"])
    event = sqs_event(stack, {"m": {"Records": [s3_record(stack, "uploads/never-there.jpg", "01")]}})
    assert invoke(app, event) == {"batchItemFailures": []}
    assert items(stack) == {}
    # a key that never existed is not "deleted before it was read"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "object not found (deleted since the event, or never uploaded)" in logged
    assert "deleted before it was read" not in logged


# ----------------------------------------------------------------------------------------- the model


def test_no_model_published_sends_every_message_back(stack: Stack, app: ModuleType,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    put(stack, "uploads/a.jpg", jpeg_bytes(color=RED))
    put(stack, "uploads/b.jpg", jpeg_bytes(color=BLUE))
    event = drain_as_sqs_event(stack)
    image_ids = [r["messageId"] for r in event["Records"] if "Records" in json.loads(r["body"])]

    response = invoke(app, event)

    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(image_ids)
    assert items(stack) == {}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("no model published" in m and "models/latest.json" in m for m in errors), errors


def test_corrupt_model_sends_messages_back(stack: Stack, app: ModuleType, models: dict[str, Path],
                                           tmp_path: Path) -> None:
    """Garbage whose sha256 the manifest records: LiteRT's flatbuffer verifier refuses it."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / TFLITE_FILE).write_bytes(b"this is not a flatbuffer" * 10)
    write_manifest(broken, Manifest.from_json((models["v1"] / MANIFEST_FILE).read_text()))
    publish(stack, broken)
    put(stack, "uploads/a.jpg", jpeg_bytes(color=RED))
    event = drain_as_sqs_event(stack)

    response = invoke(app, event)

    assert len(response["batchItemFailures"]) == 1
    assert items(stack) == {}


def test_a_model_whose_bytes_do_not_match_its_manifest_is_never_served(
        stack: Stack, models: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """model.tflite replaced on S3 after publishing: a warm container keeps serving the verified
    version, a cold one refuses the new bytes (the messages go back) instead of serving other
    weights under the same model_version."""
    publish(stack, models["v1"])
    warm = load_module()
    put(stack, "uploads/a.jpg", jpeg_bytes(color=RED))
    invoke(warm, drain_as_sqs_event(stack))
    s3 = boto3.client("s3", region_name=REGION)
    other = (models["v2"] / TFLITE_FILE).read_bytes()
    s3.put_object(Bucket=stack.bucket, Key="models/test-v1/model.tflite", Body=other)  # swapped under v1

    put(stack, "uploads/b.jpg", jpeg_bytes(color=RED))
    assert invoke(warm, drain_as_sqs_event(stack)) == {"batchItemFailures": []}
    cold = load_module()
    put(stack, "uploads/c.jpg", jpeg_bytes(color=RED))
    response = invoke(cold, drain_as_sqs_event(stack))

    assert len(response["batchItemFailures"]) == 1
    assert set(items(stack)) == {uri(stack, "uploads/a.jpg"), uri(stack, "uploads/b.jpg")}
    assert any("does not match its manifest" in r.getMessage() for r in caplog.records)


def test_a_manifest_without_checksums_is_refused_until_republished(stack: Stack, app: ModuleType,
                                                                   models: dict[str, Path], tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / TFLITE_FILE).write_bytes((models["v1"] / TFLITE_FILE).read_bytes())
    raw = json.loads((models["v1"] / MANIFEST_FILE).read_text())
    (old / MANIFEST_FILE).write_text(json.dumps({k: v for k, v in raw.items() if k != "checksums"}))
    publish(stack, old)
    put(stack, "uploads/a.jpg", jpeg_bytes(color=RED))

    response = invoke(app, drain_as_sqs_event(stack))

    assert len(response["batchItemFailures"]) == 1 and items(stack) == {}
    assert any("re-publish it with `catdog publish`" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("version", ["..", "../../outside"])
def test_a_pointer_naming_a_version_outside_the_cache_is_refused_and_nothing_outside_is_touched(
        stack: Stack, app: ModuleType, tmp_path: Path, version: str) -> None:
    cache = Path(os.environ["MODEL_CACHE_DIR"])
    neighbour = cache.parent / "precious.txt"
    neighbour.write_text("must survive")
    pointer = {"version": version, "manifest_key": f"models/{version}/manifest.json",
               "model_key": f"models/{version}/model.tflite"}
    boto3.client("s3", region_name=REGION).put_object(Bucket=stack.bucket, Key="models/latest.json",
                                                      Body=json.dumps(pointer).encode())
    put(stack, "uploads/a.jpg", jpeg_bytes(color=RED))

    response = invoke(app, drain_as_sqs_event(stack))

    assert len(response["batchItemFailures"]) == 1 and items(stack) == {}
    assert neighbour.read_text() == "must survive"
    assert sorted(p.name for p in cache.parent.iterdir()) == sorted(["precious.txt", *(
        [cache.name] if cache.exists() else [])])


def test_new_model_is_hot_swapped_after_the_refresh_interval(
        stack: Stack, app: ModuleType, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "60")
    publish(stack, models["v1"])
    put(stack, "uploads/a.jpg", jpeg_bytes(color=RED))
    invoke(app, drain_as_sqs_event(stack))
    store = app.processor.runtime.store
    now = [1000.0]
    store.clock = lambda: now[0]
    store._checked_at = now[0]  # the load above counts as "just checked"
    publish(stack, models["v2"])

    put(stack, "uploads/b.jpg", jpeg_bytes(color=RED))
    invoke(app, drain_as_sqs_event(stack))
    assert items(stack)[uri(stack, "uploads/b.jpg")]["model_version"] == "test-v1", "too early to re-check"

    now[0] += 61
    put(stack, "uploads/c.jpg", jpeg_bytes(color=RED))
    invoke(app, drain_as_sqs_event(stack))
    c = items(stack)[uri(stack, "uploads/c.jpg")]
    assert (c["model_version"], c["label"]) == ("test-v2", "kitty")
    assert app.processor.runtime.store is store, "swapped inside the warm container, no reload"


# ------------------------------------------------------------------------------ partial batch failure


class _FlakyS3:
    """Wraps the handler's S3 client: one key is throttled, like a hot S3 prefix would be."""

    def __init__(self, inner: Any, throttled_key: str) -> None:
        self._inner = inner
        self._throttled_key = throttled_key

    def head_object(self, **kw: Any) -> Any:
        if kw["Key"] == self._throttled_key:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "HeadObject")
        return self._inner.head_object(**kw)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self._inner, name)


def test_partial_batch_failure_returns_exactly_the_failed_message_ids(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    for key in ("uploads/ok.jpg", "uploads/throttled.jpg", "uploads/ok2.jpg"):
        put(stack, key, jpeg_bytes(color=RED))
    put(stack, "uploads/bad.jpg", b"not an image")
    event = sqs_event(stack, {
        "m-ok": {"Records": [s3_record(stack, "uploads/ok.jpg", "01")]},
        "m-throttled": {"Records": [s3_record(stack, "uploads/throttled.jpg", "02")]},
        "m-bad": {"Records": [s3_record(stack, "uploads/bad.jpg", "03")]},
        "m-missing": {"Records": [s3_record(stack, "uploads/missing.jpg", "04")]},
        "m-garbage": "this body is not JSON",
        "m-ok2": {"Records": [s3_record(stack, "uploads/ok2.jpg", "05")]},
    })
    reader = app.processor.runtime.batch.reader
    reader.s3 = _FlakyS3(reader.s3, "uploads/throttled.jpg")

    response = invoke(app, event)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-throttled"}]}
    got = items(stack)
    assert got[uri(stack, "uploads/ok.jpg")]["status"] == "classified"
    assert got[uri(stack, "uploads/ok2.jpg")]["status"] == "classified"
    assert got[uri(stack, "uploads/bad.jpg")]["status"] == "failed"
    assert uri(stack, "uploads/throttled.jpg") not in got, "transient errors are retried, not recorded"


def test_direct_s3_invoke_raises_on_transient_errors_so_lambda_retries(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    put(stack, "uploads/t.jpg", jpeg_bytes(color=RED))
    app.processor.runtime.batch.reader.s3 = _FlakyS3(app.processor.runtime.batch.reader.s3, "uploads/t.jpg")
    with pytest.raises(ClientError, match="SlowDown"):
        invoke(app, {"Records": [s3_record(stack, "uploads/t.jpg", "01")]})
    assert items(stack) == {}


def test_metrics_count_classified_failed_and_labels(stack: Stack, app: ModuleType, models: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    publish(stack, models["v1"])
    put(stack, "uploads/r1.jpg", jpeg_bytes(color=RED))
    put(stack, "uploads/r2.jpg", jpeg_bytes(color=RED))
    put(stack, "uploads/b.jpg", jpeg_bytes(color=BLUE))
    put(stack, "uploads/bad.jpg", b"nope")
    event = drain_as_sqs_event(stack)
    capsys.readouterr()

    invoke(app, event)

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    totals: dict[str, float] = {}
    by_label: dict[str, float] = {}
    for doc in emf:
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = doc[metric["Name"]]
            value = sum(value) if isinstance(value, list) else value
            if metric["Name"] == "ImagesByLabel":
                by_label[doc["label"]] = by_label.get(doc["label"], 0) + value
            else:
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + value
    assert (totals["ImagesClassified"], totals["ImagesFailed"]) == (3, 1)
    assert by_label == {"cat": 2, "dog": 1}
    assert totals["ColdStart"] == 1 and totals["ModelLoadTime"] > 0 and "InferenceLatency" in totals


def test_a_backfill_re_answers_the_same_version_and_a_late_removal_of_it_loses(
        stack: Stack, app: ModuleType, models: dict[str, Path]) -> None:
    """A backfill (no sequencer) re-answers an image; a removal event for an object that is still
    there (stale or forged) changes nothing."""
    publish(stack, models["v1"])
    key = "uploads/kept.jpg"
    put(stack, key, jpeg_bytes(color=BLUE))
    invoke(app, sqs_event(stack, {"up": {"Records": [s3_record(stack, key, "30")]}}))
    put(stack, key, jpeg_bytes(color=RED))
    invoke(app, sqs_event(stack, {"backfill": {"Records": [s3_record(stack, key)]}}))
    assert items(stack)[uri(stack, key)]["label"] == "cat"

    late_delete = {"Records": [s3_record(stack, key, "20", "ObjectRemoved:Delete")]}
    invoke(app, sqs_event(stack, {"late": late_delete}))

    assert items(stack)[uri(stack, key)]["status"] == "classified"


def test_a_failed_answer_replaces_a_classified_one_completely(stack: Stack, app: ModuleType,
                                                               models: dict[str, Path]) -> None:
    publish(stack, models["v1"])
    key = "uploads/replaced.jpg"
    put(stack, key, jpeg_bytes(color=RED))
    invoke(app, sqs_event(stack, {"a": {"Records": [s3_record(stack, key, "01")]}}))
    put(stack, key, b"now it is text")
    invoke(app, sqs_event(stack, {"b": {"Records": [s3_record(stack, key, "02")]}}))
    item = items(stack)[uri(stack, key)]
    assert item["status"] == "failed"
    assert not {"label", "confidence", "scores", "width"} & set(item), "no stale fields from the old answer"
