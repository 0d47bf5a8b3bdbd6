"""`catdog local up` as a real moto server process, driven by the CLI like a user would.

One server for the module (starting it is the slow part); every test drains the queues it uses
first, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from catdog.s3_events import events_from_sqs_body
from catdog_local.cfn import DEFAULT_TEMPLATE, load_template
from catdog_local.state import LocalState
from tests.support.aws import drain, fake_aws_env
from tests.support.images import jpeg_bytes

pytestmark = pytest.mark.slow

CATDOG = [sys.executable, "-m", "catdog_cli.main"]


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A user's shell: no AWS endpoint or credentials exported, only where the state file goes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CATDOG_"))}
    env["CATDOG_STATE_DIR"] = str(tmp_path_factory.mktemp("stacks"))
    return env


@pytest.fixture(scope="module")
def server(cli_env: dict[str, str]) -> Iterator[LocalState]:
    state_file = Path(cli_env["CATDOG_STATE_DIR"]) / "catdog.json"
    # --port 0: the OS picks a free port, and the state file and the output must name the real one
    proc = subprocess.Popen([*CATDOG, "local", "up", "--port", "0"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"catdog local up did not start: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.2)
    state = LocalState.load(state_file)
    assert not state.endpoint.endswith(":0")
    yield state
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert f"local stack 'catdog' (moto) listening on {state.endpoint}" in out
    assert f"export AWS_ENDPOINT_URL={state.endpoint}" in out
    assert not state_file.exists(), "local up must remove its state file when it stops"


@pytest.fixture
def aws(server: LocalState, monkeypatch: pytest.MonkeyPatch) -> LocalState:
    """Point this test process's boto3 at the server (the CLI subprocesses find it via the state file)."""
    fake_aws_env(monkeypatch, server.region, server.endpoint)
    for url in (server.queue_url, server.dlq_url):
        drain(url)
    return server


def _keys(bodies: list[str]) -> list[str]:
    return sorted(e.key for body in bodies for e in events_from_sqs_body(body))


def _catdog(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CATDOG, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_resources_match_the_template(aws: LocalState) -> None:
    template = load_template(DEFAULT_TEMPLATE)
    res = template["Resources"]
    notifications = boto3.client("s3").get_bucket_notification_configuration(Bucket=aws.bucket)
    queue_confs = notifications["QueueConfigurations"]
    assert len(queue_confs) == len(res["ImagesBucket"]["Properties"]["NotificationConfiguration"]
                                   ["QueueConfigurations"])
    assert {c["QueueArn"] for c in queue_confs} == {aws.queue_arn}
    rules = [{r["Name"].lower(): r["Value"] for r in c["Filter"]["Key"]["FilterRules"]} for c in queue_confs]
    assert rules == [{"prefix": "uploads/"}] * 2, "every object under uploads/, created or removed"

    sqs = boto3.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == int(template["Parameters"]["MaxReceiveCount"]["Default"])
    assert redrive["deadLetterTargetArn"].endswith(":catdog-images-dlq")
    # the one local difference, on purpose: a killed worker's messages come back in 2 minutes, not 12
    assert res["ImagesQueue"]["Properties"]["VisibilityTimeout"] == 720
    assert int(attrs["VisibilityTimeout"]) == aws.visibility_timeout == 120

    table = boto3.client("dynamodb").describe_table(TableName=aws.table)["Table"]
    assert table["KeySchema"] == res["ResultsTable"]["Properties"]["KeySchema"]
    created = {g["IndexName"]: g["KeySchema"] for g in table["GlobalSecondaryIndexes"]}
    indexes = res["ResultsTable"]["Properties"]["GlobalSecondaryIndexes"]
    declared = [i.get("Fn::If", [None, i])[1] for i in indexes]
    assert created == {i["IndexName"]: i["KeySchema"] for i in declared}  # every index, at the defaults
    assert aws.function_environment["RESULTS_TABLE"] == aws.table
    assert (aws.batch_size, aws.batching_window_s) == (10, 5.0)


def test_an_image_put_into_the_bucket_reaches_the_queue(aws: LocalState) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws.bucket, Key="uploads/holiday pics/ça va+1.jpg", Body=jpeg_bytes())
    s3.put_object(Bucket=aws.bucket, Key="models/not-an-upload.jpg", Body=jpeg_bytes())  # must not trigger
    s3.put_object(Bucket=aws.bucket, Key="uploads/SCAN.Jpeg", Body=jpeg_bytes())  # any suffix, any case
    time.sleep(0.5)
    assert _keys(drain(aws.queue_url)) == ["uploads/SCAN.Jpeg", "uploads/holiday pics/ça va+1.jpg"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model for the module's one stack: a version names one set of weights (publish refuses
    other bytes under it), and the tiny model's .tflite bytes differ from build to build."""
    from tests.support.model_factory import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("model"))


def test_a_message_that_keeps_failing_ends_in_the_dlq(aws: LocalState, cli_env: dict[str, str]) -> None:
    """No model is published: every delivery fails (a ModelError), until SQS moves it to the DLQ."""
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=aws.bucket, Key="models/latest.json")
    s3.put_object(Bucket=aws.bucket, Key="uploads/orphan.jpg", Body=jpeg_bytes())
    run = _catdog(cli_env, "local", "worker", "--until-empty", "--retry-delay", "0", "--wait", "1",
                  "--batch-window", "0")
    assert run.returncode == 0, run.stderr
    assert f"{aws.max_receive_count} deliveries to retry" in run.stderr and "DLQ holds 1" in run.stderr
    assert _keys(drain(aws.dlq_url)) == ["uploads/orphan.jpg"]
    assert "Item" not in boto3.client("dynamodb").get_item(
        TableName=aws.table, Key={"image": {"S": f"s3://{aws.bucket}/uploads/orphan.jpg"}})


def test_upload_worker_results_end_to_end(aws: LocalState, tiny_model: Path, cli_env: dict[str, str],
                                          tmp_path: Path) -> None:
    from training_job.publish import publish_model

    publish_model(tiny_model, f"s3://{aws.bucket}/models/", min_accuracy=0)
    photos = tmp_path / "photos"
    (photos / "red ones").mkdir(parents=True)
    (photos / "red ones" / "rød+kat.jpg").write_bytes(jpeg_bytes(color=(230, 20, 20)))
    (photos / "blue dog.png").write_bytes(jpeg_bytes(color=(20, 20, 230)))
    (photos / "broken.jpg").write_bytes(b"this is not a jpeg")

    up = _catdog(cli_env, "upload", str(photos), "--quiet")  # no --bucket: the state file names it
    assert up.returncode == 0, up.stderr
    assert "uploaded 3 files" in up.stdout
    run = _catdog(cli_env, "local", "worker", "--until-empty", "--retry-delay", "0", "--wait", "1",
                  "--batch-window", "0")
    assert run.returncode == 0, run.stderr

    cats = json.loads(_catdog(cli_env, "results", "--label", "cat", "--format", "json").stdout)
    assert [i["image"] for i in cats] == [f"s3://{aws.bucket}/uploads/red ones/rød+kat.jpg"]
    assert cats[0]["model_version"] == "test-v1" and cats[0]["status"] == "classified"
    dogs = json.loads(_catdog(cli_env, "results", "--label", "dog", "--format", "json").stdout)
    assert [i["image"] for i in dogs] == [f"s3://{aws.bucket}/uploads/blue dog.png"]
    failed = json.loads(_catdog(cli_env, "results", "--status", "failed", "--format", "json").stdout)
    assert [(i["image"].rsplit("/", 1)[-1], i["reason"]) for i in failed] == [("broken.jpg", "not_an_image")]
    assert drain(aws.dlq_url) == []


def test_invoke_runs_the_handler_on_the_shipped_event_file(aws: LocalState, tiny_model: Path,
                                                           cli_env: dict[str, str]) -> None:
    """`catdog invoke -e events/sqs-s3.json`: the names in that file are the local stack's."""
    from training_job.publish import publish_model

    event_file = Path(__file__).resolve().parents[2] / "events" / "sqs-s3.json"
    event = json.loads(event_file.read_text())
    keys = [e.key for r in event["Records"] for e in events_from_sqs_body(r["body"])]
    assert keys, "the example event names at least one image"
    s3 = boto3.client("s3")
    for key in keys:
        s3.put_object(Bucket=aws.bucket, Key=key, Body=jpeg_bytes(color=(230, 10, 10)))
    publish_model(tiny_model, f"s3://{aws.bucket}/models/", min_accuracy=0)

    run = _catdog(cli_env, "invoke", "--event", str(event_file))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"batchItemFailures": []}  # stdout is the response only, like SAM
    ddb = boto3.client("dynamodb")
    for key in keys:
        item = ddb.get_item(TableName=aws.table, Key={"image": {"S": f"s3://{aws.bucket}/{key}"}})["Item"]
        assert (item["status"]["S"], item["label"]["S"]) == ("classified", "cat")


def test_event_piped_into_invoke_classifies_the_uploaded_photo(aws: LocalState, tiny_model: Path,
                                                                cli_env: dict[str, str]) -> None:
    """The README's path: `catdog event s3-put KEY | catdog invoke -e -`, names from the state file."""
    from training_job.publish import publish_model

    publish_model(tiny_model, f"s3://{aws.bucket}/models/", min_accuracy=0)
    boto3.client("s3").put_object(Bucket=aws.bucket, Key="uploads/piped cat.jpg",
                                  Body=jpeg_bytes(color=(230, 10, 10)))

    version = _catdog(cli_env, "--version")
    assert version.returncode == 0
    assert f"model test-v1 (s3://{aws.bucket}/models/latest.json)" in version.stdout

    event = _catdog(cli_env, "event", "s3-put", "uploads/piped cat.jpg")
    assert event.returncode == 0, event.stderr
    run = subprocess.run([*CATDOG, "invoke", "-e", "-"], input=event.stdout, env=cli_env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"model_version": "test-v1", "classified": 1}

    missing = _catdog(cli_env, "event", "s3-put", "uploads/never there.jpg")
    assert "does not exist" in missing.stderr
    gone = subprocess.run([*CATDOG, "invoke", "-e", "-"], input=missing.stdout, env=cli_env,
                          capture_output=True, text=True, timeout=120)
    assert json.loads(gone.stdout) == {"model_version": "test-v1", "gone": 1}
    assert "no longer exists: nothing was classified" in gone.stderr
