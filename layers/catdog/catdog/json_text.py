"""Text that must be one JSON object (a manifest, a pointer, an event, a state file), read one way.

Two things can be wrong with it and each gets its own one-line error naming the file: it is not
JSON at all, or it is JSON but not an object. The caller says which exception its users expect.
"""

from __future__ import annotations

import json
from typing import Any


def json_object(text: str | bytes, where: str, *, error: type[Exception] = ValueError,
                expected: str = "a JSON object") -> dict[str, Any]:
    """`text` parsed; `error("{where}: ...")` when it is not valid JSON or not an object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{where}: expected {expected}")
    return data
