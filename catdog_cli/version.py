"""`catdog --version`: the installed package, and the model the stack in reach is serving.

Which stack: `$CATDOG_BUCKET` (with whatever endpoint boto3 would use), else a running
`catdog local up` (its state file). Neither: only the package version. The look-up is one GET of
the pointer with short timeouts and no retries, and every failure becomes a word in the output,
so `--version` is quick and never fails.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

import boto3
from botocore.config import Config

from catdog.aws_errors import is_not_found
from catdog.config import DEFAULT_MODEL_KEY
from catdog.manifest import ModelPointer
from catdog_cli.targets import ENV_BUCKET
from catdog_local.moto_server import DUMMY_CREDENTIALS
from catdog_local.state import StackError, find_stack

#: Seconds: `--version` must answer promptly even when the endpoint is a dead local server.
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0


def package_version() -> str:
    try:
        return dist_version("catdog")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


@dataclass(frozen=True)
class LiveModelSource:
    """Where the pointer of a reachable stack lives, and how to reach it."""

    bucket: str
    key: str = DEFAULT_MODEL_KEY
    endpoint: str | None = None
    region: str | None = None
    local: bool = False

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def live_model_source(environ: dict[str, str] | None = None) -> LiveModelSource | None:
    """`$CATDOG_BUCKET` > the running local stack (`$CATDOG_STACK`, or the only one) > nothing."""
    env = dict(os.environ) if environ is None else environ
    if env.get(ENV_BUCKET):
        return LiveModelSource(bucket=env[ENV_BUCKET], endpoint=env.get("AWS_ENDPOINT_URL") or None)
    try:
        state = find_stack(env.get("CATDOG_STACK"))
    except StackError:
        return None
    endpoint = env.get("AWS_ENDPOINT_URL") or state.endpoint
    return LiveModelSource(bucket=state.bucket, key=state.model_key, endpoint=endpoint, region=state.region,
                           local=True)


def _s3_client(source: LiveModelSource) -> Any:
    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                    retries={"max_attempts": 1, "mode": "standard"})
    kwargs: dict[str, Any] = {"config": config, "endpoint_url": source.endpoint, "region_name": source.region}
    if source.local and not os.environ.get("AWS_ACCESS_KEY_ID"):
        kwargs.update(aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    return boto3.client("s3", **kwargs)


def live_model_line(source: LiveModelSource, s3: Any = None) -> str:
    """`model <version> (<pointer uri>)`, or why there is none; never raises."""
    try:
        client = s3 if s3 is not None else _s3_client(source)
        body = client.get_object(Bucket=source.bucket, Key=source.key)["Body"].read()
        pointer = ModelPointer.from_json(body, where=source.uri)
    except Exception as exc:  # --version never fails: say what happened instead
        if is_not_found(exc):
            return f"model none published ({source.uri})"
        return f"model unknown ({source.uri} unreachable: {type(exc).__name__})"
    return f"model {pointer.version} ({source.uri})"


def version_text() -> str:
    lines = [f"catdog {package_version()}"]
    source = live_model_source()
    if source is not None:
        lines.append(live_model_line(source))
    return "\n".join(lines)
