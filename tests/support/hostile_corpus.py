"""Hostile uploads, generated in memory: what a careless or malicious user can drop into `uploads/`.

Every case is built from a few bytes of code at test time (nothing binary is committed) and
declares the outcome we promise for it: `classified`, or `failed` with the `BadInputError.reason`
the results table will carry. The same list drives the preprocessing tests, the handler tests
and the README table (`python -m benchmarks.hostile_report`), so the three cannot disagree.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import cache

from PIL import Image

CLASSIFIED = "classified"
FAILED = "failed"


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


# ---------------------------------------------------------------------------- the corpus



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
    ]
