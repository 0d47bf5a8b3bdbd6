"""The SQS event the local worker hands the handler must be the one Lambda builds."""

from __future__ import annotations

import base64

from catdog_local.events import failed_message_ids, queue_region, to_event

ARN = "arn:aws:sqs:eu-west-1:123456789012:catdog-images"


def _message(mid: str = "m-1", **extra: object) -> dict[str, object]:
    message: dict[str, object] = {
        "MessageId": mid,
        "ReceiptHandle": f"rh-{mid}",
        "MD5OfBody": "0cc175b9c0f1b6a831c399e269772661",
        "Body": '{"Records": []}',
        "Attributes": {
            "ApproximateReceiveCount": 3,  # boto3 gives strings, but be strict about what we emit
            "SentTimestamp": "1795804544235",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795804544258",
            "SqsManagedSseEnabled": "true",  # not a field Lambda copies
        },
    }
    message.update(extra)
    return message


def test_record_has_lambdas_fields_and_casing() -> None:
    event = to_event([_message()], ARN)
    (record,) = event["Records"]
    assert record["messageId"] == "m-1"
    assert record["receiptHandle"] == "rh-m-1"
    assert record["body"] == '{"Records": []}'
    assert record["md5OfBody"] == "0cc175b9c0f1b6a831c399e269772661"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == ARN
    assert record["awsRegion"] == "eu-west-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"  # always a string in Lambda
    assert "SqsManagedSseEnabled" not in record["attributes"]
    assert record["messageAttributes"] == {}


def test_message_attributes_become_camel_case_with_base64_binary() -> None:
    message = _message(MessageAttributes={
        "source": {"StringValue": "backfill", "DataType": "String"},
        "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
    })
    attrs = to_event([message], ARN)["Records"][0]["messageAttributes"]
    assert attrs["source"]["stringValue"] == "backfill"
    assert attrs["source"]["dataType"] == "String"
    assert attrs["blob"]["binaryValue"] == base64.b64encode(b"\x00\x01").decode()
    assert attrs["blob"]["stringListValues"] == [] and attrs["blob"]["binaryListValues"] == []


def test_batch_keeps_message_order() -> None:
    event = to_event([_message("a"), _message("b"), _message("c")], ARN)
    assert [r["messageId"] for r in event["Records"]] == ["a", "b", "c"]


def test_region_falls_back_for_a_malformed_arn() -> None:
    assert queue_region("not-an-arn", default="us-west-2") == "us-west-2"


IDS = ["a", "b", "c"]


def test_no_response_or_empty_failures_means_all_succeeded() -> None:
    assert failed_message_ids(None, IDS) == set()
    assert failed_message_ids({"batchItemFailures": []}, IDS) == set()
    assert failed_message_ids({"ignored": "s3:TestEvent"}, IDS) == set()


def test_reported_failures_are_kept() -> None:
    response = {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert failed_message_ids(response, IDS) == {"b"}


def test_unknown_or_empty_identifier_fails_the_whole_batch_like_lambda() -> None:
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, IDS) == set(IDS)
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, IDS) == set(IDS)
    assert failed_message_ids({"batchItemFailures": "b"}, IDS) == set(IDS)
