"""The quality gate: a good model goes live, a bad one never touches `latest.json`, re-publish is harmless."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from catdog.errors import ManifestError
from catdog.manifest import Manifest, ModelPointer, sha256_bytes
from catdog.model_history import read_history
from catdog.model_repo import ModelRepo, read_manifest, write_manifest
from tests.support.model_factory import build_tiny_model_dir
from training_job.publish import QualityGateError, publish_model

BUCKET = "catdog-models"


@pytest.fixture
def aws_region() -> str:
    return "us-east-1"  # its buckets are created without a location constraint


@pytest.fixture
def s3(aws_env: str) -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def model_dir(tmp: Path, version: str, accuracy: float | None) -> Path:
    """The tiny test model with a chosen version and recorded validation accuracy."""
    out = build_tiny_model_dir(tmp / version, version=version)
    manifest = Manifest.from_json((out / "manifest.json").read_text())
    metrics = {} if accuracy is None else {"accuracy": accuracy}
    (out / "manifest.json").write_text(dataclasses.replace(manifest, metrics=metrics).to_json())
    (out / "metrics.json").write_text(json.dumps(metrics))
    return out


def pointer(s3: object) -> ModelPointer:
    return ModelPointer.from_json(s3.get_object(Bucket=BUCKET, Key="models/latest.json")["Body"].read())


def keys(s3: object) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_passing_model_is_uploaded_then_pointed_at(s3: object, tmp_path: Path) -> None:
    live = publish_model(model_dir(tmp_path, "v1", 0.95), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    assert live.version == "v1" and live.accuracy == 0.95
    assert live.manifest_key == "models/v1/manifest.json" and live.model_key == "models/v1/model.tflite"
    assert pointer(s3) == live
    assert {
        "models/v1/model.tflite",
        "models/v1/model.h5",
        "models/v1/manifest.json",
        "models/v1/metrics.json",
        "models/latest.json",
    } <= keys(s3)
    manifest = Manifest.from_json(s3.get_object(Bucket=BUCKET, Key=live.manifest_key)["Body"].read())
    assert manifest.version == "v1"


def test_gate_refuses_a_worse_model_and_the_live_one_stays(s3: object, tmp_path: Path) -> None:
    publish_model(model_dir(tmp_path, "good", 0.97), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    before_pointer = s3.get_object(Bucket=BUCKET, Key="models/latest.json")["Body"].read()
    before_keys = keys(s3)
    with pytest.raises(QualityGateError, match=r"0\.6000 is below --min-accuracy 0\.9000"):
        publish_model(model_dir(tmp_path, "bad", 0.6), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    assert s3.get_object(Bucket=BUCKET, Key="models/latest.json")["Body"].read() == before_pointer
    assert keys(s3) == before_keys  # nothing of the refused version was uploaded


def test_gate_refuses_a_model_without_recorded_accuracy(s3: object, tmp_path: Path) -> None:
    with pytest.raises(QualityGateError, match="no validation accuracy"):
        publish_model(model_dir(tmp_path, "unscored", None), f"s3://{BUCKET}/models/", min_accuracy=0.5)
    assert "models/latest.json" not in keys(s3)


def test_gate_refuses_a_tflite_the_serving_path_cannot_load(s3: object, tmp_path: Path) -> None:
    broken = model_dir(tmp_path, "broken", 0.99)
    (broken / "model.tflite").write_bytes(b"not a flatbuffer")
    write_manifest(broken, read_manifest(broken))  # its manifest vouches for the broken bytes
    with pytest.raises(QualityGateError, match="serving path cannot run it"):
        publish_model(broken, f"s3://{BUCKET}/models/", min_accuracy=0.5)
    assert keys(s3) == set()


def test_a_model_file_changed_after_training_is_refused(s3: object, tmp_path: Path) -> None:
    """model.tflite swapped for another one after the manifest recorded its sha256."""
    src = model_dir(tmp_path, "tampered", 0.99)
    other = build_tiny_model_dir(tmp_path / "other", version="x") / "model.tflite"
    (src / "model.tflite").write_bytes(other.read_bytes() + b"\0")
    with pytest.raises(QualityGateError, match=r"model\.tflite .* changed since the manifest"):
        publish_model(src, f"s3://{BUCKET}/models/", min_accuracy=0.5)
    assert keys(s3) == set()


def test_published_manifest_and_pointer_carry_the_checksums_the_lambda_verifies(
        s3: object, tmp_path: Path) -> None:
    src = model_dir(tmp_path, "v1", 0.95)  # metrics.json was written after the manifest: not covered yet
    live = publish_model(src, f"s3://{BUCKET}/models/", min_accuracy=0.9)
    published = Manifest.from_json(s3.get_object(Bucket=BUCKET, Key=live.manifest_key)["Body"].read())
    tflite = s3.get_object(Bucket=BUCKET, Key=live.model_key)["Body"].read()
    assert live.model_sha256 == published.checksums["model.tflite"] == sha256_bytes(tflite)
    assert set(published.checksums) == {"model.tflite", "model.h5", "metrics.json"}


def test_republishing_other_bytes_under_a_published_version_is_refused(s3: object, tmp_path: Path) -> None:
    """Warm and cold containers would serve different weights under one model_version."""
    publish_model(model_dir(tmp_path / "a", "v1", 0.95), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    before = s3.get_object(Bucket=BUCKET, Key="models/v1/model.tflite")["Body"].read()
    other = model_dir(tmp_path / "b", "v1", 0.97)
    (other / "model.tflite").write_bytes((other / "model.tflite").read_bytes() + b"\0")  # other weights
    write_manifest(other, read_manifest(other))
    with pytest.raises(QualityGateError, match=r"already published with a different model\.tflite"):
        publish_model(other, f"s3://{BUCKET}/models/", min_accuracy=0.9)
    assert s3.get_object(Bucket=BUCKET, Key="models/v1/model.tflite")["Body"].read() == before


@pytest.mark.parametrize("version", ["..", "../escape", "a/b", ".hidden", "", "x" * 200])
def test_a_version_that_is_not_a_safe_folder_name_is_refused(
        s3: object, tmp_path: Path, version: str) -> None:
    src = model_dir(tmp_path, "ok", 0.99)
    raw = json.loads((src / "manifest.json").read_text())
    (src / "manifest.json").write_text(json.dumps({**raw, "version": version}))
    with pytest.raises(ManifestError, match="not allowed"):
        publish_model(src, f"s3://{BUCKET}/models/", min_accuracy=0.5)
    assert keys(s3) == set()


def test_republishing_the_same_version_is_harmless(s3: object, tmp_path: Path) -> None:
    src = model_dir(tmp_path, "v1", 0.95)
    first = publish_model(src, f"s3://{BUCKET}/models/", min_accuracy=0.9)
    etags = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    again = publish_model(src, f"s3://{BUCKET}/models/", min_accuracy=0.9)
    assert again == first == pointer(s3)  # same published_at: the pointer was not rewritten
    assert {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]} == etags


def test_newer_version_replaces_the_pointer_and_keeps_the_old_files(s3: object, tmp_path: Path) -> None:
    publish_model(model_dir(tmp_path, "v1", 0.95), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    publish_model(model_dir(tmp_path, "v2", 0.96), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    assert pointer(s3).version == "v2"
    assert "models/v1/model.tflite" in keys(s3)  # rollback = point latest.json back at v1


def test_every_pointer_move_is_appended_to_the_history_and_nothing_else_is(s3: object,
                                                                           tmp_path: Path) -> None:
    src = model_dir(tmp_path, "v1", 0.95)
    first = publish_model(src, f"s3://{BUCKET}/models/", min_accuracy=0.9)
    publish_model(src, f"s3://{BUCKET}/models/", min_accuracy=0.9)  # already live: no move, no entry
    with pytest.raises(QualityGateError):
        publish_model(model_dir(tmp_path, "bad", 0.5), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    second = publish_model(model_dir(tmp_path, "v2", 0.96), f"s3://{BUCKET}/models/", min_accuracy=0.9)
    history = read_history(ModelRepo.at(f"s3://{BUCKET}/models/", s3))
    assert [(c.action, c.pointer, c.previous) for c in history] == [("publish", first, None),
                                                                    ("publish", second, "v1")]
    assert all(c.key.startswith(f"s3://{BUCKET}/models/history/")
               and c.key.endswith(f"-{c.pointer.version}.json") for c in history)
    assert ModelRepo.at(f"s3://{BUCKET}/models/", s3).list_versions() == ["v1", "v2"]  # history/ is not one


def test_the_history_folder_name_cannot_be_a_version(s3: object, tmp_path: Path) -> None:
    with pytest.raises(QualityGateError, match="reserved"):
        publish_model(model_dir(tmp_path, "history", 0.95), f"s3://{BUCKET}/models/", min_accuracy=0.9)


def test_publishing_from_s3_model_dir(s3: object, tmp_path: Path) -> None:
    src = model_dir(tmp_path, "v3", 0.93)
    for path in src.iterdir():
        s3.put_object(Bucket=BUCKET, Key=f"runs/7/{path.name}", Body=path.read_bytes())
    live = publish_model(f"s3://{BUCKET}/runs/7/", f"s3://{BUCKET}/models/", min_accuracy=0.9)
    assert live.version == "v3" and "models/v3/model.tflite" in keys(s3)


def test_destination_must_be_s3(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="s3://"):
        publish_model(model_dir(tmp_path, "v1", 0.95), str(tmp_path / "models"), min_accuracy=0.9)


@pytest.mark.parametrize("bar", [float("nan"), float("inf"), -0.1, 1.5, True])
def test_a_quality_gate_that_is_not_a_share_is_refused_not_passed(s3: object, tmp_path: Path,
                                                                   bar: float) -> None:
    """Issue 19, finding 6: `nan` compares false with everything, so MIN_ACCURACY=nan let any model live."""
    with pytest.raises(ValueError, match="not a number in"):
        publish_model(model_dir(tmp_path, "weak", 0.1), f"s3://{BUCKET}/models/", min_accuracy=bar)
    assert keys(s3) == set()
