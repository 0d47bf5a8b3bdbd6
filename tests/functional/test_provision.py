"""provision() builds the data path from template.yaml in moto, and S3 → SQS delivery really works."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from catdog_local.provision import Stack, provision
from tests.functional.conftest import REGION
from tests.support.aws import drain
from tests.support.paths import REPO


def _drain(url: str) -> list[dict]:
    return [json.loads(body) for body in drain(url, REGION)]


def test_resources_match_the_template(stack: Stack) -> None:
    assert stack.bucket == f"t-images-{stack.account}-{REGION}"
    assert stack.table == "t-results"
    assert (stack.max_receive_count, stack.visibility_timeout) == (5, 720)
    table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=stack.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "image", "KeyType": "HASH"}]
    indexes = {g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]]
               for g in table["GlobalSecondaryIndexes"]}
    assert indexes == {"label-index": ["label", "processed_at"], "status-index": ["status", "processed_at"],
                       "model-index": ["model_version", "processed_at"],
                       "review-index": ["human_label", "reviewed_at"],
                       "shadow-index": ["shadow_agreement", "processed_at"]}
    attrs = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    dlq_arn = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=stack.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn
    s3 = boto3.client("s3", region_name=REGION)
    block = s3.get_public_access_block(Bucket=stack.bucket)["PublicAccessBlockConfiguration"]
    assert block["BlockPublicAcls"]
    rule = s3.get_bucket_encryption(Bucket=stack.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_function_environment_names_the_created_resources(stack: Stack) -> None:
    env = stack.function_environment
    assert env["RESULTS_TABLE"] == stack.table
    assert env["MODEL_BUCKET"] == stack.bucket
    assert env["MODEL_KEY"] == "models/latest.json"


def test_s3_notifications_reach_the_queue_for_every_upload_and_nothing_else(stack: Stack) -> None:
    assert [b.get("Event") for b in _drain(stack.queue_url)] == ["s3:TestEvent"]
    s3 = boto3.client("s3", region_name=REGION)
    for key in ("uploads/my cat.jpg", "uploads/DOG.JPEG", "uploads/notes.txt", "models/v1/x.png", "a.png"):
        s3.put_object(Bucket=stack.bucket, Key=key, Body=b"x")
    s3.delete_object(Bucket=stack.bucket, Key="uploads/my cat.jpg")
    events = [(r["eventName"], unquote_plus(r["s3"]["object"]["key"]))
              for body in _drain(stack.queue_url) for r in body["Records"]]
    assert sorted(events) == [  # any name under uploads/ (the function reads the content); no models/
        ("ObjectCreated:Put", "uploads/DOG.JPEG"),
        ("ObjectCreated:Put", "uploads/my cat.jpg"),
        ("ObjectCreated:Put", "uploads/notes.txt"),
        ("ObjectRemoved:Delete", "uploads/my cat.jpg"),
    ]


def test_provision_is_idempotent(stack: Stack) -> None:
    again = provision(stack_name="t", region=REGION)
    assert (again.queue_url, again.bucket, again.table) == (stack.queue_url, stack.bucket, stack.table)


def test_missing_template_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="template not found"):
        provision(template_path=tmp_path / "nope.yaml")


def test_function_environment_leaves_out_empty_values(stack: Stack) -> None:
    raw = stack.template["Resources"]["ClassifyFunction"]["Properties"]["Environment"]["Variables"]
    assert raw["AWS_ENDPOINT_URL"] == "", "declared empty so sam local --env-vars can override it"
    assert "AWS_ENDPOINT_URL" not in stack.function_environment


@pytest.mark.parametrize(("count", "expected"), [
    ("0", ["label-index"]),
    ("1", ["label-index", "status-index"]),
    ("2", ["label-index", "model-index", "status-index"]),
    ("3", ["label-index", "model-index", "review-index", "status-index"]),
])
def test_review_indexes_can_be_added_one_per_update(aws_env: str, count: str, expected: list[str]) -> None:
    """CloudFormation creates one GSI per stack update: ReviewIndexes=1, 2, 3, then 4 upgrades an old
    stack."""
    with mock_aws():
        stack = provision(stack_name="t", region=REGION, parameters={"ReviewIndexes": count})
        table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=stack.table)["Table"]
        assert sorted(g["IndexName"] for g in table["GlobalSecondaryIndexes"]) == expected
        keys = {k["AttributeName"] for g in table["GlobalSecondaryIndexes"] for k in g["KeySchema"]}
        assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == keys | {"image"}


ALARMS = {"DeadLetterQueueDepthAlarm", "FailedImagesAlarm", "UnknownShareAlarm"}
NOTIFY = {"AlarmTopic", "AlarmTopicPolicy", "AlarmEmailSubscription"}


def test_alarms_and_their_topic_exist_only_in_aws_and_follow_their_condition(aws_env: None) -> None:
    """Without AlertEmail the topic, its policy and subscription are disabled by their condition;
    with it they are listed as AWS-only, like the alarms: never created in moto, never an error."""
    with mock_aws():
        plain = provision(stack_name="t", region=REGION)
        emailed = provision(stack_name="t", region=REGION, parameters={"AlertEmail": "ops@example.com"})
    assert set(plain.skipped) >= ALARMS and set(emailed.skipped) >= ALARMS
    assert plain.disabled == {**dict.fromkeys(NOTIFY, "HasAlertEmail"), "XRayLayer": "TracingActive"}
    assert set(emailed.skipped) >= NOTIFY and not NOTIFY & set(emailed.disabled)
    assert emailed.skipped["AlarmTopic"] == "AWS::SNS::Topic"
    data_path = {"ImagesDeadLetterQueue", "ImagesQueue", "ImagesBucket", "ResultsTable"}
    assert set(plain.created) == set(emailed.created) == data_path


def test_a_resource_type_the_local_stack_does_not_know_stops_provision(aws_env: None, tmp_path: Path) -> None:
    """Input: template.yaml plus an `AWS::Events::Rule`, a type neither created locally nor listed
    as AWS-only: provision names it instead of leaving a silent gap in the local stack."""
    text = (REPO / "template.yaml").read_text().replace("\nResources:\n", "\nResources:\n  NightlyBackfill:\n"
                                                         "    Type: AWS::Events::Rule\n"
                                                         "    Properties:\n"
                                                         "      ScheduleExpression: rate(1 day)\n", 1)
    (tmp_path / "template.yaml").write_text(text)
    with mock_aws(), pytest.raises(ValueError, match=r"NightlyBackfill \(AWS::Events::Rule\).*AWS_ONLY"):
        provision(template_path=tmp_path / "template.yaml", stack_name="t", region=REGION)
