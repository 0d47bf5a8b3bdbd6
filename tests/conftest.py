"""Fixtures every test layer shares. Helpers live in `tests/support/`, not here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import DATA_ZIP


@pytest.fixture(scope="session")
def data_zip() -> Path:
    if not DATA_ZIP.exists():
        pytest.fail(f"the data set is missing: {DATA_ZIP} (see ../shared/README.md)")
    return DATA_ZIP
