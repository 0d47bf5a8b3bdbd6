"""`catdog results`' table: what fits the width it is given, most telling columns first.

It used to print every column at full width: 185 characters for a photo, with the bucket repeated
on each row and the label three times over (`label`, `model_label`, `top_label`). Now a column
that says nothing new is left out (the person's and the model's label only once someone reviewed an
image, `top_label` only where it differs from the answer), the image is its key when every row is in
one bucket (named once, below), times lose their microseconds, and what still does not fit gives
way: the key is shortened in the middle, then columns are dropped from the least telling, and the
last line says which. `--format json` or `csv` has every field, whatever the width.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from catdog.plural import plural
from catdog.s3uri import S3Uri, is_s3

#: The table's columns, left to right (json and csv carry every attribute). `label` is what queries
#: use (a person's label when reviewed); `top_label` says what an `unknown` image resembled most.
COLUMNS = ("image", "label", "model_label", "human_label", "confidence", "top_label", "status",
           "processed_at", "model_version", "reason", "shadow_label")
#: What gives way first when the table is too wide, in order (image, label, status never do): what
#: it answered stays longest, with what an `unknown` resembled and why an image failed.
DROP_FIRST = ("shadow_label", "model_version", "processed_at", "confidence", "model_label", "human_label",
              "top_label", "reason")
#: The key is shortened to no fewer characters than this before a column is dropped for it.
MIN_IMAGE = 32
#: No column is squeezed below this many characters (or its header's length).
MIN_COLUMN = 8
GAP = "  "


def shorten(text: str, width: int) -> str:
    """`uploads/very/long/na…/photo.jpg`: keep both ends, they say the most."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _says_something(column: str, rows: Sequence[dict[str, Any]]) -> bool:
    if not any(row.get(column) not in (None, "") for row in rows):
        return False
    if column in ("model_label", "human_label"):  # both, side by side, once anyone reviewed
        return any(row.get("human_label") not in (None, "") for row in rows)
    if column == "top_label":
        return any(row.get("top_label") not in (None, row.get("label")) for row in rows)
    return True


def _one_bucket(rows: Sequence[dict[str, Any]]) -> str | None:
    buckets = {S3Uri.parse(str(r["image"])).bucket if is_s3(str(r.get("image", ""))) else None for r in rows}
    return next(iter(buckets)) if len(buckets) == 1 and None not in buckets else None


def table(rows: Sequence[dict[str, Any]], cell: Callable[[Any], str], width: int | None = None) -> str:
    """The rows as text columns, `cell` making each value printable; within `width` when given."""
    if not rows:
        return "(no results)"
    columns = [c for c in COLUMNS if _says_something(c, rows)]
    bucket = _one_bucket(rows)

    def text(row: dict[str, Any], column: str) -> str:
        value = cell(row.get(column))
        if column == "image" and bucket:
            return value[len(f"s3://{bucket}/"):]
        if column == "processed_at" and len(value) > 20 and value[19] == ".":
            return value[:19] + "Z"  # 2026-12-03T18:14:16Z: the microseconds are noise here
        return value

    cells = {c: [text(row, c) for row in rows] for c in columns}
    natural = {c: max(len(c), *(len(v) for v in cells[c])) for c in columns}
    widths = dict(natural)
    dropped: list[str] = []
    if width is not None:
        widths, dropped = _fit(columns, natural, width)
        columns = [c for c in columns if c not in dropped]
    lines = [GAP.join(c.ljust(widths[c]) for c in columns).rstrip(),
             GAP.join("-" * widths[c] for c in columns)]
    for i in range(len(rows)):
        lines.append(GAP.join(shorten(cells[c][i], widths[c]).ljust(widths[c]) for c in columns).rstrip())
    notes = [f"({plural(len(rows), 'item')}{f' in s3://{bucket}/' if bucket else ''})"]
    if dropped:
        notes.append(f"(not shown in {width} columns: {', '.join(dropped)}; --format json has every field)")
    wrapped = [part for note in notes for part in textwrap.wrap(
        note, width or len(note), break_long_words=False, break_on_hyphens=False)]
    return "\n".join([*lines, *wrapped])


def _fit(columns: list[str], natural: dict[str, int], width: int) -> tuple[dict[str, int], list[str]]:
    """(widths, the columns dropped): the key shortened to MIN_IMAGE, then columns dropped in
    DROP_FIRST order, then the key given what is left, then, on a very narrow terminal, the widest
    columns squeezed down to MIN_COLUMN."""
    widths = dict(natural)
    kept = list(columns)

    def total() -> int:
        return sum(widths[c] for c in kept) + len(GAP) * (len(kept) - 1)

    if "image" in kept:
        widths["image"] = min(natural["image"], MIN_IMAGE)
    dropped = []
    for column in DROP_FIRST:
        if total() <= width:
            break
        if column in kept:
            kept.remove(column)
            dropped.append(column)
    if "image" in kept:
        widths["image"] = max(widths["image"], min(natural["image"], widths["image"] + width - total()))
    while total() > width:
        widest = max(kept, key=lambda c: widths[c])
        if widths[widest] <= max(MIN_COLUMN, len(widest)):
            break
        widths[widest] -= 1
    return widths, dropped
