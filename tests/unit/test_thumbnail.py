"""Thumbnails for the review page: the preprocessing decoder and guards, another output size and format."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from catdog.errors import BadInputError
from catdog.preprocess import fit_within, preprocess_image, thumbnail_image
from tests.support.hostile_corpus import CLASSIFIED, FAILED, HostileCase, build_corpus
from tests.support.images import jpeg_bytes

#: Cheap enough for the test process itself (the expensive ones go through the sandbox test).
CASES = [c for c in build_corpus() if not c.sandbox_only and c.max_mb <= 64 and not c.within_budget
         and c.decoded]


def _size(jpeg: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG"
        return img.size


def test_a_thumbnail_keeps_the_aspect_ratio_within_the_side() -> None:
    thumb = thumbnail_image(jpeg_bytes((640, 480)), 160)
    assert _size(thumb.jpeg) == (160, 120)
    assert (thumb.width, thumb.height, thumb.format) == (640, 480, "JPEG")


def test_a_small_photo_is_never_enlarged() -> None:
    assert _size(thumbnail_image(jpeg_bytes((40, 30)), 160).jpeg) == (40, 30)


def test_fit_within_never_reaches_zero_pixels() -> None:
    assert fit_within(160)(10_000, 1) == (1, 160)  # (height, width)


def test_an_exif_rotated_photo_is_shown_upright() -> None:
    rotated = next(c for c in build_corpus() if c.name == "exif_rotated")
    thumb = thumbnail_image(rotated.data, 160)
    assert (thumb.width, thumb.height) == rotated.shown_size == _size(thumb.jpeg)


def test_thumbnails_do_not_change_what_the_model_sees() -> None:
    """The shared decoder was split, not copied: preprocessing must still give the same pixels."""
    data = jpeg_bytes((300, 200), color=(10, 120, 240))
    a = preprocess_image(data, (224, 224)).pixels
    thumbnail_image(data, 96)
    assert (preprocess_image(data, (224, 224)).pixels == a).all()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_gets_the_same_verdict_as_preprocessing(case: HostileCase) -> None:
    try:
        thumbnail_image(case.data, 128)
        verdict: tuple[str, str | None] = (CLASSIFIED, None)
    except BadInputError as exc:
        verdict = (FAILED, exc.reason)
    assert case.accepts(*verdict), f"{case.name}: {verdict}"


def test_a_silly_side_is_refused() -> None:
    with pytest.raises(ValueError):
        thumbnail_image(jpeg_bytes(), 0)
