"""Every `--data` form (dir, zip with and without a top folder, http(s) URL, s3://) and bad data."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from tests.support.images import jpeg_bytes
from training_job.data import DataError, find_entries, load_data

RED, TEAL = (220, 20, 20), (20, 200, 220)
SIZE = (24, 24)


def make_dataset(root: Path, n_train: int = 3, n_val: int = 2, *, splits: bool = True) -> Path:
    for split, n in (("train", n_train), ("validation", n_val)) if splits else ((None, n_train + n_val),):
        for folder, color in (("cats", RED), ("dogs", TEAL)):
            d = root / split / folder if split else root / folder
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (d / f"{folder[:-1]}.{split}.{i}.jpg").write_bytes(jpeg_bytes((40, 30), color))
    return root


def zip_dir(src: Path, dest: Path, top: str | None) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                rel = path.relative_to(src).as_posix()
                zf.write(path, f"{top}/{rel}" if top else rel)
        if top:
            zf.writestr(f"{top}/vectorize.py", "print('not an image, not a class member')\n")
    return dest


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


def test_directory_source(dataset: Path) -> None:
    data = load_data(str(dataset), SIZE)
    assert data.labels == ["cat", "dog"] and data.folders == ["cats", "dogs"]
    assert data.train.images.shape == (6, 24, 24, 3) and data.train.images.dtype == np.uint8
    assert sorted(data.train.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert len(data.validation.labels) == 4 and not data.validation_carved
    cat = data.train.images[data.train.labels == 0][0]
    assert cat[..., 0].mean() > 150 > cat[..., 2].mean()  # decoded through preprocess_image as RGB


@pytest.mark.parametrize("top", ["cats_and_dogs_filtered", None])
def test_zip_with_and_without_top_folder(dataset: Path, tmp_path: Path, top: str | None) -> None:
    archive = zip_dir(dataset, tmp_path / "d.zip", top)
    data = load_data(str(archive), SIZE)
    assert (len(data.train.labels), len(data.validation.labels), data.labels) == (6, 4, ["cat", "dog"])
    assert data.skipped == []  # vectorize.py sits outside the class folders: ignored, not "skipped"
    assert data.fingerprint == load_data(str(dataset), SIZE).fingerprint  # same bytes, same fingerprint


def test_fingerprint_changes_with_content(dataset: Path) -> None:
    before = load_data(str(dataset), SIZE).fingerprint
    (dataset / "train" / "cats" / "cat.train.0.jpg").write_bytes(jpeg_bytes((40, 30), (10, 10, 10)))
    assert load_data(str(dataset), SIZE).fingerprint != before


def test_corrupt_and_non_image_files_are_skipped_and_counted(dataset: Path) -> None:
    cats = dataset / "train" / "cats"
    (cats / "x.jpg").write_text("this is not a jpeg")
    (cats / "truncated.jpg").write_bytes(jpeg_bytes((200, 150), RED)[:300])
    (cats / "empty.jpg").write_bytes(b"")
    data = load_data(str(dataset), SIZE)
    assert len(data.train.labels) == 6
    reasons = {Path(s["name"]).name: s["reason"] for s in data.skipped}
    assert reasons == {"x.jpg": "not_an_image", "truncated.jpg": "corrupt", "empty.jpg": "empty"}
    assert data.summary()["skipped_count"] == 3


def test_missing_validation_split_is_carved_per_class_and_seeded(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "flat", n_train=8, n_val=2, splits=False)  # 10 per class, no splits
    a = load_data(str(root), SIZE, validation_split=0.2, seed=7)
    b = load_data(str(root), SIZE, validation_split=0.2, seed=7)
    c = load_data(str(root), SIZE, validation_split=0.2, seed=8)
    assert a.validation_carved
    assert np.bincount(a.validation.labels).tolist() == [2, 2] and len(a.train.labels) == 16
    assert a.validation.names == b.validation.names != c.validation.names
    assert not set(a.validation.names) & set(a.train.names)


def test_limit_takes_the_first_n_per_class_per_split(dataset: Path) -> None:
    data = load_data(str(dataset), SIZE, limit=1)
    assert np.bincount(data.train.labels).tolist() == [1, 1]
    assert np.bincount(data.validation.labels).tolist() == [1, 1]
    assert data.train.names[0].endswith("cat.train.0.jpg")


@pytest.fixture
def aws_region() -> str:
    return "us-east-1"  # its buckets are created without a location constraint


def test_s3_source(dataset: Path, aws_env: str) -> None:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="training")
        for path in dataset.rglob("*.jpg"):
            s3.put_object(
                Bucket="training",
                Key=f"sets/v1/{path.relative_to(dataset).as_posix()}",
                Body=path.read_bytes(),
            )
        s3.put_object(Bucket="training", Key="sets/v1/train/cats/broken.jpg", Body=b"GIF89a nope")
        data = load_data("s3://training/sets/v1", SIZE)
        assert (len(data.train.labels), len(data.validation.labels)) == (6, 4)
        assert data.labels == ["cat", "dog"]
        assert [s["name"].rsplit("/", 1)[-1] for s in data.skipped] == ["broken.jpg"]
        with pytest.raises(DataError, match="s3://training/nothing-here"):
            load_data("s3://training/nothing-here/", SIZE)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "www"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()


def test_url_source_is_downloaded_once_into_the_cache(
    dataset: Path, tmp_path: Path, http_root: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = http_root
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "cache"))
    zip_dir(dataset, served / "cats_and_dogs_filtered.zip", "cats_and_dogs_filtered")
    url = f"{base}/cats_and_dogs_filtered.zip"
    assert len(load_data(url, SIZE).train.labels) == 6
    (served / "cats_and_dogs_filtered.zip").unlink()  # a second run must not need the server
    assert len(load_data(url, SIZE).validation.labels) == 4
    assert list((tmp_path / "cache" / "datasets").glob("*.part")) == []


def test_unreachable_url_is_a_clear_error(
    tmp_path: Path, http_root: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"missing\.zip"):
        load_data(f"{http_root[0]}/missing.zip", SIZE)


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no-such-dir"):
        load_data(str(tmp_path / "no-such-dir"), SIZE)


def test_not_a_zip_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "data.txt"
    bogus.write_text("hello")
    with pytest.raises(DataError, match=r"data\.txt"):
        load_data(str(bogus), SIZE)


def test_single_class_is_an_error(tmp_path: Path) -> None:
    d = tmp_path / "one" / "train" / "cats"
    d.mkdir(parents=True)
    (d / "a.jpg").write_bytes(jpeg_bytes())
    with pytest.raises(DataError, match="single class"):
        load_data(str(tmp_path / "one"), SIZE)


@pytest.mark.parametrize("folder", ["unknown", "Unknowns"])
def test_a_class_named_unknown_is_a_clear_error(dataset: Path, folder: str) -> None:
    """`unknown` is the answer for images that are none of the labels: it cannot be a label too."""
    (dataset / "train" / "dogs").rename(dataset / "train" / folder)
    with pytest.raises(DataError, match=rf"class folder '{folder}' would be the label 'unknown'.*'_'"):
        load_data(str(dataset), SIZE)


def test_a_reviewers_neither_folder_is_not_a_class(dataset: Path) -> None:
    (dataset / "train" / "_unknown").mkdir()
    (dataset / "train" / "_unknown" / "x.jpg").write_bytes(jpeg_bytes())
    assert load_data(str(dataset), SIZE).labels == ["cat", "dog"]


def test_empty_class_is_an_error_naming_it(dataset: Path) -> None:
    for path in (dataset / "train" / "dogs").iterdir():
        path.unlink()
    (dataset / "validation" / "dogs" / "notes.txt").write_text("only validation dogs")
    with pytest.raises(DataError, match="dogs"):
        load_data(str(dataset), SIZE)


def test_class_with_only_corrupt_files_is_an_error(dataset: Path) -> None:
    for path in (dataset / "train" / "dogs").iterdir():
        path.write_text("corrupt")
    with pytest.raises(DataError, match="'dogs' has no decodable training image"):
        load_data(str(dataset), SIZE)


def test_hidden_files_and_macos_folders_are_not_members(dataset: Path, tmp_path: Path) -> None:
    (dataset / "train" / "cats" / ".DS_Store").write_bytes(b"\0\0")
    archive = zip_dir(dataset, tmp_path / "d.zip", "top")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("__MACOSX/top/train/cats/._cat.train.0.jpg", b"resource fork")
    names = [e.name for e in find_entries(str(archive))]
    assert not any(".DS_Store" in n or "__MACOSX" in n for n in names)
    assert len(names) == 10
