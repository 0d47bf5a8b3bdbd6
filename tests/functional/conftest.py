"""Moto fixtures shared by the functional tests: one in-process AWS with the template's stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from catdog_local.provision import Stack, provision

REGION = "eu-west-1"


@pytest.fixture
def aws_region() -> str:
    """Not us-east-1, AWS's default: a region taken from the wrong place shows up here."""
    return REGION


@pytest.fixture
def stack(aws_env: str) -> Iterator[Stack]:
    """The bucket, queues and table of template.yaml, created in moto."""
    with mock_aws():
        yield provision(stack_name="t", region=aws_env)
