"""Headless Chromium for the page tests: Debian's browser driven by the Python `playwright` package.

Playwright's own browser download is not used (the package registries are the only network here);
`.ci/run` installs Debian's `chromium` with apt, so in CI (CI=true) a missing browser is a failure,
and anywhere else the tests skip with a message naming what is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("CATDOG_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing() -> str | None:
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CATDOG_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (make install)"
    return None


def require_browser() -> None:
    why = _missing()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {why}; .ci/run installs it")
    pytest.skip(f"browser tests skipped: {why}")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (playwright `Browser`) for the block."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
