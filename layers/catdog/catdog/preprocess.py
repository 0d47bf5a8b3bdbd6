"""The one preprocessing function: training, evaluation and the Lambda all call `preprocess_image`.

Keeping a single implementation is what prevents train/serve skew: the Keras model is trained on
exactly the arrays the Lambda feeds to the `.tflite` export. Scaling to the network's own input
range happens inside the model (a Rescaling layer), so this function's output is plain RGB 0..255.

It is also the first line of defence against hostile uploads: the format allow-list, the
pixel-count cap (checked from the header, before any pixel is decoded) and the truncation check
all live here and raise `BadInputError` with a message meant for the results table.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


ImageSource = bytes | bytearray | BinaryIO | str | Path


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
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)


def _signature_format(stream: BinaryIO) -> str | None:
    stream.seek(0)
    head = stream.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)


def _sniff_format(stream: BinaryIO) -> str | None:
    """Name the format of a file we refuse, for the error message; parses the header only."""
    stream.seek(0)
    try:
        with Image.open(stream) as probe:
            return probe.format
    except Exception:
        return None


def _exif_orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:
        return 1


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode.startswith("I"):
        # 16-bit grayscale: scale 0..65535 to 0..255 instead of clipping everything to white.
        img = img.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    elif img.mode == "F":
        lo, hi = cast(tuple[float, float], img.getextrema())  # (min, max) for one float band
        span = max(float(hi) - float(lo), 1e-6)
        img = img.point(lambda v: (v - lo) * (255.0 / span)).convert("L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def preprocess_image(
    source: ImageSource,
    size: tuple[int, int],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PreprocessedImage:
    """Decode `source` and return it as the model's input for an input of `size` = (height, width).

    Raises `BadInputError` (with `.reason`) for anything that is not a decodable, allowed image
    within the pixel cap; never returns a partially decoded image.
    """
    if isinstance(source, bytes | bytearray) and len(source) == 0:
        raise BadInputError("empty file (0 bytes)", reason="empty")
    stream = _as_stream(source)
    try:
        return _decode(stream, size, max_pixels)
    finally:
        if isinstance(source, str | Path):
            stream.close()


def _decode(stream: BinaryIO, size: tuple[int, int], max_pixels: int) -> PreprocessedImage:
    height, width = size
    start = stream.tell()
    if not stream.read(1):
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
        found = _sniff_format(stream)
        if found:
            raise BadInputError(
                f"unsupported image format {found}; supported: {', '.join(ALLOWED_FORMATS)}",
                reason="unsupported_format",
            ) from exc
        damaged = _signature_format(stream)
        if damaged:
            raise BadInputError(f"truncated or corrupt {damaged} header", reason="corrupt") from exc
        raise BadInputError("not an image (no known image header)", reason="not_an_image") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # The header was recognised but is cut short or malformed (e.g. a JPEG truncated in its markers).
        raise BadInputError(f"truncated or corrupt image header: {exc}", reason="corrupt") from exc

    with img:
        fmt = img.format or "unknown"
        w, h = img.size
        orientation = _exif_orientation(img)
        # Report what a person sees: EXIF orientations 5-8 swap width and height.
        shown_w, shown_h = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        if w < 1 or h < 1:
            raise BadInputError(f"image has no pixels ({w}x{h})", reason="not_an_image")
        if w * h > max_pixels:
            raise BadInputError(
                f"image is {w}x{h} ({w * h / 1e6:.1f} MP), over the {max_pixels / 1e6:.1f} MP cap"
                " (MAX_IMAGE_PIXELS)",
                reason="too_many_pixels",
            )
        if fmt in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from cameras, opened by the JPEG plugin
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is much larger than the
            # model input: same pixels for training and serving, a fraction of the time and memory.
            side = max(height, width)
            img.draft("RGB", (side, side))
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise BadInputError(f"decompression bomb refused: {exc}", reason="too_many_pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise BadInputError(f"truncated or corrupt image data: {exc}", reason="corrupt") from exc
        try:
            oriented = ImageOps.exif_transpose(img)
        except Exception:
            oriented = img  # a broken EXIF block must not cost us an otherwise good image
        rgb = _to_rgb(oriented)
        resized = rgb.resize((width, height), RESAMPLE)
        pixels = np.asarray(resized, dtype=np.float32)
    return PreprocessedImage(pixels=pixels, width=shown_w, height=shown_h, format=fmt)
