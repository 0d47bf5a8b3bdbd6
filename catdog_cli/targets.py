"""How a command finds the bucket, queue or table it works on: flag > environment variable > the
state file `catdog local up` wrote (which also points boto3 at that local endpoint)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from catdog.errors import CatdogError
from catdog_local.moto_server import apply_endpoint_env
from catdog_local.state import LocalState

#: Environment variables that name a deployed (or local) stack's resources.
ENV_BUCKET = "CATDOG_BUCKET"
ENV_QUEUE_URL = "CATDOG_QUEUE_URL"
ENV_TABLE = "CATDOG_TABLE"


@dataclass(frozen=True)
class Target:
    """Where a command reads or writes: one resource name plus the stack state it came from."""

    name: str
    state: LocalState | None


def resolve_name(flag: str | None, env_var: str, field: str, what: str) -> Target:
    """flag > $env_var > the local state file. Using the state file also points boto3 at its endpoint
    (unless AWS_ENDPOINT_URL is already set), so `catdog upload` after `catdog local up` never
    reaches real AWS by accident."""
    if flag:
        return Target(flag, None)
    if os.environ.get(env_var):
        return Target(os.environ[env_var], None)
    try:
        state = LocalState.load()
    except CatdogError as exc:
        raise CatdogError(f"which {what}? pass it explicitly, set ${env_var}, or {exc}") from None
    use_state_endpoint(state)
    return Target(str(getattr(state, field)), state)


def use_state_endpoint(state: LocalState) -> None:
    if not os.environ.get("AWS_ENDPOINT_URL"):
        apply_endpoint_env(state.endpoint, state.region)


def region_of(state: LocalState | None) -> str:
    import boto3

    if state is not None:
        return state.region
    return boto3.session.Session().region_name or "us-east-1"


def client(service: str, **kw: Any) -> Any:
    """A boto3 client; created after the endpoint environment is settled."""
    import boto3

    return boto3.client(service, **kw)
