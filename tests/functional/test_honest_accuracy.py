"""Reviewed accuracy leaves out the photos a model was trained on (issue 19, finding 10).

After `dataset export` → train → promote → backfill, `models list` showed the new version
"4 agreed, 100%" on exactly the 4 reviewed photos it had been trained on. Now the trainer records
which exported photos it used (`data.trained_on`, from the export's record), and `models list`,
the page and the report count them apart ("excluded") instead of as agreement.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from catdog.classifier import Prediction
from catdog.results import ImageFacts, ResultsTable
from catdog.s3_events import ObjectEvent
from catdog_cli.main import main
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.images import jpeg_bytes
from tests.support.review import Photo, publish_manifest, put_photos, review_site
from training_job.data import load_data

LEARNED = [f"uploads/learned-{i}.jpg" for i in range(4)]  # reviewed, exported, trained on
FRESH = ["uploads/fresh-0.jpg", "uploads/fresh-1.jpg"]  # reviewed after the export: never seen


def image_id(image: str, etag: str) -> str:
    """The id docs/review.md gives for one photo and object version (catdog.manifest.image_id)."""
    return hashlib.sha256(f"{image}\n{etag}".encode()).hexdigest()[:32]


def _review(stack: Stack, etags: dict[str, str], keys: list[str], label: str) -> None:
    writer = ResultsTable.named(stack.table)
    for key in keys:
        writer.record_review(f"s3://{stack.bucket}/{key}", etag=etags[key], human_label=label, reviewer="ann")


def _answer(stack: Stack, etags: dict[str, str], keys: list[str], label: str, version: str) -> None:
    """What a backfill does: the same object versions answered by `version` (the reviews stay)."""
    writer = ResultsTable.named(stack.table)
    for key in keys:
        event = ObjectEvent(bucket=stack.bucket, key=key, event_name="ObjectCreated:Put")
        facts = ImageFacts(etag=etags[key], size_bytes=100, width=64, height=48, format="JPEG")
        other = "dog" if label == "cat" else "cat"
        writer.put_classified(event, facts, Prediction(label, 0.99, {label: 0.99, other: 0.01}), version)


def test_the_photos_a_version_learned_from_are_excluded_from_its_reviewed_accuracy(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "cache"))
    publish_manifest(REGION, stack.bucket, "v1")
    etags = put_photos(stack, REGION, [Photo(k, "dog", 0.7) for k in LEARNED])  # v1 said dog: wrong
    _review(stack, etags, LEARNED, "cat")
    names = ["--table", stack.table, "--bucket", stack.bucket]

    export = tmp_path / "corrections"
    assert main(["dataset", "export", str(export), "--quiet", *names]) == 0
    original = tmp_path / "original"  # trained on the corrections merged with other photos
    for folder, color in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        for split in ("train", "validation"):
            (original / split / folder).mkdir(parents=True)
            (original / split / folder / "x.jpg").write_bytes(jpeg_bytes(color=color))
    data = load_data([str(original), str(export)], (32, 32))
    learned_ids = sorted(image_id(f"s3://{stack.bucket}/{k}", etags[k]) for k in LEARNED)
    assert data.trained_on == learned_ids and data.summary()["trained_on"] == learned_ids

    publish_manifest(REGION, stack.bucket, "v2", trained_on=data.trained_on)  # promoted
    fresh = put_photos(stack, REGION, [Photo(k, "cat", 0.8, "v2") for k in FRESH])
    _review(stack, fresh, FRESH, "cat")
    _review(stack, fresh, FRESH[1:], "dog")  # v2 got one of the two fresh photos wrong
    _answer(stack, etags, LEARNED, "cat", "v2")  # the backfill: v2 answers what it learned, rightly

    assert main(["models", "list", *names]) == 0
    out = capsys.readouterr().out
    v2 = next(line for line in out.splitlines() if line.startswith("v2"))
    assert v2.split()[-6:] == ["2", "1", "50.0%", "4", "trained", "on"], out  # not "6 agreed 5, 83.3%"
    assert "leaves out the reviewed photos a version was trained on" in out

    report = tmp_path / "report.html"
    assert main(["report", "-o", str(report), *names]) == 0
    html = report.read_text()
    assert re.search(r"v2 \(live\)</td>\s*<td>2</td><td>1</td><td>50.0%</td><td>4</td>", html)
    assert "excluded (trained on)" in html

    with review_site(stack, REGION, tmp_path / "thumbs") as (client, _):
        page = client.get("/").get_data(as_text=True)
    assert re.search(r"v2 \(live\)</td>\s*<td>2</td><td>1</td><td>50.0%</td><td>4</td>", page)


def test_the_trainer_records_only_the_exported_photos_it_used(stack: Stack, tmp_path: Path) -> None:
    publish_manifest(REGION, stack.bucket, "v1")
    keys = [f"uploads/p{i}.jpg" for i in range(6)]
    etags = put_photos(stack, REGION, [Photo(k, "cat", 0.9) for k in keys])
    _review(stack, etags, keys[:3], "cat")
    _review(stack, etags, keys[3:], "dog")
    export = tmp_path / "ds"
    assert main(["dataset", "export", str(export), "--quiet", "--table", stack.table, "--bucket",
                 stack.bucket]) == 0
    record = json.loads((export / "catdog-dataset.json").read_text())
    used = load_data([str(export)], (32, 32), limit=1)  # one image per class and split
    assert len(used.trained_on) == len(used.train.names) + len(used.validation.names) < len(record["images"])
    by_path = {i["path"]: image_id(i["image"], i["etag"]) for i in record["images"]}
    assert set(used.trained_on) == {by_path[n] for n in used.train.names + used.validation.names}
    plain = tmp_path / "plain" / "cats"
    plain.mkdir(parents=True)
    (plain / "a.jpg").write_bytes(jpeg_bytes(color=(200, 30, 30)))
    (plain.parent / "dogs").mkdir()
    (plain.parent / "dogs" / "b.jpg").write_bytes(jpeg_bytes(color=(30, 30, 200)))
    (plain.parent / "dogs" / "c.jpg").write_bytes(jpeg_bytes(color=(30, 30, 210)))
    (plain / "d.jpg").write_bytes(jpeg_bytes(color=(210, 30, 30)))
    assert load_data([str(plain.parent)], (32, 32)).trained_on == []  # not an export: nothing recorded


def test_a_copy_the_export_left_out_counts_as_trained_on_with_the_photo_it_copies(
        stack: Stack, tmp_path: Path) -> None:
    """Input: the same bytes uploaded as uploads/a/pet.jpg and uploads/b/pet.jpg, both reviewed. The
    export keeps one and lists the other as a copy; a model trained on the kept one learned the
    copy's bytes too, so its reviewed accuracy must leave out both."""
    publish_manifest(REGION, stack.bucket, "v1")
    same = jpeg_bytes((40, 30), (10, 200, 10))
    keys = [f"uploads/c{i}.jpg" for i in range(2)] + [f"uploads/d{i}.jpg" for i in range(2)]
    photos = [Photo(k, "cat", 0.9) for k in keys[:2]] + [Photo(k, "dog", 0.9) for k in keys[2:]]
    photos += [Photo("uploads/a/pet.jpg", "cat", 0.9, body=same), Photo("uploads/b/pet.jpg", "cat", 0.9,
                                                                         body=same)]
    etags = put_photos(stack, REGION, photos)
    _review(stack, etags, [*keys[:2], "uploads/a/pet.jpg", "uploads/b/pet.jpg"], "cat")
    _review(stack, etags, keys[2:], "dog")
    export = tmp_path / "ds"
    assert main(["dataset", "export", str(export), "--quiet", "--validation-split", "0", "--table",
                 stack.table, "--bucket", stack.bucket]) == 0
    record = json.loads((export / "catdog-dataset.json").read_text())
    [copy] = record["copies_left_out"]
    trained_on = set(load_data([str(export)], (32, 32), validation_split=0.5).trained_on)
    uri = f"s3://{stack.bucket}/"
    assert image_id(copy["image"], etags[copy["image"].removeprefix(uri)]) in trained_on
    assert image_id(copy["copy_of"], etags[copy["copy_of"].removeprefix(uri)]) in trained_on
    assert len(trained_on) == len(record["images"]) + 1  # every exported photo was used, and the copy
