"""Moto fixtures shared by the functional tests: one in-process AWS with the template's stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from catdog_local.provision import Stack, provision

REGION = "eu-west-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no endpoint override, so boto3 can only reach moto."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def stack(aws_env: None) -> Iterator[Stack]:
    """The bucket, queues and table of template.yaml, created in moto."""
    with mock_aws():
        yield provision(stack_name="t", region=REGION)
