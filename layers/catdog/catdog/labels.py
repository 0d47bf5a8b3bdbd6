"""What a label may be, and the folder it is kept in: checked where labels enter, once.

A label is born as a training set's folder name, is written into a manifest, and from there is
shown on the review page, in the report and in terminals, stored in the results table, and turned
back into a folder by `catdog dataset export`. A manifest is a file on S3 that anyone with write
access to `models/` can craft, so its labels are checked when it is read (`Manifest.from_dict`:
the function, publish, and every review tool): short, visible text, never path-like, and distinct
once turned into folder names. Anything else is a malformed manifest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

#: Longest label accepted (labels are class folder names, short by nature; the table's GSI keys too).
MAX_LABEL_LENGTH = 64
#: Longest folder name `folder_name` makes (a label's folder never approaches a file system's limit).
MAX_FOLDER_LENGTH = 64
#: What a folder name keeps of a label: letters and digits of any script, `_`, `.`, `-`.
_FOLDER_UNSAFE = re.compile(r"[^\w.-]+")
#: Names Windows will not create, whatever the extension (an export may be copied there).
_RESERVED_FOLDERS = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                               *(f"lpt{i}" for i in range(1, 10))})


class LabelError(ValueError):
    """A label that cannot be shown, stored or made into a folder safely."""


def check_label(label: object) -> str:
    """`label` if it is a usable label; else a LabelError saying why (the label shown escaped)."""
    if not isinstance(label, str):
        raise LabelError(f"a label must be text, got {type(label).__name__}")
    if not label.strip():
        raise LabelError("a label cannot be empty or blank")
    if len(label) > MAX_LABEL_LENGTH:
        raise LabelError(f"label {label[:20]!r}… is {len(label)} characters long "
                         f"(at most {MAX_LABEL_LENGTH})")
    if label != label.strip():
        raise LabelError(f"label {label!r} starts or ends with white space")
    if not label.isprintable():
        # control characters, bidi overrides and isolates, zero-width characters, other separators:
        # what would turn text around or hide in it wherever the label is shown
        raise LabelError(f"label {label!r} holds control or invisible formatting characters")
    if "/" in label or "\\" in label or not label.strip("."):
        raise LabelError(f"label {label!r} looks like a path (no '/', '\\', '.' or '..')")
    return label


def folder_name(label: str) -> str:
    """The folder a label's images are kept in: `label` itself when that is safe, else a cleaned copy.

    Letters and digits (of any script), `_`, `.` and `-` are kept, any other run becomes `_`; a
    leading `.` (hidden) or `_` (the trainer's "not a class") is dropped; never empty, `.`, `..`
    or a name Windows reserves. Two labels may clean to the same name: `check_labels` refuses that
    within a manifest, and `unique_folders` tells them apart across manifests.
    """
    name = _FOLDER_UNSAFE.sub("_", unicodedata.normalize("NFC", label)).strip("._")[:MAX_FOLDER_LENGTH]
    name = name.rstrip(".") or "label"
    if name.split(".", 1)[0].casefold() in _RESERVED_FOLDERS:
        name = f"{name}_"
    return name


def check_labels(labels: Sequence[object]) -> list[str]:
    """Every label valid, and no two the same or sharing a folder (case-insensitively)."""
    checked = [check_label(label) for label in labels]
    seen: dict[str, str] = {}
    for label in checked:
        key = folder_name(label).casefold()
        if key in seen:
            raise LabelError(f"labels {seen[key]!r} and {label!r} would share the folder "
                             f"{folder_name(label)!r}")
        seen[key] = label
    return checked


def unique_folders(wanted: Iterable[tuple[str, str]], taken: Iterable[str] = ()) -> dict[str, str]:
    """label -> folder for (label, preferred folder) pairs: each folder safe and distinct from the
    others and from `taken`, case-insensitively (the preferred one cleaned by `folder_name`, then
    `-2`, `-3`… on a clash), in the pairs' order."""
    used = {name.casefold() for name in taken}
    out: dict[str, str] = {}
    for label, preferred in wanted:
        base = folder_name(preferred)
        name, n = base, 1
        while name.casefold() in used:
            n += 1
            name = f"{base[:MAX_FOLDER_LENGTH - 4]}-{n}"
        used.add(name.casefold())
        out[label] = name
    return out
