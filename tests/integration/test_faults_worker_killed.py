"""A real worker process SIGKILLed mid-batch against the moto server: its messages come back after
the visibility timeout, a new worker finishes them, and every image ends with exactly one item.

The functional fault test simulates the kill in-process; this one kills an actual process, so no
`finally`, no buffered write and no connection teardown can hide anything.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from PIL import Image

from catdog.manifest import MANIFEST_FILE, TFLITE_FILE, ModelPointer
from catdog_local.moto_server import LocalAws, endpoint_env, free_port
from catdog_local.provision import provision
from tests.support.model_factory import build_tiny_model_dir
from tests.support.paths import REPO

pytestmark = pytest.mark.slow
REGION = "us-east-1"
N_IMAGES = 20
VISIBILITY_S = 3  # the template's 720 s, shortened so the test does not wait 12 minutes

#: A worker whose every table write takes 0.4 s, so that a batch is reliably half-written when
#: the test kills it. Everything else is the shipped code: handler file, worker, SQS event shape.
WORKER = """
import os, sys, time
import boto3
import catdog.results as results
from catdog_local.lambda_runtime import LambdaContext, load_module
from catdog_local.worker import EventSourceMapping, Worker

slow = float(os.environ.get("SLOW_WRITE_S", "0"))
original = results.ResultsTable._write
def _write(self, *args, **kwargs):
    written = original(self, *args, **kwargs)
    time.sleep(slow)
    return written
results.ResultsTable._write = _write
app = load_module()
mapping = EventSourceMapping(sys.argv[1], sys.argv[2], batch_size=10)
worker = Worker(boto3.client("sqs", region_name="us-east-1"), mapping, app.handler, LambdaContext,
                retry_delay_s=0, wait_time_s=1)
print("ready", flush=True)
worker.run(until_empty=os.environ.get("UNTIL_EMPTY") == "1")
"""


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 20 + i, 20)).save(buf, "JPEG")
    return buf.getvalue()


def test_sigkilled_worker_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    model_dir = build_tiny_model_dir(tmp_path / "model", version="kill-v1")
    with LocalAws(port=free_port()) as aws, endpoint_env(aws.endpoint, REGION):
        stack = provision(stack_name="killtest", region=REGION)
        s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
        table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
        pointer = ModelPointer.for_version("models/", "kill-v1")
        s3.upload_file(str(model_dir / MANIFEST_FILE), stack.bucket, pointer.manifest_key)
        s3.upload_file(str(model_dir / TFLITE_FILE), stack.bucket, pointer.model_key)
        s3.put_object(Bucket=stack.bucket, Key="models/latest.json", Body=pointer.to_json().encode())
        sqs.set_queue_attributes(QueueUrl=stack.queue_url,
                                 Attributes={"VisibilityTimeout": str(VISIBILITY_S)})
        keys = [f"uploads/kill/{i:02d}.jpg" for i in range(N_IMAGES)]
        for i, key in enumerate(keys):
            s3.put_object(Bucket=stack.bucket, Key=key, Body=_jpeg(i))

        env = {**os.environ, **stack.function_environment, "AWS_ENDPOINT_URL": aws.endpoint,
               "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
               "MODEL_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
        args = [sys.executable, "-c", WORKER, stack.queue_url, stack.queue_arn]
        victim = subprocess.Popen(args, env={**env, "SLOW_WRITE_S": "0.4"}, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert victim.stdout is not None and victim.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 120
            while table.scan(Select="COUNT")["Count"] < 3:
                assert time.monotonic() < deadline, "the worker never wrote"
                time.sleep(0.05)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
        written_before = table.scan(Select="COUNT")["Count"]
        assert 3 <= written_before < N_IMAGES, "the kill must land mid-run"

        rescuer = subprocess.run(args, env={**env, "UNTIL_EMPTY": "1"}, cwd=REPO, timeout=240,
                                 capture_output=True, text=True)
        assert rescuer.returncode == 0, rescuer.stderr[-2000:]

        items = table.scan()["Items"]
        by_image = {item["image"]: item for item in items}
        assert len(items) == len(by_image) == N_IMAGES, "one item per image: none lost, none doubled"
        assert set(by_image) == {f"s3://{stack.bucket}/{k}" for k in keys}
        assert all(item["status"] == "classified" and item["label"] == "cat" for item in items)
        for url in (stack.queue_url, stack.dlq_url):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            assert sum(int(v) for v in attrs.values()) == 0, (url, attrs)
