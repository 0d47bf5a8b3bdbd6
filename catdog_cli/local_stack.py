"""Glue between `provision.Stack` (what the template created) and the commands that use it.

The worker copies the template's SQS event source (batch size, batching window) and the function
environment from the Stack; every other command finds bucket/queue/table names here, in the order
flag > environment variable > the state file `catdog local up` wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from catdog.errors import CatdogError
from catdog_cli.local_aws import apply_endpoint_env
from catdog_cli.local_state import LocalState

if TYPE_CHECKING:
    from catdog_cli.provision import Stack

#: Environment variables that name a deployed (or local) stack's resources.
ENV_BUCKET = "CATDOG_BUCKET"
ENV_QUEUE_URL = "CATDOG_QUEUE_URL"
ENV_TABLE = "CATDOG_TABLE"


def event_source_settings(stack: Stack) -> tuple[int, float]:
    """(BatchSize, MaximumBatchingWindowInSeconds) of the function's SQS event, as the template says."""
    props = stack.template["Resources"][stack.function_id].get("Properties", {})
    for event in (props.get("Events") or {}).values():
        if event.get("Type") == "SQS":
            resolved = stack.resolver.resolve(event.get("Properties", {}))
            window = float(resolved.get("MaximumBatchingWindowInSeconds", 0))
            return int(resolved.get("BatchSize", 10)), window
    return 10, 0.0


def state_from_stack(stack: Stack, endpoint: str) -> LocalState:
    batch_size, window = event_source_settings(stack)
    return LocalState(
        endpoint=endpoint,
        region=stack.region,
        bucket=stack.bucket,
        queue_url=stack.queue_url,
        queue_arn=stack.queue_arn,
        dlq_url=stack.dlq_url,
        table=stack.table,
        max_receive_count=stack.max_receive_count,
        visibility_timeout=stack.visibility_timeout,
        function_environment=stack.function_environment(),
        batch_size=batch_size,
        batching_window_s=window,
        pid=os.getpid(),
    )


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
