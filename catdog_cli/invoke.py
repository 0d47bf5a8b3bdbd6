"""`catdog invoke`: read an event (file or stdin) for the in-process handler, like `sam local invoke -e`,
and say plainly when the handler had nothing to classify because every object was gone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from catdog.json_text import json_object
from catdog.plural import plural
from catdog_cli import exit_codes
from catdog_cli.display import safe_json
from catdog_cli.targets import connect
from catdog_local.lambda_runtime import invoke, load_env_vars_file
from catdog_local.resources import event_file
from catdog_local.state import StackError, find_stack

#: Keys of the direct-invoke response that are not outcome counts.
NOT_COUNTS = ("model_version", "ignored")


def run(event_path: str, *, env_vars: str | None, use_local_stack: bool, stack: str | None) -> int:
    """Invoke the handler with the local stack's function environment (unless `use_local_stack` is
    False), then `env_vars` (SAM's format) over it; the response on stdout."""
    event = read_event(event_path)
    variables: dict[str, str] = {}
    if use_local_stack:
        try:
            state = connect(find_stack(stack))
        except StackError as exc:
            if not env_vars:
                raise StackError(f"{exc}; or give the function's environment with --env-vars FILE "
                                 "(SAM's format) and use --no-local to invoke against AWS") from None
        else:
            assert state is not None
            variables.update(state.function_environment)
    if env_vars:
        variables.update(load_env_vars_file(event_file(env_vars)))
    response = invoke(event, variables)
    print(safe_json(response, indent=2, default=str))
    if gone := all_gone(response):  # the handler did its job (exit 0), but the user should know
        print(all_gone_message(gone), file=sys.stderr)
    return exit_codes.OK


def read_event(path: str | Path) -> dict[str, Any]:
    text = sys.stdin.read() if str(path) == "-" else event_file(path).read_text()
    return json_object(text, str(path), expected="an event (a JSON object)")


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
        f"none of the {plural(gone, 'object')} in the event exists any more"
    return (f"catdog invoke: {objects}: nothing was classified "
            "(make an event for an object that exists: catdog event s3-put KEY)")
