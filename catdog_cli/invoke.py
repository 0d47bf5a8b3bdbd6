"""`catdog invoke`: read an event (file or stdin) for the in-process handler, like `sam local invoke -e`,
and say plainly when the handler had nothing to classify because every object was gone."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: Keys of the direct-invoke response that are not outcome counts.
NOT_COUNTS = ("model_version", "ignored")


def read_event(path: str | Path) -> dict[str, Any]:
    from catdog_local.resources import event_file

    text = sys.stdin.read() if str(path) == "-" else event_file(path).read_text()
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON event ({exc})") from None
    if not isinstance(event, dict):
        raise ValueError(f"{path}: an event must be a JSON object")
    return event


def all_gone(response: Any) -> int:
    """N when a direct S3 invoke's response counts only `gone` objects (`{"model_version": …,
    "gone": N}`: every key in the event was missing), else 0. SQS batches answer with
    `batchItemFailures` only, so they never count here."""
    if not isinstance(response, dict):
        return 0
    counts = {k: v for k, v in response.items() if k not in NOT_COUNTS and isinstance(v, int)}
    gone = counts.get("gone", 0)
    return gone if gone and gone == sum(counts.values()) else 0


def all_gone_message(gone: int) -> str:
    objects = "the object in the event no longer exists" if gone == 1 else \
        f"none of the {gone} objects in the event exists any more"
    return (f"catdog invoke: {objects}: nothing was classified "
            "(make an event for an object that exists: catdog event s3-put KEY)")
