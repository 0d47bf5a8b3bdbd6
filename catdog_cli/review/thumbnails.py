"""Thumbnails of uploads, made server-side through the Lambda's decoder guards and cached on disk.

The page never embeds the photo itself: `/thumb` answers with a small JPEG made by
`catdog.sandbox.DecodeSandbox.thumbnail` (a child process with the function's CPU and memory
budgets, the same format allow-list and pixel cap), so a hostile upload costs one placeholder,
never the page. The object is read with `IfMatch` on the etag the table recorded, so the
thumbnail always shows the version that was classified (and reviewed); the cache is keyed by
(image, etag, size), so a re-upload gets a new thumbnail and an old one is never shown for it.
Verdicts about the bytes themselves (not an image, too large, over budget) are cached too: a
decompression bomb is decoded once, not on every page view. What depends on the request rather
than on the bytes is never cached: an etag that is not the object's ("changed since"), an object
that is gone, a transient S3 error, a decoder that could not start; and a side outside
MIN_SIDE..MAX_SIDE is refused before anything is read. The cache holds at most `max_cache_bytes`
(the oldest files go first), whatever asks for thumbnails.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from markupsafe import escape

from catdog.aws_errors import is_not_found, is_precondition_failed
from catdog.config import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_OBJECT_BYTES
from catdog.errors import BadInputError
from catdog.s3uri import S3Uri
from catdog.sandbox import DecodeSandbox, SandboxError
from catdog_cli.output_files import write_file
from catdog_cli.review import DEFAULT_SIDE, MAX_SIDE, MIN_SIDE

#: How much the thumbnail cache keeps on disk (a 160 px thumbnail is ~5 KB: ~50,000 of them).
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
#: Placeholders that describe the request or the moment, not the bytes: made again next time.
NOT_CACHED = frozenset({"changed since", "gone", "s3 error", "decoder unavailable"})
JPEG = "image/jpeg"
SVG = "image/svg+xml"


def default_cache_dir() -> Path:
    """`$CATDOG_CACHE/thumbs` (default `~/.cache/catdog/thumbs`)."""
    return Path(os.environ.get("CATDOG_CACHE", Path.home() / ".cache" / "catdog")) / "thumbs"


@dataclass(frozen=True)
class Thumb:
    """What `/thumb` sends: a JPEG, or a placeholder that says why there is none."""

    body: bytes
    content_type: str
    reason: str | None = None  # None for a real thumbnail

    @property
    def ok(self) -> bool:
        return self.reason is None


def placeholder(reason: str, side: int = DEFAULT_SIDE) -> Thumb:
    """A grey square naming the reason (escaped: it may quote a decoder's message)."""
    text = escape(reason[:40])
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
           f'viewBox="0 0 {side} {side}"><rect width="100%" height="100%" fill="#ddd"/>'
           f'<text x="50%" y="50%" font-family="sans-serif" font-size="12" fill="#555" '
           f'text-anchor="middle">{text}</text></svg>')
    return Thumb(svg.encode(), SVG, reason)


class Thumbnailer:
    """Thumbnails of one bucket's objects. Thread-safe: the decoder child takes one image at a time."""

    def __init__(self, s3: Any, bucket: str, cache_dir: Path | None = None, side: int = DEFAULT_SIDE, *,
                 max_bytes: int = DEFAULT_MAX_OBJECT_BYTES, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                 sandbox: DecodeSandbox | None = None, max_cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise ValueError(f"thumbnail side {side} is outside {MIN_SIDE}..{MAX_SIDE} pixels")
        self.s3 = s3
        self.bucket = bucket
        self.cache_dir = cache_dir or default_cache_dir()
        self.side = side
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self.max_cache_bytes = max_cache_bytes
        self._cache_bytes: int | None = None  # what the cache folder holds, counted on first store

    @property
    def sandbox(self) -> DecodeSandbox:
        with self._lock:
            if self._sandbox is None:
                self._sandbox = DecodeSandbox(start=True)
            return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()

    def _paths(self, image: str, etag: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(f"{image}\n{etag}\n{self.side}".encode()).hexdigest()
        folder = self.cache_dir / digest[:2]
        return folder / f"{digest}.jpg", folder / f"{digest}.why"

    def key_of(self, image: str) -> str:
        """The object key of an `s3://bucket/key` of OUR bucket; anything else is a ValueError."""
        uri = S3Uri.parse(image)
        if uri.bucket != self.bucket or not uri.key:
            raise ValueError(f"not an image of s3://{self.bucket}/")
        return uri.key

    def cached(self, image: str, etag: str) -> Thumb | None:
        """The thumbnail or verdict already made for this object version, if any (no S3 read)."""
        jpg, why = self._paths(image, etag)
        try:
            if jpg.is_file():
                return Thumb(jpg.read_bytes(), JPEG)
            if why.is_file():
                return placeholder(why.read_text(errors="replace"), self.side)
        except OSError:  # evicted meanwhile
            return None
        return None

    def get(self, image: str, etag: str) -> Thumb:
        key = self.key_of(image)
        hit = self.cached(image, etag)
        if hit is not None:
            return hit
        thumb = self._make(key, etag)
        if thumb.ok or thumb.reason not in NOT_CACHED:
            jpg, why = self._paths(image, etag)
            self._store(jpg if thumb.ok else why, thumb.body if thumb.ok else str(thumb.reason).encode())
        return thumb

    def _make(self, key: str, etag: str) -> Thumb:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key, IfMatch=f'"{etag}"')
        except ClientError as exc:
            if is_precondition_failed(exc):
                return placeholder("changed since", self.side)
            if is_not_found(exc):
                return placeholder("gone", self.side)
            return placeholder("s3 error", self.side)
        except BotoCoreError:
            return placeholder("s3 error", self.side)
        body = response["Body"]
        try:
            if int(response.get("ContentLength") or 0) > self.max_bytes:
                return placeholder("too large", self.side)
            data = body.read(self.max_bytes + 1)
        finally:
            body.close()
        if len(data) > self.max_bytes:
            return placeholder("too large", self.side)
        try:
            made = self.sandbox.thumbnail(data, self.side, self.max_pixels)
        except BadInputError as exc:
            return placeholder(str(exc.reason).replace("_", " "), self.side)
        except SandboxError:
            return placeholder("decoder unavailable", self.side)
        return Thumb(made.jpeg, JPEG)

    def _store(self, path: Path, data: bytes) -> None:
        write_file(path, data, durable=False)  # readers never see half a file; a cache needs no fsync
        with self._lock:
            if self._cache_bytes is None:
                self._cache_bytes = sum(size for _, size, _ in self._entries())
            else:
                self._cache_bytes += len(data)
            if self._cache_bytes > self.max_cache_bytes:
                self._evict()

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every cached file."""
        found = []
        for path in self.cache_dir.glob("*/*"):
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((st.st_mtime, st.st_size, path))
        return found

    def _evict(self) -> None:
        """Oldest first, until the cache is down to three quarters of its bound."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.max_cache_bytes * 3 // 4:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._cache_bytes = total
