"""The function works without the X-Ray SDK, as the catdog layer ships it (Tracing=PassThrough).

Powertools' Tracer imports `aws_xray_sdk` as soon as one is built, so a handler that always built
one would fail to import from a layer without it. Here the SDK is made unimportable
(`sys.modules["aws_xray_sdk"] = None`, so `import aws_xray_sdk` raises) in a fresh interpreter that
looks like Lambda to Powertools (LAMBDA_TASK_ROOT set, tracing asked for), and a real invocation
must still classify a photo, from a direct S3 event and from an SQS batch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.handler_process import run_handler_script
from tests.support.paths import REPO

pytestmark = pytest.mark.slow

SCRIPT = r"""
import sys
sys.modules["aws_xray_sdk"] = None  # `import aws_xray_sdk` now raises ImportError, as in the layer
import json, os
from pathlib import Path
import boto3
from moto import mock_aws
from catdog_local.events import s3_notification, s3_record, to_event
from catdog_local.provision import provision
from catdog_local.lambda_runtime import LambdaContext, load_handler
from tests.support.pipeline import publish_model

model_dir, image = Path(sys.argv[1]), Path(sys.argv[2])
with mock_aws():
    stack = provision(region="us-east-1")
    os.environ.update(stack.function_environment)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "false"  # what Tracing=Active sets: asked for, no SDK
    s3 = boto3.client("s3", region_name="us-east-1")
    publish_model(s3, stack.bucket, model_dir)
    s3.upload_file(str(image), stack.bucket, "uploads/my cat.jpg")
    s3.upload_file(str(image), stack.bucket, "uploads/queued.jpg")
    handler = load_handler()
    direct = handler(json.loads(Path("events/s3-put.json").read_text()), LambdaContext())
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "MD5OfBody": "x",
               "Body": s3_notification(s3_record(stack.bucket, "uploads/queued.jpg")),
               "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}}
    batch = handler(to_event([message], stack.queue_arn), LambdaContext())
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(stack.table)
    item = table.get_item(Key={"image": f"s3://{stack.bucket}/uploads/queued.jpg"}).get("Item", {})
    print(json.dumps({"direct": direct, "batch": batch, "queued": {k: str(v) for k, v in item.items()},
                      "xray": repr(sys.modules.get("aws_xray_sdk"))}))
"""


def test_a_real_invocation_needs_no_xray_sdk(tmp_path: Path) -> None:
    report, stderr = run_handler_script(SCRIPT, tmp_path,  # Powertools: "in Lambda"
                                LAMBDA_TASK_ROOT=str(REPO / "functions" / "classify"))
    assert report["direct"]["classified"] == 1, report
    assert report["batch"] == {"batchItemFailures": []}, report
    assert report["queued"]["status"] == "classified" and report["queued"]["label"] == "cat", report
    assert report["xray"] == "None", "nothing imported the SDK behind the blocker's back"
    assert "X-Ray SDK is not installed" in stderr, "tracing was asked for: the log says why not"
