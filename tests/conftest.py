"""Fixtures every test layer shares. Helpers live in `tests/support/`, not here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.aws import fake_aws_env
from tests.support.paths import DATA_ZIP


@pytest.fixture(scope="session")
def data_zip() -> Path:
    if not DATA_ZIP.exists():
        pytest.fail(f"the data set is missing: {DATA_ZIP} (see ../shared/README.md)")
    return DATA_ZIP


@pytest.fixture
def aws_region() -> str:
    """The region fake AWS runs in; tests/functional makes it eu-west-1 (code must not assume
    us-east-1), and a module whose buckets are made without a location constraint keeps us-east-1."""
    return "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, aws_region: str) -> str:
    """Fake credentials and `aws_region`, no endpoint override: boto3 can reach only moto."""
    fake_aws_env(monkeypatch, aws_region)
    return aws_region
