"""The one preprocessing function: training, evaluation and the Lambda all call `preprocess_image`.

Keeping a single implementation is what prevents train/serve skew: the Keras model is trained on
exactly the arrays the Lambda feeds to the `.tflite` export. Scaling to the network's own input
range happens inside the model (a Rescaling layer), so this function's output is plain RGB 0..255.

`thumbnail_image` (the review page's thumbnails) goes through the very same decoder and guards and
differs only in the output size (the photo's aspect ratio, at most `max_side` pixels a side) and
format (a small JPEG), so a photo that cannot hurt the Lambda cannot hurt the page either.

It is also the first line of defence against hostile uploads: the format allow-list, the
pixel-count cap (checked from the header, before any pixel is decoded) and the truncation check
all live here and raise `BadInputError` with a message meant for the results table.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from catdog.config import DEFAULT_MAX_IMAGE_PIXELS
from catdog.errors import BadInputError

#: Formats we decode. Anything else (EPS needs Ghostscript, PSD, ICO...) is refused up front.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
#: One fixed resampling filter for every caller.
RESAMPLE = Image.Resampling.BILINEAR
#: Default pixel-count cap (width x height from the header); the function passes MAX_IMAGE_PIXELS.
DEFAULT_MAX_PIXELS = DEFAULT_MAX_IMAGE_PIXELS

#: Written into every model manifest so a reader knows what the model expects.
PREPROCESSING_SPEC: dict[str, object] = {
    "function": "catdog.preprocess.preprocess_image",
    "color": "RGB",
    "exif_orientation": True,
    "alpha": "composited on white",
    "animated": "first frame",
    "jpeg_draft": True,
    "resize": "bilinear, aspect ratio not kept",
    "dtype": "float32",
    "range": [0, 255],
}


@dataclass(frozen=True)
class PreprocessedImage:
    """Model-ready pixels plus what we learned about the original while decoding."""

    pixels: np.ndarray  # (height, width, 3) float32, 0..255
    width: int  # of the original, after EXIF orientation
    height: int
    format: str


@dataclass(frozen=True)
class Thumbnail:
    """A small JPEG of the photo as a person sees it, plus what we learned about the original."""

    jpeg: bytes
    width: int  # of the original, after EXIF orientation
    height: int
    format: str


ImageSource = bytes | bytearray | BinaryIO | str | Path
#: (width, height) of the photo as shown -> (height, width) of the output.
OutputSize = Callable[[int, int], tuple[int, int]]


def _as_stream(source: ImageSource) -> BinaryIO:
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    if isinstance(source, str | Path):
        return open(source, "rb")
    return source


#: Leading bytes of the formats we decode. A file that starts like one of them but that Pillow
#: cannot open is a cut-off upload (say so), not "not an image".
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"),
)
#: Image formats we recognise but do not decode (Pillow cannot, or we chose not to): a photo from a
#: phone in HEIC is an image in a format we refuse, not "not an image".
_ISO_BMFF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
                    b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF", b"jxl ": "JPEG XL"}
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"8BPS", "PSD"), (b"\x00\x00\x01\x00", "ICO"), (b"\x00\x00\x02\x00", "CUR"), (b"icns", "ICNS"),
    (b"%!PS-Adobe", "EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"), (b"DDS ", "DDS"), (b"qoif", "QOI"),
    (b"II\xbc", "JPEG XR"), (b"\x76\x2f\x31\x01", "OpenEXR"), (b"#?RADIANCE", "HDR"),
)


def _signature_format(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)


def _refused_format(stream: BinaryIO, head: bytes) -> str | None:
    """Name the format of a file we recognise but refuse, for the error message."""
    if head[4:8] == b"ftyp":
        brands = {head[8:12], *(head[i:i + 4] for i in range(16, min(len(head), 40), 4))}
        for brand, name in _ISO_BMFF_BRANDS.items():
            if brand in brands:
                return name
    found = next((fmt for magic, fmt in _OTHER_SIGNATURES if head.startswith(magic)), None)
    if found:
        return found
    stream.seek(0)
    try:  # Pillow knows more formats than we allow; only the header is parsed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(stream) as probe:
                return str(probe.format)
    except Exception:
        return None


def _exif_orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:
        return 1  # a broken EXIF block must not cost us an otherwise good image
    return value if 1 <= value <= 8 else 1


#: EXIF orientation → the transposes that show the picture upright (as ImageOps.exif_transpose).
_TRANSPOSE: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,), 3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,), 5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,), 7: (Image.Transpose.TRANSVERSE,), 8: (Image.Transpose.ROTATE_90,),
}


def _reduce_factors(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """Integer box-reduction per axis that still leaves at least twice the target's pixels: a huge
    image is shrunk before any mode conversion copies it, and bilinear resizing does the rest."""
    (w, h), (tw, th) = size, target
    return max(1, w // (2 * tw)), max(1, h // (2 * th))


#: Source pixels converted at a time when a large image is reduced: a few MB in any mode.
TILE_PIXELS = 1 << 22


def _grey_range(img: Image.Image) -> tuple[float, float]:
    """The range that maps a 32-bit integer or float image onto 0..255 (read once, without a copy)."""
    if img.mode not in ("I", "F"):
        return 0.0, 255.0
    extrema = img.getextrema()  # (min, max) for a single-band image
    lo, hi = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    if img.mode == "I" and lo >= 0 and hi <= 65535:
        return 0.0, 65535.0  # a 16-bit image stored as 32-bit: keep its scale
    if not (np.isfinite(lo) and np.isfinite(hi)):
        arr = np.asarray(img, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return lo, hi


def _reducible(img: Image.Image, grey: tuple[float, float]) -> Image.Image:
    """Any Pillow mode → one that `reduce` averages correctly: 8-bit, alpha premultiplied.

    Premultiplying first makes a box average of transparent and opaque pixels come out as the
    average of what they look like on white, so reducing before compositing changes nothing.
    """
    mode = img.mode
    if mode.startswith("I;16"):  # 16-bit greyscale → its high byte (0..65535 → 0..255)
        return Image.fromarray((np.asarray(img) >> 8).astype(np.uint8), mode="L")
    if mode in ("I", "F"):
        lo, hi = grey
        arr = (np.asarray(img, dtype=np.float64) - lo) * (255.0 / max(hi - lo, 1e-9))
        arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        return img.convert("RGBA").convert("RGBa") if "transparency" in img.info else img.convert("RGB")
    if mode in ("RGBA", "PA"):
        return img.convert("RGBA").convert("RGBa")
    if mode == "LA":
        return img.convert("La")
    return img  # L, La, RGB, RGBa, RGBX, CMYK, YCbCr, LAB, HSV: reduce handles them


def _on_white(img: Image.Image) -> Image.Image:
    """A reduced image → RGB; premultiplied alpha composited on white (colour + 255 - alpha)."""
    if img.mode not in ("RGBa", "La"):
        return img.convert("RGB")
    arr = np.asarray(img, dtype=np.int16)
    colour = arr[..., :3] if img.mode == "RGBa" else np.repeat(arr[..., :1], 3, axis=2)
    out = np.clip(colour + (255 - arr[..., -1:]), 0, 255).astype(np.uint8)
    return Image.fromarray(out, mode="RGB")


def _to_small_rgb(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Any mode → RGB, box-reduced tile by tile so that no full-size copy is made in a wider mode.

    A 49 MP RGBA PNG decodes to 196 MB; converting it whole (or letting Pillow premultiply it for
    `reduce`) would add as much again per copy. Each tile is converted and reduced on its own, and
    compositing on white happens on the small result: per pixel and per box, so the order is moot.
    """
    grey = _grey_range(img)
    fx, fy = _reduce_factors(img.size, target)
    if fx == 1 and fy == 1:
        return _on_white(_reducible(img, grey))  # under 4x the target on both axes: already small
    w, h = img.size
    out_w, out_h = -(-w // fx), -(-h // fy)
    cols = max(1, min(out_w, TILE_PIXELS // (fx * fy)))
    rows = max(1, min(out_h, TILE_PIXELS // (fx * fy * cols)))
    out: Image.Image | None = None
    for oy in range(0, out_h, rows):
        for ox in range(0, out_w, cols):
            box = (ox * fx, oy * fy, min(w, (ox + cols) * fx), min(h, (oy + rows) * fy))
            tile = _reducible(img.crop(box), grey).reduce((fx, fy))
            if out is None:
                out = Image.new(tile.mode, (out_w, out_h))
            out.paste(tile, (ox, oy))
    assert out is not None
    return _on_white(out)


def preprocess_image(
    source: ImageSource,
    size: tuple[int, int],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PreprocessedImage:
    """Decode `source` and return it as the model's input for an input of `size` = (height, width).

    Raises `BadInputError` (with `.reason`) for anything that is not a decodable, allowed image
    within the pixel cap; never returns a partially decoded image. Every error the decoders raise
    on the way is the input's fault, so it becomes a `BadInputError` too (a retry cannot help).
    """
    if isinstance(source, bytes | bytearray) and len(source) == 0:
        raise BadInputError("empty file (0 bytes)", reason="empty")
    stream = _as_stream(source)
    try:
        rgb, shown_w, shown_h, fmt = _decode(stream, lambda w, h: size, max_pixels)
    finally:
        if isinstance(source, str | Path):
            stream.close()
    return PreprocessedImage(pixels=np.asarray(rgb, dtype=np.float32), width=shown_w, height=shown_h,
                             format=fmt)


def fit_within(max_side: int) -> OutputSize:
    """The photo's own aspect ratio, at most `max_side` pixels a side, never enlarged."""

    def size(width: int, height: int) -> tuple[int, int]:
        scale = min(1.0, max_side / max(width, height))
        return max(1, round(height * scale)), max(1, round(width * scale))

    return size


def thumbnail_image(
    source: ImageSource,
    max_side: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quality: int = 80,
) -> Thumbnail:
    """A JPEG of at most `max_side` pixels a side, upright, alpha on white: what the review page shows.

    The same decoder, format allow-list, pixel cap and error reasons as `preprocess_image`.
    """
    if not 1 <= max_side <= 4096:
        raise ValueError(f"thumbnail side {max_side} is outside 1..4096")
    if isinstance(source, bytes | bytearray) and len(source) == 0:
        raise BadInputError("empty file (0 bytes)", reason="empty")
    stream = _as_stream(source)
    try:
        rgb, shown_w, shown_h, fmt = _decode(stream, fit_within(max_side), max_pixels)
    finally:
        if isinstance(source, str | Path):
            stream.close()
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=quality)
    return Thumbnail(jpeg=out.getvalue(), width=shown_w, height=shown_h, format=fmt)


#: What decoders raise on malformed data (Pillow's C decoders use OSError/ValueError; its Python
#: plugins also SyntaxError, struct.error, EOFError, IndexError, KeyError, TypeError...).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError,
                  TypeError, AttributeError, ZeroDivisionError, OverflowError, RecursionError,
                  NotImplementedError, AssertionError)


def _decode(stream: BinaryIO, output_size: OutputSize, max_pixels: int) -> tuple[Image.Image, int, int, str]:
    """(RGB image of `output_size`, shown width, shown height, format), through every guard."""
    start = stream.tell()
    head = stream.read(64)
    if not head:
        raise BadInputError("empty file (0 bytes)", reason="empty")
    stream.seek(start)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns at 89 MP; our cap below is the one that decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(stream, formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise BadInputError(f"decompression bomb refused: {exc}", reason="too_many_pixels") from exc
    except UnidentifiedImageError as exc:
        refused = _refused_format(stream, head)
        if refused:
            raise BadInputError(
                f"unsupported image format {refused}; supported: {', '.join(ALLOWED_FORMATS)}",
                reason="unsupported_format",
            ) from exc
        damaged = _signature_format(head)
        if damaged:
            raise BadInputError(f"truncated or corrupt {damaged} header", reason="corrupt") from exc
        raise BadInputError("not an image (no known image header)", reason="not_an_image") from exc
    except _DECODE_ERRORS as exc:
        # The header was recognised but is cut short or malformed (e.g. a JPEG truncated in its markers).
        raise BadInputError(f"truncated or corrupt image header: {exc}", reason="corrupt") from exc

    with img:
        fmt = img.format or "unknown"
        w, h = img.size
        if w < 1 or h < 1:
            raise BadInputError(f"image has no pixels ({w}x{h})", reason="not_an_image")
        if w * h > max_pixels:
            raise BadInputError(
                f"image is {w}x{h} ({w * h / 1e6:.1f} MP), over the {max_pixels:,} pixel cap"
                " (MAX_IMAGE_PIXELS)",
                reason="too_many_pixels",
            )
        orientation = _exif_orientation(img)
        swapped = orientation in (5, 6, 7, 8)
        # Report what a person sees: EXIF orientations 5-8 swap width and height.
        shown_w, shown_h = (h, w) if swapped else (w, h)
        height, width = output_size(shown_w, shown_h)
        if fmt in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from cameras, opened by the JPEG plugin
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is much larger than the
            # model input: same pixels for training and serving, a fraction of the time and memory.
            side = max(height, width)
            try:
                img.draft("RGB", (side, side))
            except _DECODE_ERRORS as exc:
                raise BadInputError(f"corrupt JPEG: {exc}", reason="corrupt") from exc
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise BadInputError(f"decompression bomb refused: {exc}", reason="too_many_pixels") from exc
        except _DECODE_ERRORS as exc:
            raise BadInputError(f"truncated or corrupt image data: {exc}", reason="corrupt") from exc
        # The reduction target in the stored (not yet rotated) frame.
        stored_target = (height, width) if swapped else (width, height)
        try:
            rgb = _to_small_rgb(img, stored_target)
        except _DECODE_ERRORS as exc:
            raise BadInputError(f"cannot convert a {img.mode} {fmt} image to RGB: {exc}",
                                reason="unsupported_format") from exc
    for op in _TRANSPOSE.get(orientation, ()):
        rgb = rgb.transpose(op)
    return rgb.resize((width, height), RESAMPLE), shown_w, shown_h, fmt
