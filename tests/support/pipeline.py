"""The pipeline in one process: moto's S3/SQS/DynamoDB built from template.yaml, the real handler
file, and the local worker standing in for Lambda's SQS event source mapping.

Shared by the hostile-input, batch-isolation and fault tests, so that they all exercise the very
same path: put_object → S3 notification → queue → worker → `functions/classify/app.py` → results table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from catdog.manifest import MANIFEST_FILE, TFLITE_FILE, Manifest, ModelPointer, sha256_file
from catdog.model_repo import ModelRepo
from catdog_local.lambda_runtime import LambdaContext, load_module
from catdog_local.provision import Stack, provision
from catdog_local.worker import EventSourceMapping, Worker, WorkerStats
from tests.support.aws import FAKE_CREDENTIALS, scan_all

REGION = "us-east-1"
_FAKE_ENV = {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_TRACE_DISABLED": "true",
             "POWERTOOLS_METRICS_NAMESPACE": "catdog"}


def publish_model(s3: Any, bucket: str, model_dir: Path) -> str:
    """The model files under models/<version>/, then models/latest.json: what `catdog publish` does,
    without its quality gate. Returns the version."""
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    pointer = ModelPointer.for_version("models/", manifest["version"])
    s3.upload_file(str(model_dir / MANIFEST_FILE), bucket, pointer.manifest_key)
    s3.upload_file(str(model_dir / TFLITE_FILE), bucket, pointer.model_key)
    s3.put_object(Bucket=bucket, Key="models/latest.json", Body=pointer.to_json().encode())
    return str(manifest["version"])


def publish_shadow(s3: Any, bucket: str, model_dir: Path) -> ModelPointer:
    """The model's files under models/<version>/ and models/shadow.json naming them with the sha256 of
    every file, as `catdog models shadow` writes it, but without its checks: what the function must
    refuse by itself (a pointer written by hand, or a live model that changed since). Returns it."""
    manifest = Manifest.from_json((model_dir / MANIFEST_FILE).read_text())
    repo = ModelRepo(s3, bucket)
    repo.upload_version(model_dir, manifest.version)
    pointer = ModelPointer.for_version(repo.prefix, manifest.version, checksums={
        **manifest.checksums, MANIFEST_FILE: sha256_file(model_dir / MANIFEST_FILE)})
    repo.set_shadow(pointer)
    return pointer


@contextmanager
def _patched_environ(values: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    for name in remove:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Pipeline:
    stack: Stack
    app: ModuleType

    @property
    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION)

    @property
    def sqs(self) -> Any:
        return boto3.client("sqs", region_name=REGION)

    def put(self, key: str, body: bytes, **extra: Any) -> None:
        """`extra`: more `put_object` arguments (e.g. `StorageClass`)."""
        self.s3.put_object(Bucket=self.stack.bucket, Key=key, Body=body, **extra)

    def uri(self, key: str) -> str:
        return f"s3://{self.stack.bucket}/{key}"

    def publish(self, model_dir: Path) -> str:
        return publish_model(self.s3, self.stack.bucket, model_dir)

    def shadow(self, model_dir: Path) -> ModelPointer:
        return publish_shadow(self.s3, self.stack.bucket, model_dir)

    def worker(self, *, batch_size: int = 10, retry_delay_s: int | None = 0) -> Worker:
        mapping = EventSourceMapping(self.stack.queue_url, self.stack.queue_arn, batch_size=batch_size)
        return Worker(self.sqs, mapping, self.app.handler, LambdaContext, retry_delay_s=retry_delay_s,
                      wait_time_s=0)

    def drain(self, *, batch_size: int = 10, max_batches: int = 1000) -> WorkerStats:
        """Run the worker until the queue is empty (retried messages come back at once)."""
        worker = self.worker(batch_size=batch_size)
        total = WorkerStats()
        for _ in range(max_batches):
            messages = worker.receive_batch()
            if not messages:
                if worker.queue_is_drained():
                    break
                continue
            total.add(worker.process(messages))
        return total

    def items(self) -> dict[str, dict[str, Any]]:
        by_image: dict[str, dict[str, Any]] = {}
        for item in scan_all(boto3.resource("dynamodb", region_name=REGION).Table(self.stack.table)):
            assert item["image"] not in by_image, f"two items for {item['image']}"
            by_image[item["image"]] = item
        return by_image

    def item(self, key: str) -> dict[str, Any] | None:
        """The results item of one key (a GetItem: cheaper than `items()` on a big table)."""
        table = boto3.resource("dynamodb", region_name=REGION).Table(self.stack.table)
        found: dict[str, Any] | None = table.get_item(Key={"image": self.uri(key)}).get("Item")
        return found

    def count(self) -> int:
        return int(boto3.client("dynamodb", region_name=REGION).scan(
            TableName=self.stack.table, Select="COUNT")["Count"])

    def queue_depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.stack.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())


@contextmanager
def moto_pipeline(cache_dir: Path, **parameters: Any) -> Iterator[Pipeline]:
    """A fresh in-process stack and a freshly imported handler (a cold container)."""
    from moto import mock_aws

    with _patched_environ(_FAKE_ENV, remove=("AWS_ENDPOINT_URL", "AWS_PROFILE")), mock_aws():
        stack = provision(stack_name="catdog", region=REGION, parameters=parameters or None)
        os.environ.update(stack.function_environment)
        os.environ["MODEL_CACHE_DIR"] = str(cache_dir)
        yield Pipeline(stack, load_module())


def function_stack(monkeypatch: Any, tmp_path: Path, stack_name: str = "catdog") -> Iterator[Stack]:
    """For a pytest fixture: the default local stack (catdog, us-east-1, the name `events/*.json`
    carry; `stack_name` for another) in moto, with this process's environment set as the
    function's would be."""
    from moto import mock_aws

    for name, value in _FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("CATDOG_BUCKET", raising=False)
    monkeypatch.setenv("CATDOG_STATE_DIR", str(tmp_path / "no-local-stacks"))
    with mock_aws():
        stack = provision(stack_name=stack_name, region=REGION)
        for name, value in stack.function_environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "model-cache"))
        yield stack
