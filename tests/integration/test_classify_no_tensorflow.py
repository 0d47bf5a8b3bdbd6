"""The Lambda path never imports TensorFlow: prove it in a clean interpreter that runs a real invoke."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.aws import FAKE_CREDENTIALS
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.paths import REPO

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
    model_dir = build_tiny_model_dir(tmp_path / "model")
    image = tmp_path / "cat.jpg"
    image.write_bytes(jpeg_bytes(color=(220, 30, 30)))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **FAKE_CREDENTIALS,
           "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
           "MODEL_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(model_dir), str(image)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["result"]["classified"] == 1, report
    assert report["heavy"] == [], f"the handler path imported {report['heavy']}"
