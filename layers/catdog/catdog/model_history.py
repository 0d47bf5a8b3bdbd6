"""Every change of the live model, kept: one object per change under `models/history/`, never rewritten.

`models/latest.json` says only what is live now; to put the previous model back after a bad
release you need what was live before, exactly (the same version, the same sha256 the gate
checked). So `publish`, `catdog models promote` and `catdog models rollback` each move the pointer
and then append `models/history/<UTC time>-<version>.json` with the pointer they wrote. Replaying
that history like a stack (publish and promote push, rollback pops) gives the version a rollback
returns to: rolling back twice from v3 goes to v2, then v1.

The pointer moves first: if the history write then fails, the live model is still right, and a
rollback from a live version that has no history entry (set by hand, or before history existed)
goes back to the last version the history knows.

Anything else under `models/history/` (a stray file, a hand-edited entry that no longer parses) is
skipped with a warning naming it: one foreign object must not block every rollback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from catdog.errors import CatdogError, ManifestError
from catdog.json_text import json_object
from catdog.manifest import ModelPointer
from catdog.model_integrity import read_verified
from catdog.model_repo import ModelRepo

log = logging.getLogger(__name__)

HISTORY_FOLDER = "history"
ACTIONS = ("publish", "promote", "rollback")
#: Folder names under `models/` that are not model versions.
RESERVED_VERSIONS = frozenset({HISTORY_FOLDER})


@dataclass(frozen=True)
class PointerChange:
    """One move of `latest.json`: when, how, the pointer written, and the version it replaced."""

    at: str  # ISO-8601 UTC with microseconds: string order is time order
    action: str
    pointer: ModelPointer
    previous: str | None = None
    by: str = ""
    key: str = ""  # where it is stored (not part of the object)

    def to_json(self) -> str:
        return json.dumps({"at": self.at, "action": self.action, "previous": self.previous, "by": self.by,
                           "pointer": json.loads(self.pointer.to_json())}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes, where: str) -> PointerChange:
        data = json_object(raw, where, error=ManifestError, expected="a pointer change (a JSON object)")
        if data.get("action") not in ACTIONS or not isinstance(data.get("at"), str):
            raise ManifestError(f"{where}: not a pointer change (needs 'at', 'action' and 'pointer')")
        pointer = ModelPointer.from_json(json.dumps(data.get("pointer")), where=where)
        previous = data.get("previous")
        return cls(at=data["at"], action=data["action"], pointer=pointer,
                   previous=previous if isinstance(previous, str) else None, by=str(data.get("by") or ""),
                   key=where)


def history_prefix(repo: ModelRepo) -> str:
    return f"{repo.prefix}{HISTORY_FOLDER}/"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def record_change(repo: ModelRepo, pointer: ModelPointer, action: str, previous: str | None,
                  by: str = "") -> PointerChange:
    """Append one change to the history (a new object; nothing is ever overwritten)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown pointer change {action!r}")
    at = _now()
    key = f"{history_prefix(repo)}{at}-{pointer.version}.json"
    change = PointerChange(at=at, action=action, pointer=pointer, previous=previous, by=by, key=key)
    repo.s3.put_object(Bucket=repo.bucket, Key=key, Body=change.to_json().encode(),
                       ContentType="application/json")
    return change


def read_history(repo: ModelRepo, warn: Callable[[str], None] | None = None) -> list[PointerChange]:
    """Every recorded change, oldest first; what is not one is skipped with a warning (`warn`, else
    the log)."""
    warn = warn or log.warning
    prefix = history_prefix(repo)
    keys = [obj["Key"] for page in repo.s3.get_paginator("list_objects_v2").paginate(Bucket=repo.bucket,
                                                                                      Prefix=prefix)
            for obj in page.get("Contents", [])]
    changes = []
    for key in keys:
        if not key.endswith(".json") or "/" in key[len(prefix):]:
            warn(f"skipped {repo.uri(key)}: not a history entry (models/history/<time>-<version>.json)")
            continue
        try:
            changes.append(PointerChange.from_json(repo.read(key), where=repo.uri(key)))
        except ManifestError as exc:
            warn(f"skipped {exc}")
    return sorted(changes, key=lambda c: (c.at, c.key))


def vouching_pointer(changes: list[PointerChange], version: str) -> PointerChange | None:
    """The newest change that made `version` live with the sha256 of every file: what that version's
    files must still match (promote and the review tools check them against it)."""
    for change in reversed(changes):
        if change.pointer.version == version and change.pointer.checksums:
            return change
    return None


def check_as_vouched(repo: ModelRepo, version: str, changes: list[PointerChange]) -> None:
    """A version that was live before must still be byte for byte what the newest history entry
    that made it live vouched for (every file, manifest.json included): an `IntegrityError` naming
    the file that is not. Nothing to check for a version that was never live."""
    vouched = vouching_pointer(changes, version)
    if vouched is not None:
        read_verified(repo.s3, repo.bucket, vouched.pointer, every_file=True, vouched_by=vouched.key)


def live_stack(changes: list[PointerChange]) -> list[ModelPointer]:
    """The pointers that were live, in order, with every rollback undoing the change before it."""
    stack: list[ModelPointer] = []
    for change in changes:
        if change.action == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1].version != change.pointer.version:
                stack.append(change.pointer)  # a history with gaps: trust what was written
        else:
            stack.append(change.pointer)
    return stack


def rollback_target(changes: list[PointerChange], live: ModelPointer | None) -> ModelPointer:
    """The pointer a rollback restores: the live one's predecessor in the history."""
    if live is None:
        raise CatdogError("no model is live (no models/latest.json): nothing to roll back")
    stack = live_stack(changes)
    if stack and stack[-1].version == live.version:
        stack.pop()
    while stack and stack[-1].version == live.version:
        stack.pop()  # the same version promoted twice in a row: go further back
    if not stack:
        raise CatdogError(f"no version was live before {live.version} in models/history/ (it records "
                          "publish, promote and rollback from now on); put one back with "
                          "`catdog models promote VERSION`")
    return stack[-1]
