"""`catdog dataset export`: the trainer's layout from the human labels, to a directory or to S3."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from catdog.results import ResultsTable
from catdog_cli.main import main
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.images import jpeg_bytes
from tests.support.review import HOSTILE_KEY, Photo, publish_manifest, put_photos
from training_job.data import load_data

CATS = [f"uploads/c{i}.jpg" for i in range(5)]
DOGS = [f"uploads/d{i}.jpg" for i in range(4)]
PHOTOS = [*(Photo(k, "dog", 0.7) for k in CATS), *(Photo(k, "dog", 0.97) for k in DOGS),
          Photo(HOSTILE_KEY, "cat", 0.99), Photo("uploads/sure-cat.jpg", "cat", 0.98),
          Photo("uploads/unsure.jpg", "cat", 0.6), Photo("uploads/neither.jpg", "cat", 0.8),
          Photo("uploads/replaced.jpg", "cat", 0.8), Photo("uploads/broken.jpg", "failed", body=b"nope")]


@pytest.fixture
def reviewed(stack: Stack) -> Stack:
    """Cats the model called dogs (reviewed), dogs it got right (two reviewed), one 'neither'."""
    publish_manifest(REGION, stack.bucket, "v1")
    etags = put_photos(stack, REGION, PHOTOS)
    writer = ResultsTable.named(stack.table)

    def review(key: str, label: str) -> None:
        writer.record_review(f"s3://{stack.bucket}/{key}", etag=etags[key], human_label=label, reviewer="ann")

    for key in CATS:
        review(key, "cat")
    for key in DOGS[:2]:
        review(key, "dog")
    review("uploads/neither.jpg", "unknown")
    review("uploads/replaced.jpg", "cat")
    # re-uploaded after the review, before the function answered for the new bytes
    boto3.client("s3", region_name=REGION).put_object(Bucket=stack.bucket, Key="uploads/replaced.jpg",
                                                      Body=jpeg_bytes((9, 9)))
    return stack


def _names(stack: Stack) -> list[str]:
    return ["--table", stack.table, "--bucket", stack.bucket, "--quiet"]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_reviewed_images_in_the_trainer_s_layout_with_a_manifest(
        reviewed: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corrections"
    assert main(["dataset", "export", str(out), *_names(reviewed)]) == 1  # one image was skipped
    captured = capsys.readouterr()
    assert "exported 8 images" in captured.out
    assert "replaced.jpg" in captured.err and "re-uploaded" in captured.err
    files = _files(out)
    assert sum(f.startswith(("train/cats/", "validation/cats/")) for f in files) == 5
    assert sum(f.startswith(("train/dogs/", "validation/dogs/")) for f in files) == 2
    assert [f for f in files if f.startswith("_unknown/")] and "catdog-dataset.json" in files
    assert sum(f.startswith("validation/") for f in files) == 2  # round(5 * 0.2) cats + at least 1 dog
    manifest = json.loads((out / "catdog-dataset.json").read_text())
    assert manifest["counts"] == {"_unknown": {"unknown": 1}, "train": {"cat": 4, "dog": 1},
                                  "validation": {"cat": 1, "dog": 1}}
    assert {i["source"] for i in manifest["images"]} == {"human"}
    assert manifest["skipped"][0]["image"].endswith("replaced.jpg")
    # the files are the labelled photos' own bytes
    s3 = boto3.client("s3", region_name=REGION)
    one = next(i for i in manifest["images"] if i["image"].endswith("/c0.jpg"))
    original = s3.get_object(Bucket=reviewed.bucket, Key="uploads/c0.jpg")["Body"].read()
    assert (out / one["path"]).read_bytes() == original


def test_the_split_is_seeded_and_confident_model_labels_can_be_added(reviewed: Stack,
                                                                      tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    main(["dataset", "export", str(a), *_names(reviewed)])
    main(["dataset", "export", str(b), *_names(reviewed)])
    assert _files(a) == _files(b)
    main(["dataset", "export", str(c), "--include-confident", "0.95", *_names(reviewed)])
    manifest = json.loads((c / "catdog-dataset.json").read_text())
    model = sorted(i["image"].split("/", 3)[3] for i in manifest["images"] if i["source"] == "model")
    assert model == sorted([DOGS[2], DOGS[3], "uploads/sure-cat.jpg", HOSTILE_KEY])  # unreviewed, >= 0.95
    assert all(all(ch.isalnum() or ch in "._-/" for ch in f) for f in _files(c))  # safe names only


def test_the_trainer_takes_the_export_as_is_and_merged_with_the_original(reviewed: Stack,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "corrections"
    main(["dataset", "export", str(out), *_names(reviewed)])
    alone = load_data([str(out)], (32, 32))
    assert alone.labels == ["cat", "dog"]
    assert (len(alone.train.labels), len(alone.validation.labels)) == (5, 2)
    original = tmp_path / "original"
    for split in ("train", "validation"):
        for folder, color in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
            (original / split / folder).mkdir(parents=True)
            (original / split / folder / "x.jpg").write_bytes(jpeg_bytes(color=color))
    merged = load_data([str(original), str(out)], (32, 32))
    assert merged.labels == ["cat", "dog"] and len(merged.train.labels) == 7  # same classes, more images


def test_an_s3_destination_gets_server_side_copies(reviewed: Stack,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    dest = f"s3://{reviewed.bucket}/datasets/first/"
    main(["dataset", "export", dest, *_names(reviewed)])
    s3 = boto3.client("s3", region_name=REGION)
    listed = s3.list_objects_v2(Bucket=reviewed.bucket, Prefix="datasets/first/")["Contents"]
    keys = [o["Key"] for o in listed]
    assert len(keys) == 9 and "datasets/first/catdog-dataset.json" in keys
    assert any(k.startswith("datasets/first/train/cats/") for k in keys)
    capsys.readouterr()
    assert main(["dataset", "export", dest, *_names(reviewed)]) == 2  # never mixed into an old export
    assert "already holds objects" in capsys.readouterr().err


def test_nothing_reviewed_is_a_clear_error(stack: Stack, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    put_photos(stack, REGION, PHOTOS[:2])
    assert main(["dataset", "export", str(tmp_path / "x"), *_names(stack)]) == 2
    assert "nothing to export: no reviewed images" in capsys.readouterr().err


# ------------------------------------------------------------------------------- issue 19, finding 3


@pytest.mark.parametrize("prefix", ["uploads/ds1/", "uploads/", "", "models/", "models/ds1/"])
def test_a_destination_the_function_watches_or_the_model_store_uses_is_refused(
        reviewed: Stack, prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Copies under uploads/ were classified again as new photos (and a later export took them
    twice); a folder under models/ showed up as a model version."""
    s3 = boto3.client("s3", region_name=REGION)
    before = {o["Key"] for o in s3.list_objects_v2(Bucket=reviewed.bucket)["Contents"]}
    assert main(["dataset", "export", f"s3://{reviewed.bucket}/{prefix}", *_names(reviewed)]) == 2
    err = capsys.readouterr().err
    assert f"refusing to export to s3://{reviewed.bucket}/{prefix}" in err
    assert ("the function classifies every new object" in err) or ("is the model store" in err)
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=reviewed.bucket)["Contents"]} == before


def test_folders_from_a_crafted_manifest_never_leave_the_export(reviewed: Stack, tmp_path: Path) -> None:
    """The live manifest's data.folders named `..`: the export put a class folder in its parent."""
    publish_manifest(REGION, reviewed.bucket, "v1", folders=["..", "../../outside"])
    out = tmp_path / "exports" / "one"
    assert main(["dataset", "export", str(out), *_names(reviewed)]) == 1  # replaced.jpg is skipped
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["one"]
    assert not (tmp_path / "outside").exists()
    assert {f.split("/")[1] for f in _files(out) if f.startswith("train/")} == {"cat", "dog"}
    assert [f for f in _files(out) if "/" not in f] == ["catdog-dataset.json"]  # no photo in the root


def test_copies_of_one_photo_go_in_once_so_never_in_both_splits(stack: Stack, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    publish_manifest(REGION, stack.bucket, "v1")
    same = jpeg_bytes((40, 30), (10, 200, 10))
    photos = [Photo(f"uploads/cat-{i}.jpg", "cat", 0.99) for i in range(4)]
    photos += [Photo("uploads/a/pet.jpg", "cat", 0.99, body=same), Photo("uploads/b/pet.jpg", "cat", 0.99,
                                                                          body=same)]
    etags = put_photos(stack, REGION, photos)
    ResultsTable.named(stack.table).record_review(f"s3://{stack.bucket}/uploads/b/pet.jpg",
                                                  etag=etags["uploads/b/pet.jpg"], human_label="cat",
                                                  reviewer="ann")
    out = tmp_path / "x"
    assert main(["dataset", "export", str(out), "--include-confident", "0.9", "--validation-split", "0.5",
                 *_names(stack)]) == 0
    record = json.loads((out / "catdog-dataset.json").read_text())
    exported = [i["image"].split("/", 3)[3] for i in record["images"]]
    assert "uploads/b/pet.jpg" in exported and "uploads/a/pet.jpg" not in exported  # the reviewed one
    assert record["copies_left_out"] == [{"image": f"s3://{stack.bucket}/uploads/a/pet.jpg",
                                          "copy_of": f"s3://{stack.bucket}/uploads/b/pet.jpg"}]
    assert "left out 1 copy of photos already in the set" in capsys.readouterr().err
