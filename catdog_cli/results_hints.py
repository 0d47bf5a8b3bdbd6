"""Why the table does not (yet) show what a user expects: what is still queued, failing, or missing.

`catdog results` with nothing to show used to print `(no results)` for the 12 minutes that images
sat in the queue before any model was published. These checks turn that wait into words: messages
waiting and in flight, messages in the DLQ, no model published, a label the model does not have.
Every check is best-effort (a missing permission only means one hint fewer).
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from typing import Any

from catdog.aws_errors import is_not_found
from catdog.config import DEFAULT_MODEL_KEY
from catdog.manifest import Manifest, ModelPointer
from catdog.plural import plural


@dataclass(frozen=True)
class Where:
    """The names a hint needs; any of them may be unknown (a deployed stack given by --table only)."""

    bucket: str | None = None
    queue_url: str | None = None
    dlq_url: str | None = None
    model_key: str = DEFAULT_MODEL_KEY


def live_labels(s3: Any, where: Where) -> list[str] | None:
    """The live model's labels (plus `unknown`, which any model may answer), or None if unknown."""
    if not where.bucket:
        return None
    with contextlib.suppress(Exception):
        def read(key: str) -> bytes:
            return bytes(s3.get_object(Bucket=where.bucket, Key=key)["Body"].read())

        manifest = Manifest.from_json(read(ModelPointer.from_json(read(where.model_key)).manifest_key))
        return [*manifest.labels, "unknown"]
    return None


def label_problem(label: str, labels: list[str] | None) -> str | None:
    """A message when `label` is not one the model answers with (`cats`, `Dog`), naming the valid ones."""
    if labels is None or label in labels:
        return None
    close = difflib.get_close_matches(label.lower().rstrip("s"), labels, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no label {label!r}: the live model answers {', '.join(labels)}{hint}"


def _count(sqs: Any, url: str, names: list[str]) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs.get(n, 0)) for n in names)


def hints(s3: Any, sqs: Any, where: Where) -> list[str]:
    """Lines that explain an empty (or short) result: pending work, dead letters, no model."""
    lines: list[str] = []
    if where.bucket:
        with contextlib.suppress(Exception):
            try:
                s3.head_object(Bucket=where.bucket, Key=where.model_key)
            except Exception as exc:
                if is_not_found(exc):
                    lines.append(f"no model is published (s3://{where.bucket}/{where.model_key} does not "
                                 "exist): uploads wait in the queue, then the DLQ; publish one with "
                                 "`catdog publish MODEL_DIR`")
                else:
                    raise
    if where.queue_url:
        with contextlib.suppress(Exception):
            waiting = _count(sqs, where.queue_url, ["ApproximateNumberOfMessages",
                                                    "ApproximateNumberOfMessagesDelayed"])
            in_flight = _count(sqs, where.queue_url, ["ApproximateNumberOfMessagesNotVisible"])
            if waiting or in_flight:
                lines.append(f"{plural(waiting, 'message')} waiting and {in_flight} in flight on the queue: "
                             "a worker (`catdog local worker`, or the deployed function) has not answered "
                             "them yet")
    if where.dlq_url:
        with contextlib.suppress(Exception):
            dead = _count(sqs, where.dlq_url, ["ApproximateNumberOfMessages"])
            if dead:
                lines.append(f"{plural(dead, 'message')} in the dead-letter queue: they failed every "
                             "delivery (no model, permissions...); fix the cause, then redrive them")
    return lines
