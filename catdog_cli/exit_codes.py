"""What each exit code of `catdog` means, decided once (docs/cli.md has the same table, tested).

- 0: done.
- 1: the command ran, but some of its items failed (each named on stderr): uploads, predictions...
- 2: bad input: arguments, files, data sets, an invalid label or version.
- 3: AWS or the stack is not reachable as asked: no credentials, no endpoint, no such bucket, table
  or queue, access denied, no local stack running.
- 4: the quality gate refused the model (the live one stays), `promote --require-shadow` included.
- 70: an unexpected error inside catdog (a bug: run again with --debug and report the traceback).
- 130: interrupted (Ctrl-C): what was done is said, nothing is lost.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from catdog.aws_errors import NOT_FOUND_CODES, error_code
from catdog.errors import CatdogError, QualityGateError
from catdog_local.state import StackError

OK = 0
PARTIAL = 1
USAGE = 2
UNREACHABLE = 3
GATE_REFUSED = 4
INTERNAL = 70
INTERRUPTED = 130

#: AWS error codes that mean "what you named is not there, or not yours": exit 3, not a bug.
_UNREACHABLE_CODES = {
    "NoSuchBucket", "ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
    "AllAccessDisabled", "403", *NOT_FOUND_CODES,
}


def classify(exc: BaseException) -> tuple[int, str]:
    """(exit code, one line for stderr) for an exception that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    if isinstance(exc, QualityGateError):
        return GATE_REFUSED, str(exc)
    if isinstance(exc, StackError):
        return UNREACHABLE, str(exc)
    if isinstance(exc, NoCredentialsError):
        return UNREACHABLE, ("no AWS credentials found: configure them (aws configure, AWS_PROFILE), or "
                             "start a local stack with `catdog local up`")
    if isinstance(exc, EndpointConnectionError):
        return UNREACHABLE, f"cannot reach the endpoint: {exc} (is the local stack still running?)"
    if isinstance(exc, ClientError):
        error: dict[str, Any] = exc.response.get("Error", {})
        code = error_code(exc)
        named = error.get("BucketName") or error.get("Key") or ""
        detail = f"{error.get('Message') or code}{f' ({named})' if named else ''}"
        status = UNREACHABLE if code in _UNREACHABLE_CODES else INTERNAL
        return status, f"AWS said {code}: {detail} [{exc.operation_name}]"
    if isinstance(exc, BotoCoreError):
        return UNREACHABLE, f"AWS: {exc}"
    if isinstance(exc, CatdogError | ValueError | FileNotFoundError | PermissionError | IsADirectoryError):
        return USAGE, str(exc)
    return INTERNAL, f"{type(exc).__name__}: {exc} (a bug? run again with --debug and report the traceback)"
