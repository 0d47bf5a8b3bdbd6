"""`catdog models shadow [VERSION | --off]` against moto: the pointer, the gate, and what it refuses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from catdog.manifest import MANIFEST_FILE, Manifest, ModelPointer, sha256_bytes
from catdog.model_integrity import read_verified
from catdog.model_repo import ModelRepo, write_manifest
from catdog_cli.exit_codes import GATE_REFUSED, OK, USAGE
from catdog_cli.main import main
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.model_factory import build_tiny_model_dir
from training_job.publish import publish_model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    specs: dict[str, dict[str, Any]] = {
        "v1": {}, "v2": {}, "weak": {"accuracy": 0.5}, "bird": {"labels": ("cat", "bird")},
        "small": {"input_size": (16, 16)}, "flipped": {"labels": ("dog", "cat")}}
    out = {}
    for version, spec in specs.items():
        folder = build_tiny_model_dir(tmp_path_factory.mktemp(version), version=version,
                                      **{k: v for k, v in spec.items() if k != "accuracy"})
        manifest = Manifest.from_json((folder / MANIFEST_FILE).read_text())
        accuracy = spec.get("accuracy", 0.95)
        write_manifest(folder, dataclasses.replace(manifest, metrics={"accuracy": accuracy}))
        out[version] = folder
    return out


@pytest.fixture
def repo(stack: Stack, models: dict[str, Path]) -> ModelRepo:
    """v1 live; every other model uploaded (never through a gate)."""
    repo = ModelRepo(boto3.client("s3", region_name=REGION), stack.bucket)
    publish_model(models["v1"], repo.uri(), 0.9)
    for name in ("v2", "weak", "bird", "small", "flipped"):
        repo.upload_version(models[name], name)
    return repo


def _shadow(repo: ModelRepo, *args: str) -> int:
    return main(["models", "shadow", *args, "--bucket", repo.bucket])


def test_shadow_writes_a_pointer_that_vouches_for_every_file_and_moves_nothing_live(
        repo: ModelRepo, capsys: pytest.CaptureFixture[str]) -> None:
    live_before = repo.live()
    assert _shadow(repo, "v2", "--min-accuracy", "0.9") == OK
    out = capsys.readouterr().out
    assert "shadow model: v2" in out and "catdog models compare v2" in out
    pointer = repo.shadow()
    assert pointer is not None and pointer.version == "v2" and repo.live() == live_before
    on_s3 = {o["Key"].rsplit("/", 1)[1]: sha256_bytes(repo.read(o["Key"]))
             for o in repo.s3.list_objects_v2(Bucket=repo.bucket, Prefix="models/v2/")["Contents"]}
    assert pointer.checksums == on_s3 and MANIFEST_FILE in on_s3
    # what the function does with it: every file it reads checked against that pointer
    verified = read_verified(repo.s3, repo.bucket, pointer, vouched_by=repo.uri(repo.shadow_key))
    assert verified.manifest_verified and verified.manifest.version == "v2"

    assert _shadow(repo) == OK
    assert "shadow model: v2" in capsys.readouterr().out
    assert main(["models", "list", "--bucket", repo.bucket]) == OK
    listing = capsys.readouterr().out.splitlines()
    assert next(line for line in listing if line.startswith("v2")).split()[-1] == "shadow"
    assert next(line for line in listing if line.startswith("v1")).split()[-1] == "live"
    assert _shadow(repo, "--off") == OK
    assert "shadow model removed (was v2)" in capsys.readouterr().out and repo.shadow() is None
    assert _shadow(repo, "--off") == OK
    assert "no shadow model was set" in capsys.readouterr().out
    assert _shadow(repo) == OK
    assert "no shadow model is set" in capsys.readouterr().out


@pytest.mark.parametrize(("version", "code", "why"), [
    ("weak", GATE_REFUSED, "below --min-accuracy"),
    ("bird", USAGE, "differ from the live model v1's"),
    ("small", USAGE, "takes 16x16 images but the live model v1 takes 32x32"),
    ("v1", USAGE, "v1 is the live model"),
    ("nope", USAGE, "no version 'nope'"),
    ("../v2", USAGE, "not allowed"),
])
def test_shadow_refuses_what_cannot_be_compared_and_writes_nothing(
        repo: ModelRepo, version: str, code: int, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Input: a version under the bar, with other labels, another input size, the live one, none."""
    assert _shadow(repo, version, "--min-accuracy", "0.9") == code
    assert why in capsys.readouterr().err
    assert repo.shadow() is None


def test_labels_in_another_order_are_the_same_labels(repo: ModelRepo) -> None:
    """Answers are recorded by name: ["dog", "cat"] beside ["cat", "dog"] can be compared."""
    assert _shadow(repo, "flipped", "--min-accuracy", "0.9") == OK


def test_a_file_changed_after_upload_is_refused_by_the_gate(repo: ModelRepo,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Input: v2's model.tflite rewritten on S3 after its manifest recorded its sha256."""
    key = "models/v2/model.tflite"
    repo.s3.put_object(Bucket=repo.bucket, Key=key, Body=repo.read(key) + b"\0")
    assert _shadow(repo, "v2", "--min-accuracy", "0.9") == GATE_REFUSED
    assert "sha256 mismatch" in capsys.readouterr().err and repo.shadow() is None


def test_a_version_that_was_live_must_still_match_its_history_entry(
        repo: ModelRepo, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Input: v2 published (live), then v1 promoted back, then v2's manifest rewritten with its labels
    reversed (its own checksums still consistent): the history entry's sha256 of manifest.json
    catches what the manifest alone cannot."""
    publish_model(models["v2"], repo.uri(), 0.9)
    assert main(["models", "promote", "v1", "--bucket", repo.bucket, "--min-accuracy", "0.9"]) == OK
    key = "models/v2/manifest.json"
    data = json.loads(repo.read(key))
    data["labels"].reverse()
    repo.s3.put_object(Bucket=repo.bucket, Key=key, Body=json.dumps(data).encode())
    capsys.readouterr()
    assert _shadow(repo, "v2", "--min-accuracy", "0.9") == USAGE
    assert "manifest.json does not match" in capsys.readouterr().err and repo.shadow() is None


def test_without_a_live_model_there_is_nothing_to_shadow(stack: Stack, models: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    repo = ModelRepo(boto3.client("s3", region_name=REGION), stack.bucket)
    repo.upload_version(models["v2"], "v2")
    assert _shadow(repo, "v2") == USAGE
    assert "no model is live" in capsys.readouterr().err


def test_promoting_the_shadow_version_removes_the_shadow_pointer(repo: ModelRepo,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert _shadow(repo, "v2", "--min-accuracy", "0.9") == OK
    assert main(["models", "promote", "v2", "--bucket", repo.bucket, "--min-accuracy", "0.9"]) == OK
    out = capsys.readouterr().out
    assert "v2 was the shadow model" in out and repo.shadow() is None
    assert isinstance(repo.live(), ModelPointer) and repo.live().version == "v2"  # type: ignore[union-attr]


def test_both_a_version_and_off_is_a_usage_error(repo: ModelRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert _shadow(repo, "v2", "--off") == USAGE
    assert "not both" in capsys.readouterr().err
