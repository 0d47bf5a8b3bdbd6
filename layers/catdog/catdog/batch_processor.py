"""The classify function's invocation, as a Powertools `BatchProcessor`: classify everything, then record.

Powertools' SQS `BatchProcessor` hands records to a record handler one at a time and reports the
ones that raised in `batchItemFailures`. We need one step before that: every image of the batch
goes through ONE LiteRT call. `ImageBatchProcessor` does it in `_prepare` (Powertools' hook that
runs once per batch, before the records), keeping each message's outcomes under its message id;
the record handler then only writes that message's answers, and raises (→ retry) for a transient
error. `app.py` wires Powertools around it and does nothing else.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from catdog.config import Settings
from catdog.model_store import ModelStore
from catdog.pipeline import BatchResult, ClassifyBatch, ImageReader, Outcome
from catdog.results import ResultsTable, WriteResult
from catdog.s3_events import (
    MalformedMessageError,
    ObjectEvent,
    events_from_sqs_body,
    is_test_event,
    object_events,
)
from catdog.status import Status

log = logging.getLogger(__name__)
metrics = Metrics()  # Powertools shares one metric set between instances: the handler's flushes these
tracer = Tracer()

#: The pseudo message id under which a direct S3 event's outcomes are kept.
DIRECT = "direct-s3-event"


@dataclass
class Runtime:
    """Built on the first invocation and reused while the container is warm."""

    settings: Settings
    store: ModelStore
    batch: ClassifyBatch


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (isinstance(records, list) and bool(records) and isinstance(records[0], dict)
            and records[0].get("eventSource") == "aws:sqs")


class ImageBatchProcessor(BatchProcessor):
    def __init__(self, logger: Logger) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.log = logger
        self._runtime: Runtime | None = None
        self._result = BatchResult()
        self._labels: Counter[str] = Counter()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            import boto3

            settings = Settings.from_env()
            s3 = boto3.client("s3")
            store = ModelStore(s3, settings.model_bucket, settings.model_key,
                               refresh_seconds=settings.model_refresh_seconds,
                               cache_dir=settings.model_cache_dir, num_threads=settings.litert_threads)
            batch = ClassifyBatch(ImageReader(s3, settings.max_object_bytes), store,
                                  ResultsTable.named(settings.results_table), settings.max_image_pixels,
                                  key_scope=self._image_scope)
            self._runtime = Runtime(settings, store, batch)
        return self._runtime

    @contextmanager
    def _image_scope(self, event: ObjectEvent) -> Iterator[None]:
        """Every log line about an image carries its `s3://` URI."""
        with self.log.append_context_keys(image=event.uri):
            yield

    # -- Powertools' hooks ----------------------------------------------------------------------
    def _prepare(self) -> None:
        super()._prepare()
        self._labels.clear()
        if self.records:
            self.log.set_correlation_id(self.records[0].get("messageId"))
        self._result = self._classify({r["messageId"]: self._events(r) for r in self.records})

    def _clean(self) -> None:
        super()._clean()
        self._emit_label_counts()

    def _events(self, record: dict[str, Any]) -> list[ObjectEvent]:
        try:
            return events_from_sqs_body(record.get("body") or "")
        except MalformedMessageError as exc:  # retrying cannot fix it: log loudly, acknowledge
            self.log.error("dropping a message that is not an S3 notification",
                           extra={"message_id": record.get("messageId"), "error": str(exc)})
            metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
            return []

    # -- the record handler's work --------------------------------------------------------------
    def write_answers(self, record: SQSRecord) -> None:
        """Write one message's answers; raises (→ `batchItemFailures`) on a transient or write error."""
        with self.log.append_context_keys(message_id=record.message_id):
            try:
                for outcome in self._result.outcomes[record.message_id]:
                    self._write(outcome)
            except Exception as exc:
                self.log.warning("message goes back to the queue: %s: %s", type(exc).__name__, exc)
                raise

    def handle_s3_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A direct S3 trigger (or `sam local invoke -e events/s3-put.json`); raises to be retried.

        Returns the model version and a count per outcome, e.g. `{"classified": 2, "gone": 1}`.
        """
        if is_test_event(event):
            self.log.info("s3:TestEvent acknowledged and ignored")
            return {"ignored": "s3:TestEvent"}
        self._labels.clear()
        records = event.get("Records") or [{}]
        self.log.set_correlation_id((records[0].get("responseElements") or {}).get("x-amz-request-id"))
        self._result = self._classify({DIRECT: object_events(event)})
        outcomes = self._result.outcomes[DIRECT]
        errors: list[BaseException] = []
        for outcome in outcomes:
            try:
                self._write(outcome)
            except Exception as exc:
                errors.append(exc)
        self._emit_label_counts()
        if errors:
            raise errors[0]
        return {"model_version": self._result.model_version, **Counter(o.kind for o in outcomes)}

    # -- internals --------------------------------------------------------------------------------
    @tracer.capture_method
    def _classify(self, messages: dict[str, list[ObjectEvent]]) -> BatchResult:
        if not any(messages.values()):
            return BatchResult({mid: [] for mid in messages})
        result = self.runtime.batch.classify(messages)
        if result.model_loaded_now and result.model is not None:
            metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds,
                               value=result.model.load_seconds * 1000)
        if result.classified:
            metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds,
                               value=result.inference_seconds * 1000)
        if result.model_version:
            tracer.put_annotation("model_version", result.model_version)
        return result

    def _write(self, outcome: Outcome) -> None:
        with self._image_scope(outcome.event):
            written = self.runtime.batch.write(outcome, self._result.model_version)
            if written is WriteResult.STALE:
                self.log.info("a newer event already answered for this image; kept it")
            if written is not WriteResult.WRITTEN:
                return
            if outcome.status == Status.CLASSIFIED:
                assert outcome.prediction is not None
                metrics.add_metric(name="ImagesClassified", unit=MetricUnit.Count, value=1)
                self._labels[outcome.prediction.label] += 1
                self.log.info("classified", extra={"label": outcome.prediction.label,
                                                   "confidence": round(outcome.prediction.confidence, 4)})
            elif outcome.status == Status.FAILED:
                metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)

    def _emit_label_counts(self) -> None:
        """One EMF line per label per invocation (a `label` dimension), not one per image."""
        for label, count in sorted(self._labels.items()):
            with single_metric(name="ImagesByLabel", unit=MetricUnit.Count, value=count,
                               namespace=metrics.namespace) as metric:
                metric.add_dimension(name="label", value=label)
        self._labels.clear()
