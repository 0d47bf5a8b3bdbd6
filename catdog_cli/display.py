"""Text for people's terminals: what users uploaded never reaches a terminal raw.

An S3 key is whatever the uploader chose, escape sequences included: `\x1b]0;...\x07` retitles the
window, `\x1b[2J` clears it, a C1 `\x9b` is a CSI on some terminals, and U+202E turns the rest of
the line around. Every human-facing output (tables, CSV, messages, JSON on stdout) goes through
`printable`, which shows such characters as visible escapes instead of sending them.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

#: Control characters (C0, DEL, C1), invisible format characters (bidi overrides and isolates,
#: zero-width joiners, BOM, the invisible TAG characters U+E0000-E007F...), and lone surrogates
#: (a local file name that is not UTF-8 decodes to them, and printing one raises).
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
#: How `catdog results` can print the table's items.
RESULT_FORMATS = ("table", "json", "csv")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(value: Any) -> str:
    """`str(value)` with every control or invisible formatting character shown as an escape."""
    text = str(value)
    if text.isprintable() and text.isascii():
        return text  # the common case, fast
    return "".join(_escape(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)


def safe_json(data: Any, **kwargs: Any) -> str:
    """JSON for a terminal: unicode stays readable, control/format characters become \\uXXXX (still
    valid JSON, the same string once parsed). `json` escapes C0 controls itself; what it lets through
    raw (C1 controls, bidi overrides, zero-width characters) can only sit inside strings."""
    text = json.dumps(data, ensure_ascii=False, **kwargs)
    return "".join(_json_escape(ch) if ord(ch) > 0x7F and unicodedata.category(ch) in _UNSAFE_CATEGORIES
                   else ch for ch in text)


def _json_escape(ch: str) -> str:
    """`\\uXXXX`; above U+FFFF (the TAG characters hide text in plain sight) as the UTF-16 surrogate
    pair JSON spells it in, so that it is still the same string once parsed."""
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def percent(value: float | None) -> str:
    """A share as people read it (`97.5%`), or `—` where there is none (nothing to divide by)."""
    return "—" if value is None else f"{100 * float(value):.1f}%"
