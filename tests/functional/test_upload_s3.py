"""`catdog upload` into the template's bucket: nested folders and odd names keep their paths."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from catdog.s3_events import events_from_sqs_body
from catdog_cli.main import main
from catdog_cli.upload import plan_uploads, upload_items
from catdog_local.provision import Stack
from tests.support.images import jpeg_bytes

REGION = "eu-west-1"
#: relative path -> bytes; spaces, unicode (NFC and a combining accent), '+', '%', nested folders
FILES = {
    "cats/red cat.jpg": jpeg_bytes(color=(220, 20, 20)),
    "cats/ünïcödé 猫.jpg": jpeg_bytes(color=(200, 30, 30)),
    "dogs/a+b=c.jpg": jpeg_bytes(color=(20, 20, 220)),
    "dogs/deep/er/100% dog.png": jpeg_bytes(color=(20, 200, 20)),
    "dogs/cafe\u0301.jpeg": jpeg_bytes(color=(20, 20, 200)),
}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "my photos"
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / ".DS_Store").write_bytes(b"finder junk")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.jpg").write_bytes(b"never uploaded")
    return root


def _keys(bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name=REGION)
    out = {}
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def test_directory_upload_keeps_relative_paths_and_bytes(stack: Stack, photos: Path) -> None:
    report = upload_items(boto3.client("s3", region_name=REGION), stack.bucket, plan_uploads([photos]),
                          progress=False)
    assert report.failed == {}
    assert _keys(stack.bucket) == {f"uploads/{rel}": data for rel, data in FILES.items()}


def test_uploads_reach_the_queue_with_keys_that_decode_back(stack: Stack, photos: Path) -> None:
    upload_items(boto3.client("s3", region_name=REGION), stack.bucket, plan_uploads([photos]), progress=False)
    sqs = boto3.client("sqs", region_name=REGION)
    keys = set()
    while True:
        got = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not got.get("Messages"):
            break
        for m in got["Messages"]:
            keys |= {e.key for e in events_from_sqs_body(m["Body"])}
            sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])
    assert keys == {f"uploads/{rel}" for rel in FILES}


def test_content_type_follows_the_suffix(stack: Stack, photos: Path) -> None:
    upload_items(boto3.client("s3", region_name=REGION), stack.bucket, plan_uploads([photos]), progress=False)
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.head_object(Bucket=stack.bucket, Key="uploads/cats/red cat.jpg")["ContentType"] == "image/jpeg"
    head = s3.head_object(Bucket=stack.bucket, Key="uploads/dogs/deep/er/100% dog.png")
    assert head["ContentType"] == "image/png"


def test_cli_upload_of_a_file_and_a_directory_with_a_custom_prefix(
    stack: Stack, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single = tmp_path / "one shot+.jpg"
    single.write_bytes(jpeg_bytes())
    code = main(["upload", str(single), str(photos / "dogs"), "--prefix", "/batch 1",
                 "--bucket", stack.bucket, "--quiet"])
    assert code == 0
    assert set(_keys(stack.bucket)) == {
        "batch 1/one shot+.jpg", "batch 1/a+b=c.jpg", "batch 1/deep/er/100% dog.png",
        "batch 1/cafe\u0301.jpeg",
    }
    out = capsys.readouterr()
    assert "uploaded 4 files" in out.out
    # it does not let the user think these will be classified: the function only looks at uploads/
    assert "batch 1/ is outside uploads/" in out.err and "will get no item" in out.err


def test_cli_upload_says_which_files_it_left_out(stack: Stack, photos: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upload", str(photos), "--bucket", stack.bucket, "--quiet"]) == 0
    out = capsys.readouterr()
    assert f"uploaded {len(FILES)} files" in out.out
    assert "skipped 2 hidden files" in out.err and "outside" not in out.err


def test_two_files_that_would_share_a_key_are_refused_before_any_upload(stack: Stack, tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "same.jpg").write_bytes(jpeg_bytes())
    with pytest.raises(ValueError, match=r"same\.jpg"):
        plan_uploads([tmp_path / "a", tmp_path / "b"])
    assert _keys(stack.bucket) == {}


def test_a_missing_path_uploads_nothing(stack: Stack, photos: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        plan_uploads([photos, photos.parent / "no-such-dir"])
    assert _keys(stack.bucket) == {}


class FlakyS3:
    """The real (moto) client, except that one key's PUT fails."""

    def __init__(self, failing_key: str) -> None:
        self.real = boto3.client("s3", region_name=REGION)
        self.failing_key = failing_key

    def put_object(self, **kw: object) -> object:
        if kw["Key"] == self.failing_key:
            raise ConnectionError("connection reset by peer")
        return self.real.put_object(**kw)


def test_one_failing_put_does_not_stop_the_rest(stack: Stack, photos: Path) -> None:
    items = plan_uploads([photos])
    report = upload_items(FlakyS3("uploads/cats/red cat.jpg"), stack.bucket, items, progress=False)
    assert report.failed == {"uploads/cats/red cat.jpg": "ConnectionError: connection reset by peer"}
    assert set(_keys(stack.bucket)) == {f"uploads/{rel}" for rel in FILES} - {"uploads/cats/red cat.jpg"}


def test_one_photo_is_one_file_in_the_summary(stack: Stack, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """It used to say "uploaded 1 files"."""
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(jpeg_bytes())
    assert main(["upload", str(photo), "--bucket", stack.bucket, "--quiet"]) == 0
    assert "uploaded 1 file (" in capsys.readouterr().out
