"""catdog.tracing: Powertools' Tracer only where the X-Ray SDK is, a no-op stand-in elsewhere."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from catdog import tracing


def test_the_stand_in_decorators_return_the_function_itself() -> None:
    no = tracing.NoTracer()

    def handler(event: Any, context: Any) -> str:
        return "ok"

    assert no.capture_lambda_handler(handler) is handler
    assert no.capture_lambda_handler(capture_response=False)(handler) is handler
    assert no.capture_method(handler) is handler
    assert no.capture_method(capture_response=False)(handler) is handler
    assert no.put_annotation("model_version", "v1") is None
    assert handler(None, None) == "ok"


def test_without_the_sdk_the_tracer_is_the_stand_in(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(tracing, "xray_sdk_installed", lambda: False)
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    with caplog.at_level(logging.WARNING, logger="catdog.tracing"):
        assert isinstance(tracing.tracer(), tracing.NoTracer)
    assert caplog.records == [], "tracing was not asked for: nothing to warn about"


def test_tracing_asked_for_without_the_sdk_is_named_not_fatal(monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Input: POWERTOOLS_TRACE_DISABLED=false (the template's Tracing=Active) but no xray layer."""
    monkeypatch.setattr(tracing, "xray_sdk_installed", lambda: False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    with caplog.at_level(logging.WARNING, logger="catdog.tracing"):
        assert isinstance(tracing.tracer(), tracing.NoTracer)
    assert "Tracing=Active" in caplog.text and "X-Ray SDK is not installed" in caplog.text


def test_with_the_sdk_it_is_powertools_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    import aws_xray_sdk  # noqa: F401  (.venv has it: constraints.txt, for Tracing=Active's path)
    from aws_lambda_powertools import Tracer

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert isinstance(tracing.tracer(), Tracer)
