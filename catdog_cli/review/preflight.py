"""Before anything reads the results table and the bucket for a person: are they there, and readable?

`catdog review`, `report` and `dataset export` run with the caller's own credentials against names
that may be mistyped or a stack deployed before the review indexes existed: each says so in one
line before any page is served or file written.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from catdog.errors import CatdogError
from catdog_cli.review.views import REQUIRED_INDEXES


def aws_message(exc: Exception) -> str:
    """`Code: Message` of an AWS error, else the exception's type and text: one line for a person."""
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    if error:
        return f"{error.get('Code', '')}: {error.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}"


def preflight(ddb: Any, s3: Any, table: str, bucket: str) -> None:
    """A missing table, index or bucket is a one-line error before any page is served."""
    try:
        described = ddb.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if "ResourceNotFound" in aws_message(exc):
            raise CatdogError(f"no results table {table!r} here (pass --table, set CATDOG_TABLE, or start "
                              "`catdog local up`)") from None
        raise CatdogError(f"cannot read the results table {table!r}: {aws_message(exc)}") from None
    except BotoCoreError as exc:
        raise CatdogError(f"cannot reach DynamoDB for table {table!r}: {exc}") from None
    present = {g["IndexName"] for g in described.get("GlobalSecondaryIndexes", [])}
    missing = [name for name in REQUIRED_INDEXES if name not in present]
    if missing:
        raise CatdogError(f"table {table!r} has no {', '.join(missing)}: deploy the current template "
                          "(docs/deploying.md, 'Upgrading a stack deployed before the review indexes')")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        raise CatdogError(f"cannot read bucket {bucket!r}: {aws_message(exc)}") from None
    except BotoCoreError as exc:
        raise CatdogError(f"cannot reach S3 for bucket {bucket!r}: {exc}") from None
