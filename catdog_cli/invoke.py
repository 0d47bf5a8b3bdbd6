"""`catdog invoke`: read an event (file or stdin) for the in-process handler, like `sam local invoke -e`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def read_event(path: str | Path) -> dict[str, Any]:
    text = sys.stdin.read() if str(path) == "-" else Path(path).read_text()
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON event ({exc})") from None
    if not isinstance(event, dict):
        raise ValueError(f"{path}: an event must be a JSON object")
    return event
