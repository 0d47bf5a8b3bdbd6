"""Counts in words people read: "1 file", "2 files", "0 batches", never "1 files" or "file(s)".

One helper for every message that counts something (the CLI, the trainer, the function's logs), so
that no message spells its own plural and gets it wrong for one.
"""

from __future__ import annotations

#: Endings whose plural adds "es" (batch -> batches, box -> boxes, class -> classes).
_ES_ENDINGS = ("s", "x", "z", "ch", "sh")


def plural_form(noun: str) -> str:
    """The regular English plural of `noun`; irregular ones are passed to `plural` as `many`."""
    if noun.endswith(_ES_ENDINGS):
        return noun + "es"
    if len(noun) > 1 and noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"  # entry -> entries, but key -> keys
    return noun + "s"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless the count is exactly one: `plural(1, "file")`
    is "1 file", `plural(0, "batch")` is "0 batches", `plural(2, "was", "were")` is "2 were"."""
    word = noun if count == 1 else (many or plural_form(noun))
    return f"{count} {word}"
