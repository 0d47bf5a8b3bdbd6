"""Hostile uploads and messages, generated in memory: what a careless or malicious user can send.

Every case is built from a few bytes of code at test time (nothing binary is committed) and
declares the outcome we promise for it: `classified`, or `failed` with the `BadInputError.reason`
the results table will carry; for a message, that it is dropped (or ignored) without costing its
batch-mates anything. The same lists drive the preprocessing tests, the handler tests, the
batch-isolation tests and the report (`python -m benchmarks.hostile_report`), so they cannot disagree.

Classes covered: decompression bombs; CPU bombs under the caps (repeated progressive scans, JPEG
fill bytes, RLE BMP, millions of empty PNG chunks); memory bombs under the caps (lossless RGBA
WebP, RGBA PNG/TIFF at 49 MP, a 50,000,000 x 1 PNG, animated WebP canvases); broken and non-image
files; refused formats (HEIC, AVIF, JPEG XL, JPEG 2000, EPS, PSD, PPM...); colour modes that once
raised in conversion; structures that loop or lie (EXIF IFD loops, APNG frame counts, MPO); any file
name (mixed-case and rare suffixes, a trailing '/'); keys with escape sequences; an archive storage
class; malformed S3 messages (deeply nested JSON, keys that are not UTF-8, unhandled event types).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

CLASSIFIED = "classified"
FAILED = "failed"
#: The decoding budgets' reasons: a case marked `within_budget` may end either classified or
#: failed with one of these (how long a legitimate 49 MP image takes depends on the machine).
BUDGET_REASONS = ("cpu_budget", "memory_budget")
DROPPED = "dropped"  # a message that is not an S3 object event: logged, acknowledged, no item
IGNORED = "ignored"  # a well-formed event for something that is not ours: logged, no item


@dataclass(frozen=True)
class HostileCase:
    """One upload: the S3 key it arrives under, its bytes, and what must become of it."""

    name: str
    key: str
    data: bytes
    expect: str  # CLASSIFIED or FAILED
    reason: str | None = None  # BadInputError.reason when expect == FAILED
    what: str = ""  # one line for the README table
    #: For cases whose EXIF turns the picture: the (width, height) a person sees.
    shown_size: tuple[int, int] | None = None
    #: Ceiling on the peak memory (MB) preprocessing may add for this case.
    max_mb: int = 48
    #: Too expensive to decode in the test process itself: only through the decoder sandbox.
    sandbox_only: bool = False
    #: A legitimate image near the budgets: classified, or failed naming a budget, both promised.
    within_budget: bool = False
    #: The S3 storage class it is uploaded with. Set, the verdict is S3's (the bytes never reach a
    #: decoder), so only the tests of the real upload path run it.
    storage_class: str | None = None

    @property
    def put_args(self) -> dict[str, str]:
        """Extra `put_object` arguments the upload needs."""
        return {"StorageClass": self.storage_class} if self.storage_class else {}

    @property
    def decoded(self) -> bool:
        """Whether the decoder decides this case (the preprocessing and sandbox tests run it)."""
        return self.storage_class is None

    def accepts(self, status: str, reason: str | None) -> bool:
        if (status, reason) == (self.expect, self.reason if self.expect == FAILED else None):
            return True
        return self.within_budget and status == FAILED and reason in BUDGET_REASONS


@dataclass(frozen=True)
class HostileMessage:
    """One SQS message body that is not (or not quite) an S3 notification for one of our uploads."""

    name: str
    body: str
    expect: str  # DROPPED or IGNORED: either way no item and no retry
    what: str = ""


# ---------------------------------------------------------------------------- small builders


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _photo(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> Image.Image:
    return Image.new("RGB", size, color)


@cache
def _jpeg() -> bytes:
    return _save(_photo(), "JPEG", quality=90)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG header declaring `width` x `height`, with one row of real data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + (width + 7) // 8), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _noise_png(size: tuple[int, int] = (128, 128)) -> bytes:
    """Incompressible pixels, so that cutting the file cuts the pixel data too."""
    import random

    rng = random.Random(5)
    return _save(Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)), "PNG")


def _png_ztxt_bomb() -> bytes:
    """A valid 8x8 PNG whose compressed text chunk inflates to 64 MB (a metadata bomb)."""
    good = _save(_photo((8, 8)), "PNG")
    bomb = zlib.compress(b"A" * (64 << 20), 9)
    ztxt = _png_chunk(b"zTXt", b"Comment\x00\x00" + bomb)
    return good[:33] + ztxt + good[33:]  # right after the 8-byte signature + 25-byte IHDR


def _gif_bomb() -> bytes:
    """A GIF whose logical screen claims 65535 x 65535 around a 1x1 frame."""
    small = _save(Image.new("P", (1, 1)), "GIF")
    return small[:6] + struct.pack("<HH", 65535, 65535) + small[10:]


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A real JPEG whose SOF header is rewritten to claim `width` x `height`."""
    data = bytearray(_jpeg())
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker in our own JPEG")


def _tiff_bomb() -> bytes:
    """A little-endian TIFF whose IFD claims 100000 x 100000 pixels and holds 8 bytes of strip."""
    entries = [
        (256, 4, 1, 100_000),  # ImageWidth, LONG
        (257, 4, 1, 100_000),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets: right after the IFD
        (278, 4, 1, 100_000),  # RowsPerStrip
        (279, 4, 1, 8),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 8


def _gif_js_polyglot() -> bytes:
    """A GIF that is also a JavaScript file: the width bytes read `/*`, the tail closes the comment."""
    gif = _save(Image.new("P", (0x2A2F, 4), 1), "GIF")
    assert gif[6:8] == b"/*"
    return gif + b"*/=alert(document.domain);//"


def _zip_bytes() -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("payload.sh", "#!/bin/sh\necho owned\n")
    return buf.getvalue()


def _huge_exif_jpeg() -> bytes:
    """A JPEG with a ~60 KB EXIF block (the APP1 segment maximum is 64 KB)."""
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription
    exif[0x0112] = 1
    return _save(_photo(), "JPEG", exif=exif.tobytes())


def _broken_exif_jpeg() -> bytes:
    """A JPEG whose APP1 says Exif but holds garbage, and whose orientation cannot be read."""
    data = _jpeg()
    junk = b"Exif\x00\x00" + b"MM\x00\x2a\xff\xff\xff\xff" + b"\xde\xad" * 20
    app1 = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    return data[:2] + app1 + data[2:]


def _rotated_jpeg() -> bytes:
    """64x32 stored, EXIF orientation 6 (rotate 90° clockwise): a person sees 32x64."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(_photo((64, 32)), "JPEG", exif=exif.tobytes())


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((220, 20, 20), (20, 20, 220), (20, 220, 20))]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _palette_transparent_png() -> bytes:
    img = Image.new("P", (32, 32), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    img.paste(1, (0, 0, 16, 32))
    return _save(img, "PNG", transparency=0)


def _psd() -> bytes:
    """A minimal but well-formed Photoshop file: 3-channel 8-bit RGB, 4x4, raw data."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 4, 4, 8, 3)
    return header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + b"\x80" * (3 * 4 * 4)


def _eps() -> bytes:
    """An EPS header: Pillow would hand this to Ghostscript to render — we must refuse it first."""
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
        b"(%pipe%id > /tmp/catdog-eps-owned) (w) file\nshowpage\n%%EOF\n"
    )


def _pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>'


def _long_key() -> str:
    """Exactly 1024 UTF-8 bytes, S3's maximum key length, mixing 1-, 2- and 4-byte characters."""
    head, tail = "uploads/", ".jpg"
    body = "猫" * 300  # 900 bytes
    key = head + body + "é" * 50 + tail  # 8 + 900 + 100 + 4 = 1012
    key = key[: -len(tail)] + "a" * (1024 - len(key.encode())) + tail
    assert len(key.encode()) == 1024, len(key.encode())
    return key


# ---------------------------------------------------------------------------- CPU and memory bombs


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, bytes) of a JPEG; a scan's entropy-coded data is folded into its SOS segment."""
    segments, i = [(0xD8, data[:2])], 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xD9:
            segments.append((marker, data[i : i + 2]))
            break
        end = i + 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7):
                end += 1
        segments.append((marker, data[i:end]))
        i = end
    return segments


def _progressive_scan_bomb(side: int = 7000, copies: int = 20_000) -> bytes:
    """A flat 49 MP progressive JPEG with one tiny AC scan repeated: each copy is a few bytes of
    end-of-band runs, yet the decoder walks every block of the image for each (0.8 MB, minutes)."""
    segments = _jpeg_segments(_save(Image.new("RGB", (side, side), (120, 130, 140)), "JPEG", quality=90,
                                    progressive=True))
    scans = [i for i, (marker, _) in enumerate(segments) if marker == 0xDA]
    smallest_ac = min((segments[i][1] for i in scans[1:]), key=len)
    last = scans[-1]
    return (b"".join(s for _, s in segments[: last + 1]) + smallest_ac * copies
            + b"".join(s for _, s in segments[last + 1 :]))


def _jpeg_fill_bomb(megabytes: int = 15) -> bytes:
    """Legal JPEG fill bytes (0xFF before a marker), megabytes of them: seconds of CPU to skip."""
    segments = _jpeg_segments(_jpeg())
    sos = next(i for i, (marker, _) in enumerate(segments) if marker == 0xDA)
    return b"".join(s for _, s in segments[:sos]) + b"\xff" * (megabytes << 20) + b"".join(
        s for _, s in segments[sos:])


def _rle8_bmp(width: int = 3000, height: int = 3000) -> bytes:
    """An RLE8 BMP of one-pixel runs (18 MB): Pillow decodes RLE BMP in Python, pixel by pixel."""
    row = bytearray()
    for x in range(width):
        row += bytes((1, x & 0xFF))
    pixels = (bytes(row) + b"\x00\x00") * height + b"\x00\x01"
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + dib + palette + pixels


def _png_many_chunks(count: int = 1_500_000) -> bytes:
    """A valid 10x10 PNG with 1.5 million empty ancillary chunks (18 MB): a Python loop each."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress((b"\x00" + b"\x00" * 30) * 10))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _png_chunk(b"tEXt", b"") * count + idat + _png_chunk(b"IEND", b"")


def _png_50m_by_1() -> bytes:
    """A 50,000,000 x 1 RGBA PNG (exactly at the pixel cap), a few hundred KB compressed."""
    width = 50_000_000
    raw = zlib.compress(b"\x00" + b"\x00" * (width * 4), 9)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, 1, 8, 6, 0, 0, 0))
            + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b""))


@cache
def _big_rgba(side: int = 7000) -> Image.Image:
    return Image.new("RGBA", (side, side), (10, 200, 30, 128))


def _webp_chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) % 2)


def _webp_anim_canvas(side: int) -> bytes:
    """An animated WebP: one 16x16 frame on a `side` x `side` canvas (94 bytes). libwebp allocates
    two full RGBA canvases before it decodes a frame: 2 x 100 MB at 5000, 2 x 196 MB at 7000."""
    small = _save(Image.new("RGBA", (16, 16), (200, 30, 30, 255)), "WEBP", lossless=True)
    assert small[12:16] == b"VP8L"

    def u24(value: int) -> bytes:
        return struct.pack("<I", value)[:3]

    body = (b"WEBP" + _webp_chunk(b"VP8X", bytes((0x12, 0, 0, 0)) + u24(side - 1) + u24(side - 1))
            + _webp_chunk(b"ANIM", b"\x00" * 6)
            + _webp_chunk(b"ANMF", u24(0) + u24(0) + u24(15) + u24(15) + u24(100) + b"\x00" + small[12:]))
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------------------- colour modes and formats


def _tiff_with_associated_alpha() -> bytes:
    """Grey + premultiplied alpha (Pillow mode `La`): its conversion to RGB raised ValueError."""
    data = bytearray(_save(Image.new("LA", (24, 24), (90, 200)), "TIFF"))
    byte_order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(byte_order + "I", data[4:8])[0]
    count = struct.unpack(byte_order + "H", data[ifd : ifd + 2])[0]
    for n in range(count):
        at = ifd + 2 + 12 * n
        if struct.unpack(byte_order + "H", data[at : at + 2])[0] == 338:  # ExtraSamples
            data[at + 8 : at + 10] = struct.pack(byte_order + "H", 1)  # 1 = associated alpha
            return bytes(data)
    raise AssertionError("no ExtraSamples tag in our own LA TIFF")


def _heic_like() -> bytes:
    """The ISO-BMFF header of an iPhone HEIC photo (ftyp brand heic) and some payload."""
    ftyp = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic"
    return ftyp + struct.pack(">I", 16) + b"meta" + b"\x00" * 8 + b"\x00" * 200


def _exif_ifd_loop_jpeg() -> bytes:
    """64x32 stored, orientation 6, and an Exif sub-IFD pointer that points back at IFD0."""
    ifd0 = (struct.pack("<H", 2) + struct.pack("<HHII", 0x0112, 3, 1, 6)
            + struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<I", 8))
    return _save(_photo((64, 32)), "JPEG", exif=b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd0)


def _apng_claiming_2g_frames() -> bytes:
    """A 16x16 PNG whose acTL says it is an animation of 2^31 - 1 frames (it has one)."""
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"acTL", struct.pack(">II", 0x7FFFFFFF, 0))
            + _png_chunk(b"IDAT", zlib.compress((b"\x00" + b"\x40" * 48) * 16)) + _png_chunk(b"IEND", b""))


def _png_iccp_bomb() -> bytes:
    """A valid 8x8 PNG whose ICC profile chunk inflates to 16 MB (Pillow refuses over 1 MB)."""
    good = _save(_photo((8, 8)), "PNG")
    iccp = _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * (16 << 20), 9))
    return good[:33] + iccp + good[33:]


def _avif() -> bytes:
    try:
        return _save(_photo((32, 32)), "AVIF")
    except (KeyError, OSError):  # a Pillow without AVIF support: the real file's header then
        return struct.pack(">I", 28) + b"ftypavif" + struct.pack(">I", 0) + b"avifmif1miaf" + b"\x00" * 64


def _png_rgb16(width: int = 40, height: int = 30) -> bytes:
    """An RGB PNG with 16 bits per channel (Pillow reads it as 8-bit RGB; it cannot write one)."""
    rng = np.random.default_rng(7)
    rows = b"".join(b"\x00" + rng.integers(0, 65536, width * 3, dtype=np.uint16).astype(">u2").tobytes()
                    for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""))


# ---------------------------------------------------------------------------- messages


def _record(bucket: str, object_key: str, **changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-27T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": bucket},
               "object": {"key": object_key, "size": 678, "eTag": "0" * 32, "sequencer": "0A"}},
    }
    obj = record["s3"]["object"]  # type: ignore[index]
    for field, value in changes.items():
        target = obj if field in ("key", "size", "eTag", "sequencer") else record
        if value is _DELETE:
            target.pop(field, None)  # type: ignore[attr-defined]
        else:
            target[field] = value  # type: ignore[index]
    return record


_DELETE = object()


def build_messages(bucket: str) -> list[HostileMessage]:
    """Message bodies for the bucket `bucket`: each must be dropped or ignored on its own."""

    def body(*records: object) -> str:
        return json.dumps({"Records": list(records)})

    key = "uploads/msg.jpg"
    no_s3 = _record(bucket, key)
    no_s3.pop("s3")
    return [
        HostileMessage("not_json", "this body is not JSON {", DROPPED, "a body that is not JSON"),
        HostileMessage("json_list", "[1, 2, 3]", DROPPED, "JSON, but a list"),
        HostileMessage("no_records", json.dumps({"hello": "world"}), DROPPED, "an object without Records"),
        HostileMessage("records_null", json.dumps({"Records": [None]}), DROPPED, "`Records: [null]`"),
        HostileMessage("records_empty", json.dumps({"Records": []}), DROPPED, "`Records: []`"),
        HostileMessage("no_s3_block", body(no_s3), DROPPED, "a record with no `s3` block"),
        HostileMessage("no_key", body(_record(bucket, key, key=_DELETE)), DROPPED, "no object key"),
        HostileMessage("empty_key", body(_record(bucket, "")), DROPPED, "an empty key"),
        HostileMessage("non_string_key", body(_record(bucket, key, key=12345)), DROPPED, "a numeric key"),
        HostileMessage("non_numeric_size", body(_record(bucket, key, size="big")), DROPPED,
                       "size is not a number"),
        HostileMessage("negative_size", body(_record(bucket, key, size=-1)), DROPPED, "a negative size"),
        HostileMessage("no_event_name", body(_record(bucket, key, eventName=_DELETE)), DROPPED,
                       "no eventName"),
        HostileMessage("invalid_bucket", body(_record("Not_A..Bucket", key)), DROPPED,
                       "an invalid bucket name"),
        HostileMessage("wrong_source", body(_record(bucket, key, eventSource="aws:sns")), DROPPED,
                       "eventSource is not aws:s3"),
        HostileMessage("key_too_long", body(_record(bucket, "uploads/" + "k" * 2000)), DROPPED,
                       "a 2008-byte key (S3 allows 1024)"),
        HostileMessage("too_many_records", body(*[_record(bucket, f"uploads/m{i}.jpg") for i in range(50)]),
                       DROPPED, "50 records in one message (S3 sends one)"),
        HostileMessage("sns_garbage", json.dumps({"Type": "Notification", "Message": "{not json"}), DROPPED,
                       "an SNS envelope around garbage"),
        HostileMessage("other_bucket", body(_record("someone-elses-bucket", key)), IGNORED,
                       "an event for another bucket"),
        HostileMessage("outside_uploads", body(_record(bucket, "models/latest.json")), IGNORED,
                       "an event for models/latest.json (outside uploads/)"),
        HostileMessage("folder_marker", body(_record(bucket, "uploads/folder/")), IGNORED,
                       "a folder marker key"),
        HostileMessage("other_event_type", body(_record(bucket, key, eventName="ObjectTagging:Put")),
                       IGNORED, "an event type we do not handle"),
        HostileMessage("s3_test_event", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                                                    "Bucket": bucket}), IGNORED, "S3's own s3:TestEvent"),
        # --- a body that made the parser raise failed the whole batch; an unencodable key, its message
        HostileMessage("deep_json", "[" * 100_000, DROPPED,
                       "JSON nested 100,000 deep (RecursionError, not ValueError, in json.loads)"),
        HostileMessage("sns_deep_json", json.dumps({"Type": "Notification", "Message": "{\"a\":" * 50_000}),
                       DROPPED, "an SNS envelope around JSON nested 50,000 deep"),
        HostileMessage("lone_surrogate_key", body(_record(bucket, "uploads/\ud800.jpg")), DROPPED,
                       "a key with a lone surrogate (`\\ud800`): no S3 key, every S3 call raises"),
        HostileMessage("restore_event", body(_record(bucket, key, eventName="ObjectRestore:Completed")),
                       IGNORED, "ObjectRestore:Completed, an event type we do not handle"),
        HostileMessage("duplicate_records", body(*[_record(bucket, "uploads/msg-dup.jpg")] * 10), IGNORED,
                       "ten records for one key that does not exist"),
        HostileMessage("invalid_percent_escape", body(_record(bucket, "uploads/%ZZ%.jpg")), IGNORED,
                       "a key with invalid %-escapes (`%ZZ`, a lone `%`)"),
    ]


# ---------------------------------------------------------------------------- the corpus



@cache
def build_corpus() -> list[HostileCase]:
    """All cases, in the order the README lists them. Cheap: well under a second to build."""
    jpeg = _jpeg()
    return [
        # --- decompression bombs: refused from the header, before a pixel is decoded
        HostileCase("png_bomb_100k", "uploads/bomb.png", _png_bomb(100_000, 100_000), FAILED,
                    "too_many_pixels", "PNG header claims 100000x100000 (10 GP), ~100 byte file"),
        HostileCase("png_bomb_49mp_under_cap", "uploads/bomb49.png", _png_bomb(7_000, 7_000), CLASSIFIED,
                    None, "PNG declaring 7000x7000 (49 MP): the worst case under the cap, decoded in full",
                    max_mb=320),
        HostileCase("png_bomb_60mp", "uploads/bomb60.png", _png_bomb(8_000, 7_500), FAILED,
                    "too_many_pixels", "PNG claims 60 MP, just over the 50 MP cap"),
        HostileCase("gif_bomb", "uploads/bomb.gif", _gif_bomb(), FAILED, "too_many_pixels",
                    "GIF logical screen 65535x65535 around a 1x1 frame"),
        HostileCase("jpeg_bomb_header", "uploads/bomb.jpg", _jpeg_with_size(65_000, 65_000), FAILED,
                    "too_many_pixels", "JPEG whose SOF claims 65000x65000"),
        HostileCase("tiff_bomb", "uploads/bomb-tiff.jpg", _tiff_bomb(), FAILED, "too_many_pixels",
                    "TIFF (named .jpg) whose IFD claims 100000x100000, 8 bytes of strip"),
        HostileCase("png_ztxt_bomb", "uploads/text-bomb.png", _png_ztxt_bomb(), FAILED, "corrupt",
                    "valid 8x8 PNG with a zTXt chunk inflating to 64 MB"),
        # --- broken files
        HostileCase("zero_bytes", "uploads/empty.jpg", b"", FAILED, "empty", "0-byte upload"),
        HostileCase("truncated_jpeg", "uploads/truncated.jpg", jpeg[: len(jpeg) // 2], FAILED, "corrupt",
                    "first half of a JPEG"),
        HostileCase("truncated_png", "uploads/truncated.png", _noise_png()[:20_000], FAILED, "corrupt",
                    "first 20 KB of a 48 KB PNG"),
        HostileCase("header_only_png", "uploads/header-only.png", _save(_photo(), "PNG")[:40], FAILED,
                    "corrupt", "PNG signature + IHDR, no pixel data"),
        # --- not images, whatever the name says
        HostileCase("text_as_jpg", "uploads/notes.jpg", b"just some text, not a picture\n" * 10, FAILED,
                    "not_an_image", "plain text named .jpg"),
        HostileCase("pdf_as_jpg", "uploads/invoice.jpg", _pdf(), FAILED, "not_an_image", "PDF named .jpg"),
        HostileCase("svg_as_png", "uploads/vector.png", _svg(), FAILED, "not_an_image",
                    "SVG with an onload script named .png"),
        # --- real formats we refuse (never handed to Ghostscript or a rarely used decoder)
        HostileCase("eps", "uploads/drawing.jpg", _eps(), FAILED, "unsupported_format",
                    "EPS with a %pipe% payload named .jpg: refused without running Ghostscript"),
        HostileCase("ico", "uploads/favicon.png", _save(_photo((32, 32)), "ICO"), FAILED,
                    "unsupported_format", "Windows icon named .png"),
        HostileCase("psd", "uploads/layers.jpg", _psd(), FAILED, "unsupported_format",
                    "Photoshop file named .jpg"),
        HostileCase("tga", "uploads/old-targa.png", _save(_photo((16, 16)), "TGA"), FAILED,
                    "unsupported_format", "Targa image named .png"),
        # --- polyglots: a valid image with something else attached; the image part is classified
        HostileCase("jpeg_zip_polyglot", "uploads/poly-zip.jpg", jpeg + _zip_bytes(), CLASSIFIED, None,
                    "valid JPEG with a ZIP archive appended"),
        HostileCase("jpeg_html_polyglot", "uploads/poly-html.jpg",
                    jpeg + b"<html><script>alert(document.cookie)</script></html>", CLASSIFIED, None,
                    "valid JPEG with HTML/JS appended"),
        HostileCase("gif_js_polyglot", "uploads/poly.gif", _gif_js_polyglot(), CLASSIFIED, None,
                    "GIF that is also valid JavaScript (GIF89a/*...*/=alert())"),
        # --- odd but legitimate images: classified
        HostileCase("png_named_jpg", "uploads/really-a-png.jpg", _save(_photo(), "PNG"), CLASSIFIED, None,
                    "PNG named .jpg (the name is not trusted, the header is)"),
        HostileCase("jpeg_named_png", "uploads/really-a-jpeg.png", jpeg, CLASSIFIED, None, "JPEG named .png"),
        HostileCase("tall_1x10000", "uploads/tall.png", _save(_photo((1, 10_000)), "PNG"), CLASSIFIED, None,
                    "1x10000 pixels"),
        HostileCase("wide_10000x1", "uploads/wide.png", _save(_photo((10_000, 1)), "PNG"), CLASSIFIED, None,
                    "10000x1 pixels"),
        HostileCase("one_pixel", "uploads/dot.jpg", _save(_photo((1, 1)), "JPEG"), CLASSIFIED, None,
                    "1x1 JPEG"),
        HostileCase("huge_exif", "uploads/exif-huge.jpg", _huge_exif_jpeg(), CLASSIFIED, None,
                    "JPEG with a 60 KB EXIF block"),
        HostileCase("broken_exif", "uploads/exif-broken.jpg", _broken_exif_jpeg(), CLASSIFIED, None,
                    "JPEG with a garbage EXIF block"),
        HostileCase("exif_rotated", "uploads/rotated.jpg", _rotated_jpeg(), CLASSIFIED, None,
                    "64x32 stored, EXIF orientation 6: reported as 32x64", shown_size=(32, 64)),
        HostileCase("animated_gif", "uploads/anim.gif", _animated("GIF"), CLASSIFIED, None,
                    "3-frame animated GIF (first frame used)"),
        HostileCase("animated_webp", "uploads/anim.webp", _animated("WEBP"), CLASSIFIED, None,
                    "3-frame animated WebP (first frame used)"),
        HostileCase("cmyk_jpeg", "uploads/print.jpg", _save(Image.new("CMYK", (32, 32), (0, 200, 200, 0)),
                    "JPEG"), CLASSIFIED, None, "CMYK JPEG (print workflow)"),
        HostileCase("png_16bit_gray", "uploads/deep.png", _save(Image.new("I;16", (32, 32), 40_000), "PNG"),
                    CLASSIFIED, None, "16-bit greyscale PNG"),
        HostileCase("palette_transparent", "uploads/sticker.png", _palette_transparent_png(), CLASSIFIED,
                    None, "palette PNG with a transparent colour"),
        HostileCase("rgba_png", "uploads/alpha.png", _save(Image.new("RGBA", (32, 32), (0, 0, 255, 0)),
                    "PNG"), CLASSIFIED, None, "fully transparent RGBA PNG"),
        # --- keys S3 URL-encodes in its event: the handler must decode them back exactly
        HostileCase("key_unicode", "uploads/фото/猫 🐱.jpg", jpeg, CLASSIFIED, None,
                    "Cyrillic, CJK and emoji in the key"),
        HostileCase("key_spaces", "uploads/my cat  photo .jpg", jpeg, CLASSIFIED, None,
                    "spaces (S3 sends them as +)"),
        HostileCase("key_plus", "uploads/cat+dog+1.jpg", jpeg, CLASSIFIED, None,
                    "literal + (S3 sends %2B)"),
        HostileCase("key_percent", "uploads/100% cat %41%2B.jpg", jpeg, CLASSIFIED, None,
                    "literal % and things that look like escapes"),
        HostileCase("key_1024_bytes", _long_key(), jpeg, CLASSIFIED, None,
                    "1024-byte key (S3's maximum), multi-byte characters"),
        HostileCase("key_escape_sequences", "uploads/\x1b]0;pwned\x07\x1b[2J\u202egpj.jpg", jpeg, CLASSIFIED,
                    None, "terminal escape sequences and a right-to-left override in the key"),
        # --- any name: S3 suffix filters are exact, so these once got no event and no item at all
        HostileCase("suffix_Jpeg", "uploads/Photo.Jpeg", jpeg, CLASSIFIED, None, "mixed-case .Jpeg"),
        HostileCase("suffix_jPg", "uploads/photo.jPg", jpeg, CLASSIFIED, None, "mixed-case .jPg"),
        HostileCase("suffix_Png", "uploads/shot.Png", _save(_photo(), "PNG"), CLASSIFIED, None, ".Png"),
        HostileCase("suffix_jfif", "uploads/photo.jfif", jpeg, CLASSIFIED, None, ".jfif"),
        HostileCase("suffix_jpe", "uploads/photo.jpe", jpeg, CLASSIFIED, None, ".jpe"),
        HostileCase("suffix_tif", "uploads/scan.tif", _save(_photo(), "TIFF"), CLASSIFIED, None, "TIFF .tif"),
        HostileCase("suffix_bmp", "uploads/old.bmp", _save(_photo(), "BMP"), CLASSIFIED, None, "BMP .bmp"),
        HostileCase("no_suffix", "uploads/IMG_0001", jpeg, CLASSIFIED, None, "no suffix at all"),
        HostileCase("text_suffix", "uploads/notes.txt", b"plain notes\n", FAILED, "not_an_image",
                    "a .txt file: an item saying so, not silence"),
        # --- colour modes and formats that once raised in conversion (retried into the DLQ)
        HostileCase("tiff_la_associated_alpha", "uploads/grey-alpha.tif", _tiff_with_associated_alpha(),
                    CLASSIFIED, None, "grey + premultiplied alpha TIFF (mode La)"),
        HostileCase("tiff_float", "uploads/float.tif", _save(Image.new("F", (32, 24), 0.25), "TIFF"),
                    CLASSIFIED, None, "32-bit float greyscale TIFF: valid, not corrupt"),
        HostileCase("tiff_lab", "uploads/lab.tif", _save(_photo().convert("LAB"), "TIFF"), CLASSIFIED, None,
                    "CIELAB TIFF"),
        HostileCase("tiff_cmyk", "uploads/cmyk.tif", _save(_photo().convert("CMYK"), "TIFF"), CLASSIFIED,
                    None, "CMYK TIFF"),
        HostileCase("tiff_16bit_big_endian", "uploads/deep-be.tif",
                    _save(Image.new("I;16B", (32, 24), 50_000), "TIFF"), CLASSIFIED, None,
                    "16-bit big-endian greyscale TIFF"),
        HostileCase("tiff_1bit", "uploads/fax.tif",
                    _save(_photo().convert("1"), "TIFF", compression="group4"), CLASSIFIED, None,
                    "1-bit CCITT G4 TIFF"),
        HostileCase("png_16bit_rgb", "uploads/deep-rgb.png", _png_rgb16(), CLASSIFIED, None,
                    "16-bit-per-channel RGB PNG"),
        HostileCase("webp_lossless_rgba", "uploads/sticker.webp",
                    _save(Image.new("RGBA", (40, 40), (0, 120, 0, 90)), "WEBP", lossless=True), CLASSIFIED,
                    None, "small lossless RGBA WebP"),
        HostileCase("bmp_rle8_small", "uploads/small-rle.bmp", _rle8_bmp(64, 48), CLASSIFIED, None,
                    "a small RLE8 BMP"),
        # --- formats we recognise and refuse: named, not "not an image"
        HostileCase("heic", "uploads/IMG_0002.HEIC", _heic_like(), FAILED, "unsupported_format",
                    "HEIC (an iPhone photo)"),
        HostileCase("avif", "uploads/photo.avif", _avif(), FAILED, "unsupported_format", "AVIF"),
        HostileCase("jpeg_xl", "uploads/photo.jxl", b"\xff\x0a" + b"\x00" * 64, FAILED, "unsupported_format",
                    "JPEG XL codestream"),
        HostileCase("jpeg_2000", "uploads/photo.jp2", b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 64,
                    FAILED, "unsupported_format", "JPEG 2000"),
        # --- CPU bombs under the caps: seconds to minutes of CPU from a few MB at most
        HostileCase("progressive_scan_bomb", "uploads/scans.jpg", _progressive_scan_bomb(), FAILED,
                    "cpu_budget", "49 MP progressive JPEG, one tiny AC scan repeated 20000 times",
                    sandbox_only=True),
        HostileCase("jpeg_fill_bytes", "uploads/fill.jpg", _jpeg_fill_bomb(), FAILED, "cpu_budget",
                    "a JPEG with 15 MB of legal 0xFF fill bytes", sandbox_only=True),
        HostileCase("bmp_rle8_bomb", "uploads/rle.bmp", _rle8_bmp(), FAILED, "cpu_budget",
                    "3000x3000 RLE8 BMP of one-pixel runs (18 MB)", sandbox_only=True),
        HostileCase("png_many_chunks", "uploads/chunks.png", _png_many_chunks(), FAILED, "cpu_budget",
                    "10x10 PNG with 1.5 million empty chunks (18 MB)", sandbox_only=True),
        # --- memory bombs under the caps
        HostileCase("webp_lossless_rgba_49mp", "uploads/huge.webp",
                    _save(_big_rgba(), "WEBP", lossless=True), FAILED, "memory_budget",
                    "2 KB lossless RGBA WebP declaring 7000x7000", sandbox_only=True),
        HostileCase("png_rgba_49mp", "uploads/huge-rgba.png", _save(_big_rgba(), "PNG"), CLASSIFIED, None,
                    "200 KB RGBA PNG, 7000x7000", sandbox_only=True, within_budget=True),
        HostileCase("tiff_rgba_25mp", "uploads/huge-rgba.tif",
                    _save(_big_rgba().resize((5000, 5000)), "TIFF", compression="tiff_adobe_deflate"),
                    CLASSIFIED, None, "deflate RGBA TIFF, 5000x5000", sandbox_only=True, within_budget=True),
        HostileCase("png_50m_by_1", "uploads/line.png", _png_50m_by_1(), CLASSIFIED, None,
                    "a 50,000,000 x 1 RGBA PNG (at the pixel cap)", sandbox_only=True, within_budget=True),
        # --- memory: each image is held to its own budget (the process-wide cap once let a decode
        # use the budget plus the request buffers' slack), and an allocation that fails is named
        HostileCase("webp_anim_canvas_25mp", "uploads/anim-canvas.webp", _webp_anim_canvas(5000), CLASSIFIED,
                    None, "animated WebP, one 16x16 frame on a 5000x5000 canvas (two 100 MB canvases)",
                    sandbox_only=True, within_budget=True),
        HostileCase("webp_anim_canvas_49mp", "uploads/anim-canvas49.webp", _webp_anim_canvas(7000), FAILED,
                    "memory_budget", "animated WebP, one 16x16 frame on a 7000x7000 canvas: the canvas "
                    "allocation fails (ENOMEM), named as memory, not as corrupt data", sandbox_only=True),
        HostileCase("webp_lossless_rgba_36mp", "uploads/huge36.webp",
                    _save(Image.new("RGBA", (6000, 6000), (10, 200, 30, 128)), "WEBP", lossless=True), FAILED,
                    "memory_budget", "1.4 KB lossless RGBA WebP declaring 6000x6000", sandbox_only=True),
        # --- structures that loop or lie: the first image is classified
        HostileCase("exif_ifd_loop", "uploads/exif-loop.jpg", _exif_ifd_loop_jpeg(), CLASSIFIED, None,
                    "EXIF whose sub-IFD points back at IFD0; orientation 6 still read",
                    shown_size=(32, 64)),
        HostileCase("apng_2g_frames", "uploads/frames.png", _apng_claiming_2g_frames(), CLASSIFIED, None,
                    "PNG whose acTL claims 2^31 - 1 animation frames"),
        HostileCase("mpo_two_frames", "uploads/stereo.jpg",
                    _save(_photo(), "MPO", save_all=True, append_images=[_photo(color=(0, 0, 200))]),
                    CLASSIFIED, None, "MPO (multi-picture JPEG from a stereo camera)"),
        HostileCase("bmp_top_down", "uploads/top-down.bmp",
                    (lambda b: b[:22] + struct.pack("<i", -48) + b[26:])(_save(_photo(), "BMP")), CLASSIFIED,
                    None, "BMP with a negative height (rows stored top-down)"),
        HostileCase("png_iccp_bomb", "uploads/icc-bomb.png", _png_iccp_bomb(), FAILED, "corrupt",
                    "valid 8x8 PNG whose ICC profile inflates to 16 MB"),
        HostileCase("ppm_as_jpg", "uploads/netpbm.jpg", b"P6 7000 7000 255\n" + b"\x80" * 1000, FAILED,
                    "unsupported_format", "PPM (netpbm) header named .jpg"),
        # --- what S3 holds decides, not the name or the storage class
        HostileCase("key_trailing_slash", "uploads/cat.jpg/", jpeg, CLASSIFIED, None,
                    "a photo under a key ending in '/' (only zero-byte ones are folder markers)"),
        HostileCase("archived_glacier", "uploads/archived.jpg", jpeg, FAILED, "archived",
                    "uploaded straight to GLACIER: unreadable until restored, so failed, not retried",
                    storage_class="GLACIER"),
    ]
