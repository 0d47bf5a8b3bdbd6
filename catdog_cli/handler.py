"""Load `functions/classify/app.py` the way Lambda does, for the local worker, `catdog invoke` and tests.

Lambda imports the handler file as a top-level module named `app` with the layer's `catdog`
package on the path; doing the same here (instead of importing it as part of this package)
means local runs exercise the exact module that ships, including its module-level state.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

FUNCTION_FILE = Path(__file__).resolve().parent.parent / "functions" / "classify" / "app.py"

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
    logger_module = sys.modules.get("aws_lambda_powertools.logging.logger")
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
