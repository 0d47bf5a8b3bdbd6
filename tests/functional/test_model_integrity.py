"""Every file of a live version is verified before it is acted on (issue 19, finding 1).

The pointer vouched only for model.tflite: a manifest rewritten on S3 with its labels reversed
was served by a cold function (cats answered `dog`), and rollback and promote checked only the
tflite bytes. Now the pointer and each history entry record the sha256 of every file, manifest
included; the function, promote and rollback refuse a file that does not match and name it.
Pointers written before that are still served (what functions and buckets in the field have).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from catdog.manifest import MANIFEST_FILE, ModelPointer, sha256_bytes
from catdog.model_repo import ModelRepo
from catdog_cli.main import main
from catdog_local.events import to_event
from catdog_local.lambda_runtime import LambdaContext, load_module
from catdog_local.provision import Stack
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.pipeline import REGION, function_stack
from training_job.publish import publish_model

RED = (220, 30, 30)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"v1": build_tiny_model_dir(root / "v1", version="v1"),
            "v2": build_tiny_model_dir(root / "v2", version="v2")}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    yield from function_stack(monkeypatch, tmp_path)


def _s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def _classify(stack: Stack, app: ModuleType, key: str) -> dict[str, Any]:
    """Upload a red photo (the tiny model's `cat`) and hand its notification to `app`."""
    _s3().put_object(Bucket=stack.bucket, Key=key, Body=jpeg_bytes(color=RED))
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])
    return dict(app.handler(to_event(messages, stack.queue_arn), LambdaContext()))


def _label(stack: Stack, key: str) -> str | None:
    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    found = table.get_item(Key={"image": f"s3://{stack.bucket}/{key}"}).get("Item")
    return str(found["model_label"]) if found else None


def _reverse_labels(stack: Stack, version: str) -> None:
    """What the attacker did: the manifest rewritten in place, labels reversed, checksums intact."""
    key = f"models/{version}/{MANIFEST_FILE}"
    data = json.loads(_s3().get_object(Bucket=stack.bucket, Key=key)["Body"].read())
    data["labels"] = list(reversed(data["labels"]))
    _s3().put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(data).encode())


def _pointer(stack: Stack) -> ModelPointer:
    raw = _s3().get_object(Bucket=stack.bucket, Key="models/latest.json")["Body"].read()
    return ModelPointer.from_json(raw)


def test_the_pointer_records_the_sha256_of_every_file_manifest_included(stack: Stack,
                                                                         models: dict[str, Path]) -> None:
    pointer = publish_model(models["v1"], f"s3://{stack.bucket}/models/", 0.5)
    on_s3 = {o["Key"].rsplit("/", 1)[1]: sha256_bytes(_s3().get_object(Bucket=stack.bucket, Key=o["Key"])[
        "Body"].read()) for o in _s3().list_objects_v2(Bucket=stack.bucket, Prefix="models/v1/")["Contents"]}
    assert pointer.checksums == on_s3 and MANIFEST_FILE in on_s3 and _pointer(stack) == pointer
    assert pointer.model_sha256 == on_s3["model.tflite"]  # what functions deployed earlier still read


def test_a_rewritten_manifest_is_refused_by_a_cold_function_which_names_it(
        stack: Stack, models: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    publish_model(models["v1"], f"s3://{stack.bucket}/models/", 0.5)
    warm = load_module()
    assert _classify(stack, warm, "uploads/a.jpg") == {"batchItemFailures": []}
    assert _label(stack, "uploads/a.jpg") == "cat"

    _reverse_labels(stack, "v1")
    assert _classify(stack, warm, "uploads/b.jpg") == {"batchItemFailures": []}  # its verified copy
    assert _label(stack, "uploads/b.jpg") == "cat"
    cold = load_module()
    response = _classify(stack, cold, "uploads/c.jpg")

    assert len(response["batchItemFailures"]) == 1 and _label(stack, "uploads/c.jpg") is None  # never "dog"
    refusal = f"s3://{stack.bucket}/models/v1/manifest.json does not match models/latest.json"
    named = [r.getMessage() for r in caplog.records if refusal in r.getMessage()]
    assert named, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


class _Recorder(logging.Handler):
    """The messages of one logger, whatever the function's logging setup did to its handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_pointer_written_before_it_recorded_every_file_is_still_served(
        stack: Stack, models: dict[str, Path]) -> None:
    publish_model(models["v1"], f"s3://{stack.bucket}/models/", 0.5)
    old = json.loads(_pointer(stack).to_json())
    del old["checksums"]  # the pointer as publish wrote it before: model_sha256 only
    _s3().put_object(Bucket=stack.bucket, Key="models/latest.json", Body=json.dumps(old).encode())

    recorder = _Recorder()
    logging.getLogger("catdog.model_integrity").addHandler(recorder)
    try:
        assert _classify(stack, load_module(), "uploads/a.jpg") == {"batchItemFailures": []}
    finally:
        logging.getLogger("catdog.model_integrity").removeHandler(recorder)
    assert _label(stack, "uploads/a.jpg") == "cat"
    assert any("predates the sha256 of manifest.json" in m for m in recorder.messages)

    # and its model.tflite is still checked against it
    _s3().put_object(Bucket=stack.bucket, Key="models/v1/model.tflite",
                     Body=(models["v2"] / "model.tflite").read_bytes() + b"\0")
    assert len(_classify(stack, load_module(), "uploads/b.jpg")["batchItemFailures"]) == 1


def test_promoting_the_live_version_again_upgrades_an_old_pointer(stack: Stack, models: dict[str, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    publish_model(models["v1"], f"s3://{stack.bucket}/models/", 0.5)
    old = json.loads(_pointer(stack).to_json())
    del old["checksums"]
    _s3().put_object(Bucket=stack.bucket, Key="models/latest.json", Body=json.dumps(old).encode())

    assert main(["models", "promote", "v1", "--min-accuracy", "0.5", "--bucket", stack.bucket]) == 0
    assert "now records the sha256 of every file" in capsys.readouterr().out
    assert MANIFEST_FILE in _pointer(stack).checksums


def test_rollback_and_promote_refuse_a_rewritten_manifest_and_name_it(
        stack: Stack, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    dest = f"s3://{stack.bucket}/models/"
    publish_model(models["v1"], dest, 0.5)
    v2 = publish_model(models["v2"], dest, 0.5)
    _reverse_labels(stack, "v1")
    names = ["--bucket", stack.bucket]

    assert main(["models", "rollback", *names]) == 2
    err = capsys.readouterr().err
    assert f"cannot roll back to v1: s3://{stack.bucket}/models/v1/manifest.json does not match" in err
    assert _pointer(stack) == v2

    assert main(["models", "promote", "v1", "--min-accuracy", "0.5", *names]) == 2
    err = capsys.readouterr().err
    assert f"cannot promote v1: s3://{stack.bucket}/models/v1/manifest.json does not match" in err
    assert "models/history/" in err and _pointer(stack) == v2  # which entry vouched for it


def test_rollback_checks_every_file_the_old_pointer_vouches_for(stack: Stack, models: dict[str, Path],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    dest = f"s3://{stack.bucket}/models/"
    publish_model(models["v1"], dest, 0.5)
    publish_model(models["v2"], dest, 0.5)
    _s3().put_object(Bucket=stack.bucket, Key="models/v1/model.h5", Body=b"other weights")
    assert main(["models", "rollback", "--bucket", stack.bucket]) == 2
    assert "models/v1/model.h5 does not match" in capsys.readouterr().err
    _s3().delete_object(Bucket=stack.bucket, Key="models/v1/model.h5")
    assert main(["models", "rollback", "--bucket", stack.bucket]) == 2
    assert "models/v1/model.h5 is missing" in capsys.readouterr().err
    assert ModelRepo(_s3(), stack.bucket).live().version == "v2"  # type: ignore[union-attr]
