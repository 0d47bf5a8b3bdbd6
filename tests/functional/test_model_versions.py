"""`catdog models list|promote|rollback` against moto: the gate, the history, and exact rollbacks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import boto3
import pytest

from catdog.manifest import Manifest, ModelPointer
from catdog.model_history import read_history
from catdog.model_repo import ModelRepo, write_manifest
from catdog.results import ResultsTable
from catdog_cli.exit_codes import GATE_REFUSED
from catdog_cli.main import main
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.model_factory import build_tiny_model_dir
from tests.support.review import Photo, publish_manifest, put_photos
from training_job.publish import publish_model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three tiny real models: two good ones and one under the gate's bar."""
    out = {}
    for version, accuracy in (("v1", 0.95), ("v2", 0.96), ("weak", 0.5)):
        folder = build_tiny_model_dir(tmp_path_factory.mktemp(version), version=version)
        manifest = Manifest.from_json((folder / "manifest.json").read_text())
        write_manifest(folder, dataclasses.replace(manifest, metrics={"accuracy": accuracy},
                                                   created_at=f"2026-11-2{len(out)}T00:00:00+00:00"))
        out[version] = folder
    return out


def _live(stack: Stack) -> ModelPointer:
    raw = boto3.client("s3", region_name=REGION).get_object(Bucket=stack.bucket, Key="models/latest.json")
    return ModelPointer.from_json(raw["Body"].read())


def test_list_promote_rollback_through_the_gate_and_the_history(
        stack: Stack, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    dest = f"s3://{stack.bucket}/models/"
    first = publish_model(models["v1"], dest, 0.9)
    publish_model(models["v2"], dest, 0.9)
    ModelRepo.at(dest).upload_version(models["weak"], "weak")  # uploaded, never past the gate
    etags = put_photos(stack, REGION, [Photo("uploads/a.jpg", "dog", 0.9, "v2"),
                                       Photo("uploads/b.jpg", "cat", 0.9, "v2")])
    writer = ResultsTable.named(stack.table)
    for key, label in (("uploads/a.jpg", "cat"), ("uploads/b.jpg", "cat")):
        writer.record_review(f"s3://{stack.bucket}/{key}", etag=etags[key], human_label=label, reviewer="ann")
    names = ["--bucket", stack.bucket]

    assert main(["models", "list", *names, "--table", stack.table]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing[2:]] == ["v1", "v2", "weak"]
    v2 = next(line for line in listing if line.startswith("v2"))
    assert "0.9600" in v2 and "live" in v2 and v2.split()[-4:] == ["2", "1", "50.0%", "0"]

    assert main(["models", "rollback", *names]) == 0
    assert "live was v2, now v1" in capsys.readouterr().out
    assert _live(stack) == first  # the very pointer v1 was published with

    assert main(["models", "rollback", *names]) == 2  # nothing was live before v1
    assert "no version was live before v1" in capsys.readouterr().err

    assert main(["models", "promote", "weak", "--min-accuracy", "0.9", *names]) == GATE_REFUSED
    assert "below --min-accuracy" in capsys.readouterr().err and _live(stack).version == "v1"
    assert main(["models", "promote", "nope", *names]) == 2
    assert "no version 'nope'" in capsys.readouterr().err
    assert main(["models", "promote", "../v2", *names]) == 2

    assert main(["models", "promote", "v2", "--min-accuracy", "0.9", *names]) == 0
    assert "live was v1, now v2" in capsys.readouterr().out and _live(stack).version == "v2"
    assert main(["models", "promote", "v2", *names]) == 0
    assert "already live; nothing changed" in capsys.readouterr().out

    assert main(["models", "rollback", *names]) == 0
    assert _live(stack) == first
    history = read_history(ModelRepo.at(dest))
    assert [(c.action, c.pointer.version, c.previous) for c in history] == [
        ("publish", "v1", None), ("publish", "v2", "v1"), ("rollback", "v1", "v2"), ("promote", "v2", "v1"),
        ("rollback", "v1", "v2")]
    assert all(c.by for c in history[2:])  # who moved it


def test_a_rollback_to_files_that_changed_is_refused(stack: Stack, models: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    dest = f"s3://{stack.bucket}/models/"
    publish_model(models["v1"], dest, 0.9)
    publish_model(models["v2"], dest, 0.9)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=stack.bucket, Key="models/v1/model.tflite", Body=b"not the model any more")
    assert main(["models", "rollback", "--bucket", stack.bucket]) == 2
    err = capsys.readouterr().err
    assert "cannot roll back to v1" in err
    assert f"s3://{stack.bucket}/models/v1/model.tflite does not match" in err
    assert _live(stack).version == "v2"
    pointer = s3.get_object(Bucket=stack.bucket, Key="models/latest.json")["Body"].read()
    assert json.loads(pointer)["version"] == "v2"


def test_foreign_files_in_the_history_are_skipped_with_a_warning_not_a_blocked_rollback(
        stack: Stack, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19, finding 5: one stray JSON in models/history/ made every rollback exit 2."""
    dest = f"s3://{stack.bucket}/models/"
    publish_model(models["v1"], dest, 0.9)
    publish_model(models["v2"], dest, 0.9)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=stack.bucket, Key="models/history/notes.json", Body=b'{"todo": "check v2"}')
    s3.put_object(Bucket=stack.bucket, Key="models/history/9999-v1.json", Body=b"{truncated")
    s3.put_object(Bucket=stack.bucket, Key="models/history/README.txt", Body=b"hello")
    assert main(["models", "rollback", "--bucket", stack.bucket]) == 0
    out, err = capsys.readouterr()
    assert "live was v2, now v1" in out and _live(stack).version == "v1"
    for stray in ("notes.json", "9999-v1.json", "README.txt"):
        assert f"models/history/{stray}" in err, stray


def test_models_list_names_a_live_model_whose_labels_the_upgraded_rules_refuse(
        stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """Input: a live manifest published before the label rules, with labels `Cat` and `cat` (they
    would share a folder). docs/deploying.md tells users to run this before deploying the new code."""
    publish_manifest(REGION, stack.bucket, "old-1", labels=("Cat", "cat"))
    assert main(["models", "list", "--bucket", stack.bucket]) == 0
    captured = capsys.readouterr()
    assert "old-1" in captured.out
    assert "warning" in captured.err and "old-1" in captured.err and "share the folder" in captured.err
