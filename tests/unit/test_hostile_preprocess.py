"""Every hostile upload through the one preprocessing function: right verdict, bounded cost.

The corpus (`tests/support/hostile_corpus.py`) states the expected outcome of each case; here we hold
`preprocess_image` to it, and to a time and peak-memory ceiling, with the production caps.
"""

from __future__ import annotations

import subprocess

import pytest
from PIL import EpsImagePlugin

from catdog.errors import BadInputError
from catdog.preprocess import DEFAULT_MAX_PIXELS, preprocess_image
from tests.support.hostile_corpus import CLASSIFIED, FAILED, HostileCase, build_corpus
from tests.support.measure import measure

CASES = build_corpus()
#: The bombs cost seconds of CPU or hundreds of MB by design: only the sandbox may run them
#: (tests/functional/test_decode_sandbox.py holds them to the budgets there).
IN_PROCESS = [c for c in CASES if not c.sandbox_only and c.decoded]
#: Generous for 2 shared CI cores; the slowest case (49 MP under-cap bomb) takes ~0.5-1 s.
MAX_SECONDS = 10.0
SIZE = (224, 224)  # the real model's input: the cost of a decode does not depend on the model


def test_corpus_covers_what_the_issue_lists() -> None:
    names = {c.name for c in CASES}
    assert len(CASES) >= 20
    for needed in ("png_bomb_100k", "gif_bomb", "truncated_jpeg", "zero_bytes", "jpeg_zip_polyglot",
                   "gif_js_polyglot", "png_named_jpg", "tall_1x10000", "wide_10000x1", "one_pixel",
                   "huge_exif", "animated_gif", "animated_webp", "key_unicode", "key_1024_bytes", "eps",
                   # hardening round 2: every class of the issue
                   "progressive_scan_bomb", "jpeg_fill_bytes", "bmp_rle8_bomb", "png_many_chunks",
                   "webp_lossless_rgba_49mp", "png_rgba_49mp", "tiff_rgba_25mp", "png_50m_by_1",
                   "tiff_la_associated_alpha", "tiff_float", "heic", "avif", "suffix_Jpeg", "suffix_tif",
                   "suffix_bmp", "key_escape_sequences"):
        assert needed in names
    assert len(names) == len(CASES), "case names must be unique (they name the README rows)"
    assert len({c.key for c in CASES}) == len(CASES), "each case needs its own S3 key"
    assert DEFAULT_MAX_PIXELS == 50_000_000, "the README documents this default"


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.name for c in IN_PROCESS])
def test_hostile_input_gets_its_verdict_in_bounded_time_and_memory(case: HostileCase) -> None:
    run = measure(lambda: preprocess_image(case.data, SIZE))
    if case.expect == CLASSIFIED:
        assert run.error is None, f"{case.name}: {case.what} was refused: {run.error!r}"
        assert run.result.pixels.shape == (*SIZE, 3)
        assert float(run.result.pixels.min()) >= 0.0 and float(run.result.pixels.max()) <= 255.0
        if case.shown_size:
            assert (run.result.width, run.result.height) == case.shown_size
    else:
        assert case.expect == FAILED
        assert isinstance(run.error, BadInputError), f"{case.name}: expected BadInputError, got {run.error!r}"
        assert run.error.reason == case.reason, f"{case.name}: {run.error}"
        assert str(run.error), "the message goes into the results table: it must say something"
    assert run.seconds < MAX_SECONDS, f"{case.name} took {run.seconds:.1f}s"
    assert run.peak_mb < case.max_mb, f"{case.name} used {run.peak_mb:.0f} MB (ceiling {case.max_mb} MB)"


def test_pixel_cap_is_checked_before_decoding_so_a_bomb_costs_nothing() -> None:
    """A 10-gigapixel PNG header would need ~40 GB decoded; refusing it must cost ~nothing."""
    bomb = next(c for c in CASES if c.name == "png_bomb_100k")
    run = measure(lambda: preprocess_image(bomb.data, SIZE))
    assert isinstance(run.error, BadInputError) and run.error.reason == "too_many_pixels"
    assert run.peak_mb < 8 and run.seconds < 1.0


def test_lower_pixel_cap_refuses_the_image_the_default_lets_through() -> None:
    under = next(c for c in CASES if c.name == "png_bomb_49mp_under_cap")
    with pytest.raises(BadInputError) as info:
        preprocess_image(under.data, SIZE, max_pixels=10_000_000)
    # the cap is printed in the unit it is set in: pixels, as MAX_IMAGE_PIXELS takes them
    assert info.value.reason == "too_many_pixels" and "10,000,000 pixel cap" in str(info.value)


def test_eps_is_refused_without_running_ghostscript(monkeypatch: pytest.MonkeyPatch) -> None:
    """EPS rendering shells out to Ghostscript (a long CVE history): it must never be reached."""
    calls: list[object] = []

    def forbidden(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("Ghostscript was invoked")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", forbidden)
    monkeypatch.setattr(subprocess, "check_call", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    eps = next(c for c in CASES if c.name == "eps")
    with pytest.raises(BadInputError) as info:
        preprocess_image(eps.data, SIZE)
    assert info.value.reason == "unsupported_format" and "EPS" in str(info.value)
    assert calls == []


def test_cut_off_png_is_reported_as_corrupt_not_as_a_non_image() -> None:
    """Regression: a PNG cut inside its header chunks used to be called 'not an image'."""
    header_only = next(c for c in CASES if c.name == "header_only_png")
    with pytest.raises(BadInputError) as info:
        preprocess_image(header_only.data, SIZE)
    assert info.value.reason == "corrupt" and "PNG" in str(info.value)


@pytest.mark.parametrize("text", [b"GIF is a file format, this is text", b"RIFF....AVI "])
def test_text_that_merely_starts_like_a_format_name_is_not_an_image(text: bytes) -> None:
    with pytest.raises(BadInputError) as info:
        preprocess_image(text, SIZE)
    assert info.value.reason == "not_an_image"
