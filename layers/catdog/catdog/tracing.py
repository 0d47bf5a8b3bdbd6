"""Powertools' Tracer when the X-Ray SDK is installed, else a stand-in with the same decorators.

The X-Ray SDK (`aws-xray-sdk`, end of support 2027-02-25) is not in the catdog layer: it is the
xray layer's, which the template attaches only when its `Tracing` parameter is `Active`. Powertools'
Logger, Metrics and batch utilities never touch it, but its `Tracer` imports it as soon as one is
built, even a disabled one; so the function's modules ask `tracer()` for theirs, and without the SDK
they get `NoTracer`, whose decorators return the function unchanged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Powertools' own switch; the template sets it from the Tracing parameter.
TRACE_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"


def xray_sdk_installed() -> bool:
    return importlib.util.find_spec("aws_xray_sdk") is not None


class NoTracer:
    """What the function uses of Powertools' Tracer, recording nothing (no X-Ray SDK here)."""

    disabled = True

    @overload
    def capture_lambda_handler(self, lambda_handler: F, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> F: ...

    @overload
    def capture_lambda_handler(self, lambda_handler: None = None, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> Callable[[F], F]: ...

    def capture_lambda_handler(self, lambda_handler: F | None = None, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> F | Callable[[F], F]:
        return lambda_handler if lambda_handler is not None else _unchanged

    @overload
    def capture_method(self, method: F, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> F: ...

    @overload
    def capture_method(self, method: None = None, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> Callable[[F], F]: ...

    def capture_method(self, method: F | None = None, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> F | Callable[[F], F]:
        return method if method is not None else _unchanged

    def put_annotation(self, key: str, value: str | float | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        return None


def _unchanged(function: F) -> F:
    return function


def tracer() -> Tracer | NoTracer:
    """A module-level tracer: Powertools' when the SDK is there (it then follows its own settings,
    POWERTOOLS_TRACE_DISABLED included), `NoTracer` when it is not."""
    if xray_sdk_installed():
        from aws_lambda_powertools import Tracer

        return Tracer()
    if os.environ.get(TRACE_DISABLED_ENV, "").strip().lower() == "false":
        log.warning("%s=false asks for X-Ray subsegments, but the X-Ray SDK is not installed: deploy with "
                    "Tracing=Active, which adds the xray layer; tracing nothing", TRACE_DISABLED_ENV)
    return NoTracer()
