"""THE place an image's answer is written: one DynamoDB item per image, newest event wins.

Every write is conditional on the S3 `sequencer`: a redelivered event (same sequencer) or an
older one arriving late (lower sequencer) cannot overwrite a newer answer. A removed object
becomes a `deleted` tombstone rather than vanishing, so that a late ObjectCreated for the old
upload cannot resurrect it. Tombstones and failed items carry no `label`, so the `label-index`
GSI only ever lists classified images.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from catdog.classifier import Prediction
from catdog.s3_events import ObjectEvent
from catdog.status import Status

#: Everything an answer may set; a new answer removes the ones it does not have.
RESULT_FIELDS = ("status", "label", "confidence", "scores", "model_version", "etag", "size_bytes", "width",
                 "height", "format", "error", "reason", "processed_at")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_decimal(value: float) -> Decimal:
    """DynamoDB takes numbers as Decimal; 6 decimals is plenty for a probability."""
    return Decimal(str(round(float(value), 6)))


class WriteResult(Enum):
    WRITTEN = "written"
    STALE = "stale"  # a same-or-newer event already answered for this image; its answer was kept
    NOTHING = "nothing"  # the outcome records nothing (the object was gone, or the event ignored)


@dataclass(frozen=True)
class ImageFacts:
    """What we learned about the object while reading it."""

    etag: str | None
    size_bytes: int | None
    width: int | None = None
    height: int | None = None
    format: str | None = None


class ResultsTable:
    def __init__(self, table: Any) -> None:
        """`table` is a boto3 `dynamodb.Table` resource (it converts dicts/Decimals for us)."""
        self._table = table
        self._conditional_failed = table.meta.client.exceptions.ConditionalCheckFailedException

    @classmethod
    def named(cls, name: str, session: Any = None) -> ResultsTable:
        import boto3

        return cls((session or boto3).resource("dynamodb").Table(name))

    def _put(self, event: ObjectEvent, item: dict[str, Any]) -> WriteResult:
        """Write unless a same-or-newer event already answered (then `STALE`).

        An UpdateItem that SETs what this answer has and REMOVEs the other result fields: unlike
        a PutItem it keeps a stored `sequencer` when this event has none (a backfill), so the
        ordering guard still holds for late events afterwards.
        """
        values = {k: v for k, v in item.items() if v is not None}
        values["processed_at"] = utc_now()
        if event.sequencer:
            values["sequencer"] = event.sequencer
        names = {f"#{i}": name for i, name in enumerate((*RESULT_FIELDS, "sequencer"))}
        alias = {name: key for key, name in names.items()}
        sets = [f"{alias[k]} = :{alias[k][1:]}" for k in values]
        removes = [alias[k] for k in RESULT_FIELDS if k not in values]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        kwargs: dict[str, Any] = {
            "Key": {"image": event.uri},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {a: n for a, n in names.items() if n in values or a in removes},
            "ExpressionAttributeValues": {f":{alias[k][1:]}": v for k, v in values.items()},
        }
        if event.sequencer:
            seq = alias["sequencer"]
            kwargs["ConditionExpression"] = f"attribute_not_exists({seq}) OR {seq} < :{seq[1:]}"
        try:
            self._table.update_item(**kwargs)
        except self._conditional_failed:
            return WriteResult.STALE
        return WriteResult.WRITTEN

    def put_classified(self, event: ObjectEvent, facts: ImageFacts, prediction: Prediction,
                       model_version: str) -> WriteResult:
        return self._put(event, {
            "status": Status.CLASSIFIED.value,
            "label": prediction.label,
            "confidence": to_decimal(prediction.confidence),
            "scores": {k: to_decimal(v) for k, v in prediction.scores.items()},
            "model_version": model_version,
            "etag": facts.etag,
            "size_bytes": facts.size_bytes,
            "width": facts.width,
            "height": facts.height,
            "format": facts.format,
        })

    def put_failed(self, event: ObjectEvent, error: str, reason: str, facts: ImageFacts | None = None,
                   model_version: str | None = None) -> WriteResult:
        return self._put(event, {
            "status": Status.FAILED.value,
            "error": error,
            "reason": reason,
            "model_version": model_version,
            "etag": (facts.etag if facts else None) or event.etag,
            "size_bytes": facts.size_bytes if facts else event.size,
        })

    def mark_deleted(self, event: ObjectEvent) -> WriteResult:
        return self._put(event, {"status": Status.DELETED.value})
