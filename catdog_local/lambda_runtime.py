"""The Lambda runtime, locally: import `functions/classify/app.py` as Lambda does and call it.

Lambda imports the handler file as a top-level module named `app` with the layer's `catdog`
package on the path; doing the same here (instead of importing it as part of a package) means
local runs exercise the exact module that ships, including its module-level state. The function's
environment comes from the template and is applied BEFORE the import, because the handler, like
any Powertools function, reads its configuration at import time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from catdog.json_text import json_object
from catdog_local.resources import HANDLER_FILE as FUNCTION_FILE

#: A Lambda handler: `handler(event, context) -> response`.
Handler = Callable[[dict[str, Any], Any], Any]


def load_module(path: str | Path = FUNCTION_FILE, module_name: str = "app") -> ModuleType:
    """Import the handler file as a fresh module (a new "container": cold start, empty caches)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"handler file not found: {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    _reset_powertools_cold_start()
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as Lambda's runtime does
    spec.loader.exec_module(module)
    return module


def _reset_powertools_cold_start() -> None:
    """Powertools tracks "cold start" per process; a freshly loaded handler is a new container."""
    metrics_flag = sys.modules.get("aws_lambda_powertools.metrics.provider.cold_start")
    if metrics_flag is not None:
        metrics_flag.reset_cold_start_flag()
    logger_module: Any = sys.modules.get("aws_lambda_powertools.logging.logger")  # a module-level flag
    if logger_module is not None and hasattr(logger_module, "is_cold_start"):
        logger_module.is_cold_start = True


def load_handler(path: str | Path = FUNCTION_FILE, attribute: str = "handler") -> Handler:
    return getattr(load_module(path), attribute)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and the handler read."""

    function_name: str = "catdog-classify"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    timeout_s: float = 60.0
    region: str = "us-east-1"
    account: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/catdog-classify"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


def apply_function_environment(variables: Mapping[str, str]) -> None:
    """Set the function's variables; anything the user exported already wins (like `--env-vars`)."""
    for name, value in variables.items():
        os.environ.setdefault(name, str(value))


def load_env_vars_file(path: str | Path, function_id: str = "ClassifyFunction") -> dict[str, str]:
    """SAM's `--env-vars` format: `{"ClassifyFunction": {...}}`, `{"Parameters": {...}}` or flat."""
    data = json_object(Path(path).read_text(), str(path), expected="a JSON object of variables")
    for key in (function_id, "Parameters"):
        if isinstance(data.get(key), dict):
            data = data[key]
            break
    return {k: str(v) for k, v in data.items() if not isinstance(v, dict)}


def prepare_handler(variables: Mapping[str, str]) -> tuple[Handler, Callable[[], Any]]:
    """(handler, context factory): a fresh "container", with the function environment in place first."""
    apply_function_environment(variables)
    return load_handler(), LambdaContext


def invoke(event: dict[str, Any], variables: Mapping[str, str]) -> Any:
    """Like `sam local invoke`: the function's own output (logs, EMF metrics) goes to stderr, so
    stdout carries only the response. The import happens inside the redirect because Powertools'
    Logger binds its stream when the module is imported."""
    with contextlib.redirect_stdout(sys.stderr):
        handler, context = prepare_handler(variables)
        return handler(event, context())
