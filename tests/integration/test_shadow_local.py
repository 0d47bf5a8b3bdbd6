"""Issue 21 as a user runs it: `catdog local up`, two real (tiny) models, the real worker process.

Live `v1` says `cat` for a reddish photo; the candidate `v2` has the same labels in the other order,
so it says `dog` (every answer differs). `catdog models shadow v2` → uploads → `catdog local worker`
→ both answers on every item → `catdog models compare` → a review → `promote --require-shadow`
refused (too few), then passed; the shadow pointer goes, and the next upload is answered by v2 alone.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from catdog.manifest import MANIFEST_FILE, Manifest
from catdog.model_repo import ModelRepo, write_manifest
from catdog.results import SHADOW_FIELDS, ResultsTable
from catdog_cli.exit_codes import GATE_REFUSED
from tests.support.aws import fake_aws_env
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.processes import CATDOG, local_up, user_env

pytestmark = pytest.mark.slow

RED, TEAL = (220, 30, 30), (20, 200, 220)


def _model(root: Path, version: str, labels: tuple[str, str]) -> Path:
    folder = build_tiny_model_dir(root / version, labels=labels, version=version)
    manifest = Manifest.from_json((folder / MANIFEST_FILE).read_text())
    write_manifest(folder, dataclasses.replace(manifest, metrics={"accuracy": 0.95}))
    return folder


def _catdog(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CATDOG, *args], env=env, capture_output=True, text=True, timeout=180)


def _work(env: dict[str, str]) -> None:
    run = _catdog(env, "local", "worker", "--until-empty", "--retry-delay", "0", "--wait", "1",
                  "--batch-window", "0")
    assert run.returncode == 0, run.stderr


def test_a_candidate_shadows_the_live_model_then_goes_live_through_the_shadow_gate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = user_env(tmp_path / "stacks")
    env["CATDOG_CACHE"] = str(tmp_path / "cache")
    live, candidate = _model(tmp_path, "v1", ("cat", "dog")), _model(tmp_path, "v2", ("dog", "cat"))
    with local_up(env) as state:
        fake_aws_env(monkeypatch, state.region, state.endpoint)
        table = boto3.resource("dynamodb").Table(state.table)

        def item(key: str) -> dict[str, Any]:
            found: dict[str, Any] = table.get_item(Key={"image": f"s3://{state.bucket}/uploads/{key}"})["Item"]
            return found

        done = _catdog(env, "publish", str(live), "--min-accuracy", "0.9")
        assert done.returncode == 0, done.stderr
        ModelRepo(boto3.client("s3"), state.bucket).upload_version(candidate, "v2")  # published, not live
        done = _catdog(env, "models", "shadow", "v2", "--min-accuracy", "0.9")
        assert done.returncode == 0 and "shadow model: v2" in done.stdout, done.stderr

        photos = tmp_path / "photos"
        photos.mkdir()
        (photos / "red.jpg").write_bytes(jpeg_bytes(color=RED))
        (photos / "teal.jpg").write_bytes(jpeg_bytes(color=TEAL))
        (photos / "notes.jpg").write_bytes(b"not a photo")
        assert _catdog(env, "upload", str(photos), "--quiet").returncode == 0
        _work(env)

        red, teal, notes = item("red.jpg"), item("teal.jpg"), item("notes.jpg")
        assert (red["label"], red["model_version"], red["shadow_label"], red["shadow_version"]) == (
            "cat", "v1", "dog", "v2")
        assert (teal["label"], teal["shadow_label"], teal["shadow_agreement"]) == (
            "dog", "cat", "v2:disagree")
        assert notes["status"] == "failed" and not set(SHADOW_FIELDS) & set(notes)

        done = _catdog(env, "models", "compare", "--require-shadow", "2")
        assert done.returncode == 0, done.stderr
        assert "shadow model v2 beside live v1: 2 uploads answered by both" in done.stdout
        assert "agreement: 0 of 2 (0.0%)" in done.stdout
        assert re.search(r"cat → dog\s+1", done.stdout) and re.search(r"dog → cat\s+1", done.stdout)
        assert "none of them is reviewed" in done.stdout

        # a person says the red photo is a dog: the candidate was right where the live model was not
        ResultsTable(table).record_review(red["image"], etag=red["etag"], human_label="dog", reviewer="ann")
        refused = _catdog(env, "models", "promote", "v2", "--require-shadow", "3")
        assert refused.returncode == GATE_REFUSED
        assert "2 uploads as the shadow model, fewer than the 3 required" in refused.stderr
        assert "reviewed 1 (excluded 0): shadow 100.0%, live 0.0%" in refused.stderr

        done = _catdog(env, "models", "promote", "v2", "--require-shadow", "2", "--min-accuracy", "0.9")
        assert done.returncode == 0, done.stderr
        assert "now v2" in done.stdout and "v2 was the shadow model" in done.stdout

        later = tmp_path / "later"
        later.mkdir()
        (later / "another red.jpg").write_bytes(jpeg_bytes(color=RED))
        assert _catdog(env, "upload", str(later), "--quiet").returncode == 0
        _work(env)
        answer = item("another red.jpg")
        assert (answer["label"], answer["model_version"]) == ("dog", "v2")
        assert not set(SHADOW_FIELDS) & set(answer)
