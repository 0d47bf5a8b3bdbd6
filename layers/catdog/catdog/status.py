"""The `status` an item of the results table carries: the one definition of those strings."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    CLASSIFIED = "classified"  # a label (or `unknown`) from the live model
    FAILED = "failed"  # the input's fault (not an image, too large, corrupt...): `reason` + `error`
    DELETED = "deleted"  # a tombstone: the object was removed
