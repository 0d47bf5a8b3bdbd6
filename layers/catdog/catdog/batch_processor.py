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

import boto3
from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config

from catdog.config import Settings
from catdog.model_store import ModelStore
from catdog.pipeline import BatchResult, Classified, ClassifyBatch, Failed, ImageReader, Outcome, OwnedPrefix
from catdog.results import ResultsTable, WriteResult
from catdog.s3_events import ObjectEvent, ParsedMessage, parse_payload, parse_sqs_body
from catdog.sandbox import DecodeSandbox
from catdog.shadow import ShadowPass, ShadowStore
from catdog.tracing import tracer as make_tracer

log = logging.getLogger(__name__)
metrics = Metrics()  # Powertools shares one metric set between instances: the handler's flushes these
tracer = make_tracer()

#: The pseudo message id under which a direct S3 event's outcomes are kept.
DIRECT = "direct-s3-event"


@dataclass
class Runtime:
    """Built on the first invocation and reused while the container is warm."""

    settings: Settings
    store: ModelStore
    batch: ClassifyBatch
    sandbox: DecodeSandbox
    shadow: ShadowPass


#: Longest rejection reason logged: a reason may quote a field of the message, which can be 256 KB.
MAX_LOGGED_REASON = 500


def _clipped(text: str) -> str:
    return text if len(text) <= MAX_LOGGED_REASON else text[:MAX_LOGGED_REASON] + f"… ({len(text)} chars)"


#: The shadow model's own S3 client: short timeouts and no retry (the next refresh is the retry), so
#: a slow read for an optional model cannot stall the batch into Lambda's timeout (botocore's
#: defaults are 60 s to connect and 60 s per read, retried). A second client costs ~6 ms at init.
SHADOW_S3 = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1, "mode": "standard"})


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return False
    return bool(records[0].get("eventSource") == "aws:sqs")


class ImageBatchProcessor(BatchProcessor):
    def __init__(self, logger: Logger) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.log = logger
        self._runtime: Runtime | None = None
        self._result = BatchResult()
        self._labels: Counter[str] = Counter()
        #: The classified answers written in this invocation: what a shadow model answers beside.
        self._written: list[Classified] = []

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            settings = Settings.from_env()
            # Started first: the decoder process imports Pillow while this one loads the model.
            sandbox = DecodeSandbox(cpu_seconds=settings.decode_cpu_seconds,
                                    memory_mb=settings.decode_memory_mb, start=True)
            s3 = boto3.client("s3")
            store = ModelStore(s3, settings.model_bucket, settings.model_key,
                               refresh_seconds=settings.model_refresh_seconds,
                               cache_dir=settings.model_cache_dir, num_threads=settings.litert_threads,
                               inference_chunk=settings.inference_chunk)
            results = ResultsTable.named(settings.results_table)
            # enough for one more image at the CPU budget on Lambda's fraction of a CPU, and the writes
            reserve_seconds = 5.0 + 2 * settings.decode_cpu_seconds
            batch = ClassifyBatch(
                ImageReader(s3, settings.max_object_bytes), store, results,
                settings.max_image_pixels, decoder=sandbox,
                owned=OwnedPrefix(settings.upload_bucket, settings.upload_prefix),
                log_context=self._image_log_context, reserve_seconds=reserve_seconds)
            shadow = ShadowPass(
                ShadowStore(boto3.client("s3", config=SHADOW_S3), settings.model_bucket, settings.shadow_key,
                            refresh_seconds=settings.model_refresh_seconds,
                            cache_dir=settings.model_cache_dir, num_threads=settings.litert_threads,
                            inference_chunk=settings.inference_chunk),
                results, reserve_seconds=reserve_seconds, log_context=self._image_log_context)
            self._runtime = Runtime(settings, store, batch, sandbox, shadow)
        return self._runtime

    @contextmanager
    def _image_log_context(self, event: ObjectEvent) -> Iterator[None]:
        """Every log line about an image carries its `s3://` URI."""
        with self.log.append_context_keys(image=event.uri):
            yield

    # -- Powertools' hooks ----------------------------------------------------------------------
    def _prepare(self) -> None:
        super()._prepare()
        self._labels.clear()
        self._written.clear()
        if self.records:
            self.log.set_correlation_id(self.records[0].get("messageId"))
        messages = {str(r.get("messageId")): self._events(r) for r in self.records}
        self._result = self._classify(messages, self._time_left())

    def _clean(self) -> None:
        # Every message's answer is written by now: the shadow model answers beside them, before the
        # response that acknowledges the messages (it never raises, and stops short of the timeout).
        self._shadow()
        super()._clean()
        self._emit_label_counts()

    def _events(self, record: dict[str, Any]) -> list[ObjectEvent]:
        """One message's events. Runs in `_prepare`, where an exception would fail the WHOLE batch
        (all ten messages retried, then dead-lettered): whatever a body does to the parser, only
        that message is dropped."""
        try:
            parsed = parse_sqs_body(record.get("body"))
        except Exception as exc:
            parsed = ParsedMessage(rejected=[f"the message could not be parsed: {type(exc).__name__}"])
        return self._accept(parsed, record.get("messageId"))

    def _accept(self, parsed: ParsedMessage, message_id: Any) -> list[ObjectEvent]:
        """The well-formed events; each rejected record is logged and dropped (retrying cannot fix
        it), so that it can never hold up the other records of the batch."""
        for why in parsed.rejected:
            self.log.error("dropping a record that is not an S3 object event",
                           extra={"message_id": message_id, "error": _clipped(why)})
            metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
        if parsed.test_event:
            self.log.info("s3:TestEvent acknowledged and ignored", extra={"message_id": message_id})
        return parsed.events

    def _time_left(self) -> Any:
        context = getattr(self, "lambda_context", None)
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return (lambda: remaining() / 1000) if callable(remaining) else None

    # -- the record handler's work --------------------------------------------------------------
    def write_answers(self, record: SQSRecord) -> None:
        """Write one message's answers; raises (→ `batchItemFailures`) on a transient or write error."""
        with self.log.append_context_keys(message_id=record.message_id):
            try:
                for outcome in self._result.outcomes.get(str(record.message_id), []):
                    self._write(outcome)
            except Exception as exc:
                self.log.warning("message goes back to the queue: %s: %s", type(exc).__name__, exc)
                raise

    def handle_s3_event(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """A direct S3 trigger (or `sam local invoke -e events/s3-put.json`); raises to be retried.

        Returns the model version and a count per outcome, e.g. `{"classified": 2, "gone": 1}`.
        """
        parsed = parse_payload(event)
        if parsed.test_event:
            self.log.info("s3:TestEvent acknowledged and ignored")
            return {"ignored": "s3:TestEvent"}
        self._labels.clear()
        self._written.clear()
        records = event.get("Records") if isinstance(event, dict) else None
        first = records[0] if isinstance(records, list) and records and isinstance(records[0], dict) else {}
        self.log.set_correlation_id((first.get("responseElements") or {}).get("x-amz-request-id"))
        events = self._accept(parsed, DIRECT)
        self.lambda_context = context
        self._result = self._classify({DIRECT: events}, self._time_left())
        outcomes = self._result.outcomes[DIRECT]
        errors: list[BaseException] = []
        for outcome in outcomes:
            try:
                self._write(outcome)
            except Exception as exc:
                errors.append(exc)
        if errors:
            self._emit_label_counts()
            self._release()  # the retry decodes again: a warm container must not keep these pixels
            raise errors[0]  # the whole event is retried: its shadow answers come with the retry
        response: dict[str, Any] = {"model_version": self._result.model_version,
                                    **Counter(o.kind for o in outcomes)}
        if parsed.rejected:
            response["rejected"] = len(parsed.rejected)
        self._shadow()
        self._emit_label_counts()
        return response

    # -- internals --------------------------------------------------------------------------------
    @tracer.capture_method
    def _classify(self, messages: dict[str, list[ObjectEvent]], time_left: Any = None) -> BatchResult:
        if not any(messages.values()):
            return BatchResult({mid: [] for mid in messages})
        result = self.runtime.batch.classify(messages, time_left)
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
        with self._image_log_context(outcome.event):
            written = self.runtime.batch.write(outcome, self._result.model_version)
            if written is WriteResult.STALE:
                self.log.info("a newer event already answered for this image; kept it")
            if written is not WriteResult.WRITTEN:
                return
            if isinstance(outcome, Classified):
                self._written.append(outcome)
                metrics.add_metric(name="ImagesClassified", unit=MetricUnit.Count, value=1)
                p = outcome.prediction
                if p.is_unknown:  # the UnknownShareAlarm's numerator (template.yaml)
                    metrics.add_metric(name="ImagesUnknown", unit=MetricUnit.Count, value=1)
                self._labels[p.label] += 1
                novelty = None if p.novelty is None else round(p.novelty, 4)
                self.log.info("classified", extra={"label": p.label, "top_label": p.top_label,
                                                   "confidence": round(p.confidence, 4), "novelty": novelty})
            elif isinstance(outcome, Failed):  # the FailedImagesAlarm's numerator
                metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)

    def _shadow(self) -> None:
        """The shadow model (if `models/shadow.json` names one) on this invocation's written answers;
        then the batch's decoded pixels are let go (a warm container must not hold them until its
        next invocation)."""
        live = self._result.model
        written = self._release()
        if not written or live is None or self._runtime is None:
            return
        try:
            result = self._runtime.shadow.run(written, live, self._time_left())
        except Exception as exc:  # ShadowPass never raises; this is the last guard of the live answers
            self.log.warning("shadow pass failed, no shadow answers: %s: %s", type(exc).__name__, exc)
            return
        if result.answered:
            metrics.add_metric(name="ImagesShadowed", unit=MetricUnit.Count, value=result.answered)
            metrics.add_metric(name="ShadowInferenceLatency", unit=MetricUnit.Milliseconds,
                               value=result.seconds * 1000)
            tracer.put_annotation("shadow_version", str(result.version))

    def _release(self) -> list[Classified]:
        """This invocation's written answers, handed over once: the batch's outcomes and answers
        (which hold its decoded pixels) are no longer kept here."""
        written, self._written = self._written, []
        self._result = BatchResult(model=self._result.model, model_loaded_now=self._result.model_loaded_now)
        return written

    def _emit_label_counts(self) -> None:
        """One EMF line per label per invocation (a `label` dimension), not one per image."""
        for label, count in sorted(self._labels.items()):
            with single_metric(name="ImagesByLabel", unit=MetricUnit.Count, value=count,
                               namespace=metrics.namespace) as metric:
                metric.add_dimension(name="label", value=label)
        self._labels.clear()
