"""The shared preprocessing function: every mode becomes the same RGB array, bad input a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from catdog.errors import BadInputError
from catdog.preprocess import preprocess_image
from tests.support.images import jpeg_bytes

SIZE = (24, 32)  # (height, width): non-square so a swapped axis would show


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_output_is_float_rgb_of_the_requested_size() -> None:
    out = preprocess_image(jpeg_bytes((80, 60), (200, 30, 30)), SIZE)
    assert out.pixels.shape == (24, 32, 3)
    assert out.pixels.dtype == np.float32
    assert (out.width, out.height, out.format) == (80, 60, "JPEG")
    # Red stays red: the channels are in RGB order and in 0..255, not rescaled.
    r, g, b = out.pixels.reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 80 and b < 80


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("L", "PNG"), ("P", "PNG"), ("RGBA", "PNG"), ("CMYK", "JPEG"), ("1", "PNG"), ("LA", "PNG")],
)
def test_every_colour_mode_becomes_rgb(mode: str, fmt: str) -> None:
    img = Image.new("RGB", (40, 30), (30, 120, 220)).convert(mode)
    out = preprocess_image(encode(img, fmt), SIZE)
    assert out.pixels.shape == (24, 32, 3)


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    """A mid-grey 16-bit PNG (32768 of 65535) must come out mid-grey, not saturated white."""
    img = Image.new("I;16", (20, 20), 32768)
    out = preprocess_image(encode(img, "PNG"), SIZE)
    assert 120 < out.pixels.mean() < 135


def test_transparent_pixels_are_composited_on_white() -> None:
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))  # fully transparent black
    out = preprocess_image(encode(img, "PNG"), SIZE)
    assert out.pixels.min() == pytest.approx(255.0)


def test_exif_orientation_is_honoured() -> None:
    """A landscape JPEG tagged 'rotate 90' is a portrait photo: the left half must end up on top."""
    img = Image.new("RGB", (60, 30), (255, 0, 0))
    img.paste((0, 0, 255), (30, 0, 60, 30))  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    out = preprocess_image(encode(img, "JPEG", exif=exif), (40, 40))
    assert (out.width, out.height) == (30, 60)
    top, bottom = out.pixels[:10].mean(axis=(0, 1)), out.pixels[-10:].mean(axis=(0, 1))
    assert top[0] > 200 and bottom[2] > 200  # red on top, blue at the bottom


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in [(250, 0, 0), (0, 250, 0)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    out = preprocess_image(data, SIZE)
    r, g, _ = out.pixels.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 50


def test_same_bytes_give_identical_arrays() -> None:
    data = jpeg_bytes((123, 77), (10, 200, 90))
    assert np.array_equal(preprocess_image(data, SIZE).pixels, preprocess_image(data, SIZE).pixels)


def test_large_jpeg_is_decoded_at_reduced_scale_but_reports_original_size() -> None:
    out = preprocess_image(jpeg_bytes((2000, 1600)), SIZE)
    assert (out.width, out.height) == (2000, 1600)
    assert out.pixels.shape == (24, 32, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"just some text named photo.jpg", "not_an_image"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj", "not_an_image"),
        (jpeg_bytes((200, 200))[:300], "corrupt"),
        (encode(Image.new("RGB", (8, 8)), "ICO"), "unsupported_format"),
    ],
    ids=["zero-byte", "text-named-jpg", "pdf-named-jpg", "truncated-jpeg", "ico"],
)
def test_bad_input_raises_a_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(BadInputError) as err:
        preprocess_image(data, SIZE)
    assert err.value.reason == reason
    assert str(err.value)  # a message a person can read in the results table


def test_pixel_cap_is_checked_from_the_header() -> None:
    """A 5000x5000 PNG is ~20 KB on disk; it must be refused before 75 MB of pixels are decoded."""
    data = encode(Image.new("L", (5000, 5000)), "PNG")
    with pytest.raises(BadInputError) as err:
        preprocess_image(data, SIZE, max_pixels=10_000_000)
    assert err.value.reason == "too_many_pixels"
    assert "5000x5000" in str(err.value)
