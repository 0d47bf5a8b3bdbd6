"""The Lambda path never imports TensorFlow: prove it in a clean interpreter that runs a real invoke."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.handler_process import run_handler_script

SCRIPT = r"""
import json, os, sys
from pathlib import Path
import boto3
from moto import mock_aws
from catdog.manifest import ModelPointer
from catdog_local.provision import provision
from catdog_local.lambda_runtime import LambdaContext, load_handler

model_dir, image = Path(sys.argv[1]), Path(sys.argv[2])
with mock_aws():
    stack = provision(region="us-east-1")
    os.environ.update(stack.function_environment)
    s3 = boto3.client("s3", region_name="us-east-1")
    pointer = ModelPointer.for_version("models/", "test-v1")
    s3.upload_file(str(model_dir / "manifest.json"), stack.bucket, pointer.manifest_key)
    s3.upload_file(str(model_dir / "model.tflite"), stack.bucket, pointer.model_key)
    s3.put_object(Bucket=stack.bucket, Key="models/latest.json", Body=pointer.to_json())
    s3.upload_file(str(image), stack.bucket, "uploads/my cat.jpg")
    event = json.loads(Path("events/s3-put.json").read_text())
    result = load_handler()(event, LambdaContext())
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
    print(json.dumps({"result": result, "heavy": heavy}))
"""


@pytest.mark.slow
def test_handler_invocation_imports_no_tensorflow(tmp_path: Path) -> None:
    report, _ = run_handler_script(SCRIPT, tmp_path, POWERTOOLS_TRACE_DISABLED="true")
    assert report["result"]["classified"] == 1, report
    assert report["heavy"] == [], f"the handler path imported {report['heavy']}"
