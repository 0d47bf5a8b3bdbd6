"""THE place an image's answer is written: one DynamoDB item per image, the newest look at it wins.

Ordering never trusts the event. An S3 event's `sequencer` can be forged (a maximal one would pin
an image's label against every later upload) and moto sends none, so each item records what the
function itself saw: the `etag` of the bytes it classified and `observed_at`, the time just
before it read them (S3 reads are strongly consistent, so a later read sees a later version).
Every write is a conditional `UpdateItem`:

1. the item is new, or describes the same object version (same etag): the answer replaces the old
   one (a backfill with a new model, a redelivery) and keeps a human review of that version;
2. otherwise it must be a newer observation than the stored one (`observed_at` <): a re-upload,
   whose answer replaces the item and clears the review (it was about another photo);
3. otherwise the write is refused (`STALE`): a container that read the old photo and writes last
   cannot overwrite the answer for the new one.

A person's review (`record_review`, from `catdog review`) is one more conditional write: it sets
`human_label` (and `label`, the answer to query by) only while the item still describes the object
version the person looked at (same etag) and is a classified answer, so a review can never land on
a newer upload. It runs with the reviewer's credentials, never the function's.

A shadow model's answer (`put_shadow`, catdog.shadow) is one more conditional write, made after the
live answer: it sets the `shadow_*` fields only on the very live answer it was given beside (same
read: `observed_at`, `etag`, `model_version`), and every live answer removes them, so a shadow answer
is never compared with a live answer it was not given beside.

A removed object becomes a `deleted` tombstone (written only after a HEAD confirmed the object is
gone), so that a late ObjectCreated for the old upload cannot resurrect it. Tombstones and failed
items carry no `label`, so the `label-index` GSI only ever lists classified images.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from catdog.classifier import Prediction
from catdog.labels import LabelError, check_label
from catdog.s3_events import ObjectEvent
from catdog.status import Status

#: Everything an answer may set; a new answer removes the ones it does not have.
RESULT_FIELDS = ("status", "label", "model_label", "top_label", "confidence", "scores", "novelty",
                 "model_version", "etag", "size_bytes", "width", "height", "format", "error", "reason",
                 "processed_at", "observed_at", "sequencer")
#: A person's verdict about one object version (see catdog review); cleared when the object changes.
REVIEW_FIELDS = ("human_label", "reviewed_at", "reviewed_by")
#: A shadow model's answer beside the live one (`put_shadow`). Every live answer removes them: a
#: shadow answer is only ever about the live answer written just before it, from the same read.
#: `shadow_agreement` (`<version>:agree` or `<version>:disagree`) is the key of the sparse
#: `shadow-index`, so "where does the candidate disagree" is one Query, not a filtered read.
SHADOW_FIELDS = ("shadow_label", "shadow_confidence", "shadow_version", "shadow_agreement")
AGREE, DISAGREE = "agree", "disagree"


def shadow_agreement(shadow_version: str, agrees: bool) -> str:
    """The `shadow-index` key of a shadow answer: its version, and whether it gave the live label."""
    return f"{shadow_version}:{AGREE if agrees else DISAGREE}"


def utc_now() -> str:
    """ISO-8601 UTC with microseconds: fixed width, so string order is time order."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_decimal(value: float) -> Decimal:
    """DynamoDB takes numbers as Decimal; 6 decimals is plenty for a probability."""
    return Decimal(str(round(float(value), 6)))


#: The human label for "neither": the answer the model should have given.
UNKNOWN_LABEL = "unknown"


class ReviewResult(Enum):
    WRITTEN = "written"
    MISSING = "missing"  # no item for this image
    STALE = "stale"  # the item describes another version of the object now (a re-upload)
    NOT_CLASSIFIED = "not_classified"  # failed or deleted: there is no answer to correct


@dataclass(frozen=True)
class ReviewOutcome:
    """What became of a review; when refused, the item as stored (plain values), to explain why."""

    result: ReviewResult
    item: dict[str, Any] | None = None


class WriteResult(Enum):
    WRITTEN = "written"
    STALE = "stale"  # a newer look at the object already answered; its answer was kept
    NOTHING = "nothing"  # the outcome records nothing (the object was gone, or the event ignored)


@dataclass(frozen=True)
class ImageFacts:
    """What the function saw when it read the object: the version (etag) and when (observed_at)."""

    etag: str | None
    size_bytes: int | None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    observed_at: str | None = None


class ResultsTable:
    def __init__(self, table: Any) -> None:
        """`table` is a boto3 `dynamodb.Table` resource (it converts dicts/Decimals for us)."""
        self._table = table
        self._conditional_failed = table.meta.client.exceptions.ConditionalCheckFailedException

    @classmethod
    def named(cls, name: str, session: Any = None) -> ResultsTable:
        return cls((session or boto3).resource("dynamodb").Table(name))

    # -- the three kinds of answer ------------------------------------------------------------------
    def put_classified(self, event: ObjectEvent, facts: ImageFacts, prediction: Prediction,
                       model_version: str) -> WriteResult:
        return self._write(event, facts, {
            "status": Status.CLASSIFIED.value,
            "model_label": prediction.label,
            "top_label": prediction.top_label or prediction.label,
            "confidence": to_decimal(prediction.confidence),
            "scores": {k: to_decimal(v) for k, v in prediction.scores.items()},
            "novelty": None if prediction.novelty is None else to_decimal(prediction.novelty),
            "model_version": model_version,
            "size_bytes": facts.size_bytes,
            "width": facts.width,
            "height": facts.height,
            "format": facts.format,
        }, label=prediction.label)

    def put_failed(self, event: ObjectEvent, error: str, reason: str, facts: ImageFacts | None = None,
                   model_version: str | None = None) -> WriteResult:
        facts = facts or ImageFacts(etag=None, size_bytes=None)  # the event's claims are not facts
        return self._write(event, facts, {
            "status": Status.FAILED.value,
            "error": error,
            "reason": reason,
            "model_version": model_version,
            "size_bytes": facts.size_bytes,
        })

    def mark_deleted(self, event: ObjectEvent, observed_at: str) -> WriteResult:
        """A tombstone; `observed_at` is when a HEAD found the object gone."""
        return self._write(event, ImageFacts(etag=None, size_bytes=None, observed_at=observed_at),
                           {"status": Status.DELETED.value})

    # -- a shadow model's answer, beside the live one ------------------------------------------------
    def put_shadow(self, event: ObjectEvent, facts: ImageFacts, live_version: str, live_label: str,
                   prediction: Prediction, shadow_version: str) -> WriteResult:
        """Record a shadow model's answer on the item the live answer from the same read was just
        written to; `STALE` (nothing written) when the item holds another answer by now.

        The condition is that answer itself: classified, by `live_version`, from the read made at
        `facts.observed_at` (of `facts.etag`). A re-upload, a backfill or a redelivery answered since
        has its own `observed_at` and removed the shadow fields, so a shadow answer is never
        compared with a live answer it was not given beside."""
        if not facts.observed_at:
            return WriteResult.NOTHING  # nothing identifies the live answer it belongs with
        names = {"#status": "status", "#seen": "observed_at", "#version": "model_version",
                 "#label": "shadow_label", "#confidence": "shadow_confidence",
                 "#shadow": "shadow_version", "#agreement": "shadow_agreement"}
        values: dict[str, Any] = {
            ":classified": Status.CLASSIFIED.value, ":seen": facts.observed_at, ":live": live_version,
            ":label": prediction.label, ":confidence": to_decimal(prediction.confidence),
            ":shadow": shadow_version,
            ":agreement": shadow_agreement(shadow_version, prediction.label == live_label)}
        condition = "#status = :classified AND #seen = :seen AND #version = :live"
        if facts.etag:
            names["#etag"], values[":etag"] = "etag", facts.etag
            condition += " AND #etag = :etag"
        try:
            self._table.update_item(
                Key={"image": event.uri},
                UpdateExpression="SET #label = :label, #confidence = :confidence, #shadow = :shadow, "
                                 "#agreement = :agreement",
                ConditionExpression=condition, ExpressionAttributeNames=names,
                ExpressionAttributeValues=values)
        except self._conditional_failed:
            return WriteResult.STALE
        return WriteResult.WRITTEN

    # -- a person's answer ---------------------------------------------------------------------------
    def record_review(self, image: str, *, etag: str, human_label: str, reviewer: str,
                      reviewed_at: str | None = None) -> ReviewOutcome:
        """Record `human_label` for `image` as the reviewer saw it (`etag`): it becomes the `label`.

        Refused, with nothing written, when the item is gone, is not a classified answer, or now
        describes another object version; the outcome then carries the stored item. Which labels are
        valid is the caller's business (it knows the models); this only refuses malformed ones.
        """
        try:
            check_label(human_label)
        except LabelError as exc:
            raise ValueError(f"not a label: {exc}") from None
        if not etag:
            raise ValueError("a review names the object version (etag) the reviewer saw")
        try:
            self._table.update_item(
                Key={"image": image},
                UpdateExpression="SET #human = :human, #label = :human, #at = :at, #by = :by",
                ConditionExpression="attribute_exists(#image) AND #etag = :etag AND #status = :classified",
                ExpressionAttributeNames={"#human": "human_label", "#label": "label", "#at": "reviewed_at",
                                          "#by": "reviewed_by", "#image": "image", "#etag": "etag",
                                          "#status": "status"},
                ExpressionAttributeValues={":human": human_label, ":at": reviewed_at or utc_now(),
                                           ":by": reviewer or "unknown", ":etag": etag,
                                           ":classified": Status.CLASSIFIED.value},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._conditional_failed as exc:
            return _refused_review(exc)
        return ReviewOutcome(ReviewResult.WRITTEN)

    # -- the conditional write -----------------------------------------------------------------------
    def _write(self, event: ObjectEvent, facts: ImageFacts, answer: dict[str, Any],
               label: str | None = None) -> WriteResult:
        values = {k: v for k, v in answer.items() if v is not None}
        values["processed_at"] = utc_now()
        values["observed_at"] = facts.observed_at or values["processed_at"]
        if facts.etag:
            values["etag"] = facts.etag
            if event.sequencer and event.etag == facts.etag:
                values["sequencer"] = event.sequencer  # for the record: only when the event is verified
        if facts.etag and self._update(event, values, label, same_version=True):
            return WriteResult.WRITTEN
        if self._update(event, values, label, same_version=False):
            return WriteResult.WRITTEN
        return WriteResult.STALE

    def _update(self, event: ObjectEvent, values: dict[str, Any], label: str | None,
                *, same_version: bool) -> bool:
        """One conditional UpdateItem; False when its condition refused it."""
        fields = (*RESULT_FIELDS, *REVIEW_FIELDS, *SHADOW_FIELDS, "image")
        alias = {name: f"#f{i}" for i, name in enumerate(fields)}
        sets = [f"{alias[k]} = :{alias[k][1:]}" for k in values]
        params = {f":{alias[k][1:]}": v for k, v in values.items()}
        # a new answer (or a failure, or a tombstone) is never shown beside a shadow answer given
        # beside an earlier one: the shadow pass of this answer's read writes its own (put_shadow)
        removes = [k for k in RESULT_FIELDS if k not in values and k != "label"] + list(SHADOW_FIELDS)
        if label is not None:
            params[":label"] = label
            # A person's label of this very version wins over the model's; another version has none.
            sets.append(f"{alias['label']} = if_not_exists({alias['human_label']}, :label)" if same_version
                        else f"{alias['label']} = :label")
        else:
            removes.append("label")
        if not same_version:
            removes += REVIEW_FIELDS
        if same_version:
            condition = f"attribute_not_exists({alias['image']}) OR {alias['etag']} = :{alias['etag'][1:]}"
        else:
            seen = alias["observed_at"]
            condition = f"attribute_not_exists({seen}) OR {seen} < :{seen[1:]}"
        expression = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(alias[k] for k in removes)
        used = set(values) | set(removes) | ({"label", "human_label"} if label is not None else set())
        if same_version:
            used.add("image")
        try:
            self._table.update_item(
                Key={"image": event.uri},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={alias[k]: k for k in fields if k in used},
                ExpressionAttributeValues=params,
            )
        except self._conditional_failed:
            return False
        return True


def _refused_review(exc: Exception) -> ReviewOutcome:
    """Why the review's condition failed, from the item DynamoDB returned with the refusal."""
    raw = (getattr(exc, "response", None) or {}).get("Item")
    if not raw:
        return ReviewOutcome(ReviewResult.MISSING)
    deserialize = TypeDeserializer().deserialize
    item = {k: deserialize(v) for k, v in raw.items()}
    if item.get("status") != Status.CLASSIFIED.value:
        return ReviewOutcome(ReviewResult.NOT_CLASSIFIED, item)
    return ReviewOutcome(ReviewResult.STALE, item)  # another etag (or it changed in between: the same)
