"""Who is acting: recorded with a review (`reviewed_by`) and with every change of the live model."""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from typing import Any

import boto3

log = logging.getLogger(__name__)


def caller_identity(explicit: str | None = None, sts: Callable[[], Any] | None = None) -> str:
    """`explicit` (a flag), else the caller's AWS identity (its ARN), else the local user name."""
    if explicit:
        return explicit
    try:
        client = sts() if sts else boto3.client("sts")
        return str(client.get_caller_identity()["Arn"])
    except Exception as exc:  # no STS (offline, a local endpoint without it): a name is still useful
        log.debug("no AWS identity (%s); using the local user name", exc)
        return getpass.getuser()
