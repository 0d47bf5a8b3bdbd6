"""Lambda entry point `app.handler`: S3 uploads (via SQS, or direct) → labels in DynamoDB.

Thin on purpose: parse the event with Powertools' data classes, let `catdog.pipeline` read,
preprocess and classify every image of the invocation in one batched LiteRT call, then let the
SQS `BatchProcessor` write each message's results, so that exactly the messages that hit a
transient error come back in `batchItemFailures`. TensorFlow is never imported on this path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from catdog.config import Settings
from catdog.model_store import ModelStore
from catdog.pipeline import CLASSIFIED, FAILED, ClassifyBatch, ImageReader, Outcome
from catdog.results import ResultsTable
from catdog.s3_events import (
    MalformedMessageError,
    ObjectEvent,
    events_from_sqs_body,
    is_test_event,
    object_events,
)

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
copy_config_to_registered_loggers(source_logger=logger, include={"catdog"})


@dataclass
class Runtime:
    """Built on the first invocation and reused while the container is warm."""

    settings: Settings
    store: ModelStore
    batch: ClassifyBatch


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        settings = Settings.from_env()
        s3 = boto3.client("s3")
        store = ModelStore(s3, settings.model_bucket, settings.model_key,
                           refresh_seconds=settings.model_refresh_seconds, cache_dir=settings.model_cache_dir)
        batch = ClassifyBatch(ImageReader(s3, settings.max_object_bytes), store,
                              ResultsTable.named(settings.results_table), settings.max_image_pixels,
                              key_scope=image_scope)
        _runtime = Runtime(settings, store, batch)
    return _runtime


@contextmanager
def image_scope(event: ObjectEvent) -> Iterator[None]:
    """Every log line about an image carries its `s3://` URI."""
    with logger.append_context_keys(image=event.uri):
        yield


@tracer.capture_method
def classify(events: list[ObjectEvent]) -> tuple[list[Outcome], str | None]:
    rt = runtime()
    outcomes, stats = rt.batch.classify(events)
    if rt.store.just_loaded is not None:
        metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds,
                           value=rt.store.just_loaded.load_seconds * 1000)
    if stats.classified:
        metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds,
                           value=stats.inference_seconds * 1000)
    version = stats.model.version if stats.model else None
    if version:
        tracer.put_annotation("model_version", version)
    return outcomes, version


def emit_label_counts(counts: Counter[str]) -> None:
    """One EMF line per label per invocation (a `label` dimension), not one per image."""
    for label, count in sorted(counts.items()):
        with single_metric(name="ImagesByLabel", unit=MetricUnit.Count, value=count,
                           namespace=metrics.namespace) as metric:
            metric.add_dimension(name="label", value=label)


def write_outcome(outcome: Outcome, version: str | None, labels: Counter[str]) -> None:
    """Write one outcome; raises (→ retry) on a transient error or a failed write."""
    with image_scope(outcome.event):
        written = runtime().batch.write(outcome, version)
        if written is False:
            logger.info("a newer event already answered for this image; kept it")
        if written and outcome.status == CLASSIFIED:
            assert outcome.prediction is not None
            metrics.add_metric(name="ImagesClassified", unit=MetricUnit.Count, value=1)
            labels[outcome.prediction.label] += 1
            logger.info("classified", extra={"label": outcome.prediction.label,
                                             "confidence": round(outcome.prediction.confidence, 4)})
        elif written and outcome.status == FAILED:
            metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)


def handle_sqs(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = list(SQSEvent(event).records)
    logger.set_correlation_id(records[0].message_id if records else None)
    by_message: dict[str, list[ObjectEvent]] = {}
    for rec in records:
        try:
            by_message[rec.message_id] = events_from_sqs_body(rec.body)
        except MalformedMessageError as exc:  # retrying cannot fix it: log loudly, acknowledge
            logger.error("dropping a message that is not an S3 notification",
                         extra={"message_id": rec.message_id, "error": str(exc)})
            metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
            by_message[rec.message_id] = []
    events = [e for evs in by_message.values() for e in evs]
    outcomes, version = classify(events) if events else ([], None)
    it = iter(outcomes)
    per_message = {mid: [next(it) for _ in evs] for mid, evs in by_message.items()}

    labels: Counter[str] = Counter()

    def record_handler(record: SQSRecord) -> None:  # BatchProcessor calls it as handler(record=...)
        with logger.append_context_keys(message_id=record.message_id):
            try:
                for outcome in per_message[record.message_id]:
                    write_outcome(outcome, version, labels)
            except Exception as exc:
                logger.warning("message goes back to the queue: %s: %s", type(exc).__name__, exc)
                raise

    response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)
    emit_label_counts(labels)
    return response


def handle_s3(event: dict[str, Any]) -> dict[str, Any]:
    """Direct S3 trigger (or `sam local invoke -e events/s3-put.json`): raise to be retried."""
    records = event.get("Records") or [{}]
    logger.set_correlation_id((records[0].get("responseElements") or {}).get("x-amz-request-id"))
    outcomes, version = classify(object_events(event))
    errors: list[BaseException] = []
    labels: Counter[str] = Counter()
    for outcome in outcomes:
        try:
            write_outcome(outcome, version, labels)
        except Exception as exc:
            errors.append(exc)
    emit_label_counts(labels)
    if errors:
        raise errors[0]
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {"model_version": version, **counts}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True, raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_test_event(event):
        logger.info("s3:TestEvent acknowledged and ignored")
        return {"ignored": "s3:TestEvent"}
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return handle_sqs(event, context)
    return handle_s3(event)

