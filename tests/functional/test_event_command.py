"""`catdog event` → the handler, in moto: events built for the objects actually in the bucket get them
classified, and `catdog invoke` says so when every object an event names is gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from catdog.manifest import MANIFEST_FILE, TFLITE_FILE, ModelPointer
from catdog_cli.main import main
from catdog_cli.version import LiveModelSource, live_model_line
from catdog_local.lambda_runtime import LambdaContext, load_module
from catdog_local.provision import Stack
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.pipeline import REGION, function_stack

RED = (220, 30, 30)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    yield from function_stack(monkeypatch, tmp_path)


@pytest.fixture
def published(stack: Stack, tmp_path: Path) -> str:
    model_dir = build_tiny_model_dir(tmp_path / "model", version="test-v1")
    pointer = ModelPointer.for_version("models/", "test-v1")
    s3 = boto3.client("s3", region_name=REGION)
    s3.upload_file(str(model_dir / MANIFEST_FILE), stack.bucket, pointer.manifest_key)
    s3.upload_file(str(model_dir / TFLITE_FILE), stack.bucket, pointer.model_key)
    s3.put_object(Bucket=stack.bucket, Key="models/latest.json", Body=pointer.to_json().encode())
    return "test-v1"


def _event(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    assert main(["event", *argv]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def _handler(event: dict[str, Any]) -> Any:
    return load_module().handler(event, LambdaContext())


def _item(stack: Stack, key: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    return dict(table.get_item(Key={"image": f"s3://{stack.bucket}/{key}"})["Item"])


def test_s3_put_event_names_the_real_object_and_gets_it_classified(
        stack: Stack, published: str, capsys: pytest.CaptureFixture[str]) -> None:
    key = "uploads/holiday pics/rød kat.jpg"
    body = jpeg_bytes(color=RED)
    etag = boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=body)["ETag"].strip('"')

    event, notes = _event(capsys, "s3-put", key, "--bucket", stack.bucket)

    obj = event["Records"][0]["s3"]["object"]
    assert (obj["size"], obj["eTag"]) == (len(body), etag) and notes == ""
    assert _handler(event) == {"model_version": published, "classified": 1}
    assert (_item(stack, key)["label"], _item(stack, key)["etag"]) == ("cat", etag)


def test_sqs_event_for_several_keys_is_one_batch(stack: Stack, published: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    keys = ["uploads/a.jpg", "uploads/b.jpg"]
    for key in keys:
        boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=jpeg_bytes(color=RED))

    event, _ = _event(capsys, "sqs", *(f"s3://{stack.bucket}/{k}" for k in keys))

    assert event["Records"][0]["eventSourceARN"].endswith(":catdog-images")
    assert _handler(event) == {"batchItemFailures": []}
    assert [_item(stack, k)["status"] for k in keys] == ["classified", "classified"]


def test_remove_event_leaves_a_tombstone(stack: Stack, published: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    event, _ = _event(capsys, "remove", "uploads/gone.jpg", "--bucket", stack.bucket)
    _handler(event)
    assert _item(stack, "uploads/gone.jpg")["status"] == "deleted"


def test_bucket_comes_from_the_environment(stack: Stack, published: str, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATDOG_BUCKET", stack.bucket)
    event, _ = _event(capsys, "remove", "uploads/x.jpg")
    assert event["Records"][0]["s3"]["bucket"]["name"] == stack.bucket


def test_an_event_for_a_missing_object_says_so_and_invoke_reports_it_gone(
        stack: Stack, published: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    event, notes = _event(capsys, "s3-put", "uploads/never-uploaded.jpg", "--bucket", stack.bucket)
    assert "does not exist: the handler will count it as gone" in notes
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))

    assert main(["invoke", "-e", str(event_file), "--no-local"]) == 0

    out = capsys.readouterr()
    assert json.loads(out.out) == {"model_version": published, "gone": 1}
    assert "the object in the event no longer exists: nothing was classified" in out.err


def test_invoke_of_an_existing_object_says_nothing_about_gone(
        stack: Stack, published: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    boto3.client("s3").put_object(Bucket=stack.bucket, Key="uploads/here.jpg", Body=jpeg_bytes())
    event, _ = _event(capsys, "s3-put", "uploads/here.jpg", "--bucket", stack.bucket)
    (tmp_path / "event.json").write_text(json.dumps(event))
    assert main(["invoke", "-e", str(tmp_path / "event.json"), "--no-local"]) == 0
    assert "no longer exists" not in capsys.readouterr().err


def test_version_names_the_live_model_of_the_bucket(stack: Stack, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source = LiveModelSource(bucket=stack.bucket)
    assert live_model_line(source) == f"model none published (s3://{stack.bucket}/models/latest.json)"
    pointer = ModelPointer.for_version("models/", "test-v9")  # --version reads the pointer only
    boto3.client("s3").put_object(Bucket=stack.bucket, Key="models/latest.json",
                                  Body=pointer.to_json().encode())
    monkeypatch.setenv("CATDOG_BUCKET", stack.bucket)

    with pytest.raises(SystemExit):
        main(["--version"])

    out = capsys.readouterr().out
    assert out.splitlines()[1] == f"model test-v9 (s3://{stack.bucket}/models/latest.json)", out
