"""`s3://bucket/key` parsing, shared by every command that accepts a local path or an S3 URI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # may be "" (the bucket root) or end in "/" (a prefix)

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket, key)

    def join(self, *parts: str) -> S3Uri:
        key = self.key
        for part in parts:
            key = f"{key.rstrip('/')}/{part.lstrip('/')}" if key else part.lstrip("/")
        return S3Uri(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")
