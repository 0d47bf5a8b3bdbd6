"""How every command finds what it works on: one rule, in one place.

A name given as a flag or an environment variable (`--bucket`/`$CATDOG_BUCKET`, `--table`/
`$CATDOG_TABLE`, `--queue-url`/`$CATDOG_QUEUE_URL`, or the bucket of an `s3://` argument) is used as
given; if it belongs to a running local stack, boto3 is pointed at that stack's endpoint, otherwise
at AWS as configured (profile, region, `AWS_ENDPOINT_URL`). With no name, the names come from the
local stack the command means: `--stack NAME` / `$CATDOG_STACK`, else the only one running, else the
one named `catdog` (see `catdog_local.state`). So `catdog publish build/model` right after
`catdog local up` needs no exports, and a local upload can never reach real AWS by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from catdog.s3uri import S3Uri, is_s3
from catdog_local.moto_server import apply_endpoint_env
from catdog_local.state import LocalState, StackError, find_stack, stack_owning

if TYPE_CHECKING:
    from catdog.model_repo import ModelRepo

#: Environment variables that name a deployed (or local) stack's resources.
ENV_BUCKET = "CATDOG_BUCKET"
ENV_QUEUE_URL = "CATDOG_QUEUE_URL"
ENV_TABLE = "CATDOG_TABLE"
_FIELD_ARG = {"bucket": "bucket", "table": "table", "queue_url": "queue_url"}


@dataclass(frozen=True)
class Target:
    """Where a command reads or writes: one resource name plus the local stack it belongs to (if any)."""

    name: str
    state: LocalState | None


def connect(state: LocalState | None) -> LocalState | None:
    """Point this process's boto3 at `state`'s endpoint (nothing to do for a deployed stack)."""
    if state is not None:
        apply_endpoint_env(state.endpoint, state.region)
    return state


def stack_named(stack: str | None) -> LocalState | None:
    """`--stack NAME` / `$CATDOG_STACK` when given (it must be running), else None."""
    name = stack or os.environ.get("CATDOG_STACK")
    return find_stack(name) if name else None


def resolve_name(flag: str | None, env_var: str, field: str, what: str, stack: str | None = None) -> Target:
    """flag > $env_var > the local stack's own name for it (see the module docstring)."""
    given = flag or os.environ.get(env_var) or None
    chosen = stack_named(stack)
    if given:
        owner = chosen if chosen is not None and chosen.owns(**{_FIELD_ARG[field]: given}) else (
            stack_owning(**{_FIELD_ARG[field]: given}))
        return Target(given, connect(owner))
    try:
        state = chosen or find_stack()
    except StackError as exc:
        raise StackError(f"which {what}? {exc}; for a deployed stack pass --{what.replace(' ', '-')} "
                         f"or set ${env_var}") from None
    connect(state)
    return Target(str(getattr(state, field)), state)


def table_and_bucket(table: str | None, bucket: str | None, stack: str | None = None) -> tuple[str, str]:
    """(results table, bucket) for the commands that read both: each by flag > environment > stack."""
    return (resolve_name(table, ENV_TABLE, "table", "table", stack).name,
            resolve_name(bucket, ENV_BUCKET, "bucket", "bucket", stack).name)


def connect_for_uri(uri: str | None, stack: str | None = None) -> LocalState | None:
    """Before a command reads or writes `s3://bucket/...`: the local stack that has that bucket, if
    any, becomes boto3's endpoint (`catdog publish build/model s3://<local bucket>/models/`)."""
    if not uri or not is_s3(uri):
        return None
    bucket = S3Uri.parse(uri).bucket
    chosen = stack_named(stack)
    if chosen is not None and chosen.bucket == bucket:
        return connect(chosen)
    return connect(stack_owning(bucket=bucket))


def models_uri(dest: str | None, stack: str | None = None) -> str:
    """Where models are published: `dest` as given, else the local stack's `s3://bucket/models/`."""
    if dest:
        connect_for_uri(dest, stack)
        return dest
    state = connect(stack_named(stack) or find_stack())
    assert state is not None
    return state.models_uri


def models_repo(bucket: str | None, stack: str | None = None) -> tuple[ModelRepo, Target]:
    """The published models of `--bucket` / `$CATDOG_BUCKET` / the local stack's bucket."""
    from catdog.model_repo import ModelRepo  # (it loads LiteRT's wrapper and numpy: only when used)

    target = resolve_name(bucket, ENV_BUCKET, "bucket", "bucket", stack)
    return ModelRepo(boto3.client("s3"), target.name), target


def region_of(state: LocalState | None) -> str:
    if state is not None:
        return state.region
    return boto3.session.Session().region_name or "us-east-1"


def client(service: str, **kw: Any) -> Any:
    """A boto3 client; created after the endpoint environment is settled."""
    return boto3.client(service, **kw)
