"""Run the classify handler in this process, as Lambda would: `catdog invoke` and the local worker.

The function's environment comes from the template (via the local state file) so the handler reads
the same variables here as on AWS; it is applied BEFORE the handler module is imported because the
handler, like any Powertools function, reads its configuration at import time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


def apply_function_environment(variables: Mapping[str, str]) -> None:
    """Set the function's variables; anything the user exported already wins (like `--env-vars`)."""
    for name, value in variables.items():
        os.environ.setdefault(name, str(value))


def load_env_vars_file(path: str | Path, function_id: str = "ClassifyFunction") -> dict[str, str]:
    """SAM's `--env-vars` format: `{"ClassifyFunction": {...}}`, `{"Parameters": {...}}` or flat."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of variables")
    for key in (function_id, "Parameters"):
        if isinstance(data.get(key), dict):
            data = data[key]
            break
    return {k: str(v) for k, v in data.items() if not isinstance(v, dict)}


def prepare_handler(variables: Mapping[str, str]) -> tuple[Handler, Callable[[], Any]]:
    """(handler, context factory), with the function environment in place before the import."""
    apply_function_environment(variables)
    from catdog_cli.handler import LambdaContext, load_handler

    return load_handler(), LambdaContext


def read_event(path: str | Path) -> dict[str, Any]:
    text = sys.stdin.read() if str(path) == "-" else Path(path).read_text()
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON event ({exc})") from None
    if not isinstance(event, dict):
        raise ValueError(f"{path}: an event must be a JSON object")
    return event


def invoke(event: dict[str, Any], variables: Mapping[str, str]) -> Any:
    """Like `sam local invoke`: the function's own output (logs, EMF metrics) goes to stderr, so
    stdout carries only the response. The import happens inside the redirect because Powertools'
    Logger binds its stream when the module is imported."""
    with contextlib.redirect_stdout(sys.stderr):
        handler, context = prepare_handler(variables)
        return handler(event, context())
