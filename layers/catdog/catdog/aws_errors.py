"""What an AWS error says, asked in one place.

boto3's `ClientError` carries the service's code in `response["Error"]["Code"]`; a HEAD, which has
no body, carries only the bare HTTP status ("404", "400"). Every module that tells "the object is
not there" from "something went wrong" asks here, the Lambda's pipeline included.
"""

from __future__ import annotations

#: S3's "no such object": GetObject's `NoSuchKey`, HeadObject's bare `404`, and `NotFound`.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: An `If-Match` that no longer holds: the object was replaced since its etag was recorded.
PRECONDITION_FAILED_CODES = frozenset({"PreconditionFailed", "412"})


def error_code(exc: BaseException) -> str:
    """The AWS error code of `exc`; "" for anything that is not an answer from an AWS service."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get("Code") or "") if isinstance(error, dict) else ""


def is_not_found(exc: BaseException) -> bool:
    """True when S3 answered that the object does not exist (deleted, or never uploaded)."""
    return error_code(exc) in NOT_FOUND_CODES


def is_precondition_failed(exc: BaseException) -> bool:
    """True when S3 refused a conditional read or copy because the object changed (re-uploaded)."""
    return error_code(exc) in PRECONDITION_FAILED_CODES
