"""Keys are the uploader's choice: no human-facing output may send their control characters raw."""

from __future__ import annotations

import json

import pytest

from catdog_cli.display import printable, safe_json
from catdog_cli.results_query import render

#: A key that would retitle the window, clear the screen, use a C1 CSI and reverse the line.
HOSTILE_KEY = "uploads/\x1b]0;pwned\x07\x1b[2J\x9b31m\u202egpj.exe\u200b\nnext line\tok"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u200b", "\n", "\t")


def _raw_controls(text: str) -> list[str]:
    return [c for c in RAW if c in text]


def test_printable_shows_every_control_and_format_character_as_an_escape() -> None:
    shown = printable(HOSTILE_KEY)
    assert _raw_controls(shown) == []
    assert "\\x1b]0;pwned\\x07" in shown and "\\u202e" in shown and "\\x9b" in shown


@pytest.mark.parametrize("text", ["uploads/a\U000e0041\U000e0042.jpg", "uploads/x\U0001d173.jpg",
                                  "name-\udcff-not-utf8.jpg"])
def test_astral_format_characters_and_lone_surrogates_are_escaped_everywhere(text: str) -> None:
    """Invisible TAG characters (U+E0000 block) and other format characters above U+FFFF; a lone
    surrogate is what a local file name that is not UTF-8 becomes (printing it would raise)."""
    hidden = [ch for ch in text if ord(ch) > 0xFFFF or 0xD800 <= ord(ch) <= 0xDFFF]
    for shown in (printable(text), safe_json({"key": text})):
        assert not any(ch in shown for ch in hidden), shown
        shown.encode("utf-8")  # printable to any UTF-8 terminal
    assert json.loads(safe_json({"key": text})) == {"key": text}


@pytest.mark.parametrize("text", ["uploads/my cat.jpg", "uploads/ça va+1 🐱.jpg", "uploads/猫.png"])
def test_ordinary_unicode_stays_readable(text: str) -> None:
    assert printable(text) == text


def test_safe_json_is_still_json_with_the_same_strings() -> None:
    out = safe_json({"image": HOSTILE_KEY, "label": "cat"})
    assert _raw_controls(out) == []
    assert json.loads(out) == {"image": HOSTILE_KEY, "label": "cat"}


@pytest.mark.parametrize(("fmt", "lines"), [("table", 4), ("csv", 2), ("json", None)])
def test_results_in_every_format_never_carry_a_raw_control_character(fmt: str, lines: int | None) -> None:
    items = [{"image": f"s3://b/{HOSTILE_KEY}", "label": "cat", "status": "classified",
              "error": "bad \x1b[31mred", "scores": {"c\x1bat": 0.5}}]
    out = render(items, fmt)
    assert [c for c in RAW if c != "\n" and c in out] == [], repr(out)
    if lines is not None:  # the key's newline is shown, not obeyed: the row stays one line
        assert len(out.splitlines()) == lines, out
    else:
        assert json.loads(out)[0]["image"] == f"s3://b/{HOSTILE_KEY}"
    assert "pwned" in out  # shown, escaped, not dropped
