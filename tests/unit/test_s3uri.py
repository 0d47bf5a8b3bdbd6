from __future__ import annotations

import pytest

from catdog.s3uri import S3Uri, is_s3


def test_parse_and_join() -> None:
    uri = S3Uri.parse("s3://bucket/models/")
    assert (uri.bucket, uri.key) == ("bucket", "models/")
    assert str(uri.join("v1", "model.tflite")) == "s3://bucket/models/v1/model.tflite"
    assert S3Uri.parse("s3://bucket").join("a").key == "a"


@pytest.mark.parametrize("bad", ["/local/path", "s3://", "s3:///key", "https://b/k"])
def test_rejects_what_is_not_an_s3_uri(bad: str) -> None:
    with pytest.raises(ValueError):
        S3Uri.parse(bad)


def test_is_s3() -> None:
    assert is_s3("s3://b/k") and not is_s3("./s3://b")
