"""Lambda entry point `app.handler`: S3 uploads (via SQS, or direct) → labels in DynamoDB.

Wiring only, as in Powertools' own batch example: `catdog.batch_processor.ImageBatchProcessor`
classifies every image of the batch in one LiteRT call, then the record handler writes each
message's answers, so exactly the messages that hit a transient error come back in
`batchItemFailures`. TensorFlow is never imported on this path.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from catdog.batch_processor import ImageBatchProcessor, is_sqs_event
from catdog.tracing import tracer as make_tracer

logger = Logger()
tracer = make_tracer()  # Powertools' Tracer, or a no-op without the X-Ray SDK (Tracing=Active adds it)
metrics = Metrics()
processor = ImageBatchProcessor(logger)
copy_config_to_registered_loggers(source_logger=logger, include={"catdog"})


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    processor.write_answers(record)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True, raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not is_sqs_event(event):  # a direct S3 trigger or S3's s3:TestEvent
        return processor.handle_s3_event(event, context)
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                         context=context))
