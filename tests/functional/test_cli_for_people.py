"""The CLI as a newcomer meets it: no silent waits, no false messages (moto in-process, the template's stack).

Each test reproduces one complaint of the issue first: `(no results)` for 12 minutes while nothing
said that no model was published, `--label cats` answering `(no results)`, `backfill s3://bucket`
queueing models/..., Ctrl-C during upload saying "interrupted" while the upload went on, a killed
worker's messages waited for in silence.
"""

from __future__ import annotations

import _thread
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from catdog_cli.main import main
from catdog_cli.upload import UploadItem, upload_items
from catdog_local.provision import Stack, provision
from catdog_local.state import LocalState
from catdog_local.worker import EventSourceMapping, QueueDepth, Worker
from tests.functional.conftest import REGION
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from training_job.publish import publish_model


@pytest.fixture
def stack(aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    """The template's stack in moto, registered as a running local stack (this process serves it)."""
    monkeypatch.setenv("CATDOG_STATE_DIR", str(tmp_path / "stacks"))
    for var in ("CATDOG_BUCKET", "CATDOG_TABLE", "CATDOG_QUEUE_URL", "CATDOG_STACK"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws():
        st = provision(stack_name="catdog", region=REGION)
        state = LocalState.from_stack(st, endpoint="")
        state.save()
        # connect() points boto3 at a state's endpoint: moto's in-process mock has none, keep it unset
        monkeypatch.setattr("catdog_cli.targets.apply_endpoint_env", lambda *a, **k: {})
        _drain(st.queue_url)
        yield st


def _drain(url: str) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=0).get("Messages", []):
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_an_empty_result_says_no_model_is_published_and_what_waits(
        stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("s3").put_object(Bucket=stack.bucket, Key="uploads/a.jpg", Body=jpeg_bytes())

    assert main(["results"]) == 0

    out = capsys.readouterr()
    assert out.out.strip() == "(no results)"
    assert "no model is published" in out.err and "catdog publish" in out.err
    assert "1 message waiting" in out.err


def test_a_label_the_model_does_not_have_names_the_valid_ones(stack: Stack, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    publish_model(build_tiny_model_dir(tmp_path / "m"), f"s3://{stack.bucket}/models/", min_accuracy=0)

    assert main(["results", "--label", "cats"]) == 2
    err = capsys.readouterr().err
    assert "no label 'cats': the live model answers cat, dog, unknown; did you mean 'cat'?" in err
    assert main(["results", "--label", "dog"]) == 0  # a real label with no items yet: no error


def test_backfill_of_a_bare_bucket_queues_its_uploads_only(stack: Stack,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stack.bucket, Key="uploads/a.jpg", Body=jpeg_bytes())
    s3.put_object(Bucket=stack.bucket, Key="models/v1/learning_curves.png", Body=b"png")
    _drain(stack.queue_url)

    assert main(["backfill", f"s3://{stack.bucket}", "--quiet"]) == 0
    assert f"queued 1 object from s3://{stack.bucket}/uploads/" in capsys.readouterr().out
    assert main(["backfill", f"s3://{stack.bucket}/models/"]) == 2
    assert "classifies only objects under uploads/" in capsys.readouterr().err


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Python's own SIGINT handler, as under a terminal.

    A shell starts background jobs with SIGINT ignored, and then `_thread.interrupt_main()` does
    nothing: without this the test would depend on how the suite was launched.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_during_an_upload_stops_it_and_says_what_was_sent(stack: Stack, tmp_path: Path) -> None:
    files = []
    for i in range(40):
        path = tmp_path / f"p{i:02d}.jpg"
        path.write_bytes(jpeg_bytes())
        files.append(UploadItem(path, f"uploads/p{i:02d}.jpg"))
    real = boto3.client("s3")
    calls = []

    class InterruptedS3:
        def put_object(self, **kw: Any) -> Any:
            calls.append(kw["Key"])
            if len(calls) == 5:
                _thread.interrupt_main()  # Ctrl-C: KeyboardInterrupt in the main thread, as a terminal does
            return real.put_object(**kw)

    report = upload_items(InterruptedS3(), stack.bucket, files, workers=1, progress=False)

    stored = {o["Key"] for o in real.list_objects_v2(Bucket=stack.bucket).get("Contents", [])}
    assert report.interrupted
    assert len(calls) < len(files), "the upload went on after Ctrl-C"
    assert set(report.uploaded) == stored, "the report names exactly what was uploaded"


def test_a_worker_waiting_on_messages_in_flight_says_so(stack: Stack) -> None:
    """A worker killed mid-batch leaves messages invisible: the next one used to wait without a word."""
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"Records": []}))
    sqs.receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=30)  # the killed worker took it
    worker = Worker(sqs, EventSourceMapping(stack.queue_url, stack.queue_arn), lambda e, c: None, object,
                    wait_time_s=0)
    heard: list[QueueDepth] = []

    def on_idle(depth: QueueDepth) -> None:
        heard.append(depth)
        worker.stop()

    threading.Timer(10, worker.stop).start()  # a guard: never hang the suite
    worker.run(until_empty=True, on_idle=on_idle)
    assert heard and heard[0].in_flight == 1 and heard[0].visible == 0


def test_results_csv_has_the_same_columns_whatever_the_filter(stack: Stack,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from catdog.classifier import Prediction
    from catdog.results import ImageFacts, ResultsTable
    from catdog.s3_events import ObjectEvent

    table = ResultsTable.named(stack.table)
    event = ObjectEvent(stack.bucket, "uploads/a.jpg", "ObjectCreated:Put")
    table.put_classified(event, ImageFacts("e", 1, observed_at="2026-01-01T00:00:00.000000Z"),
                         Prediction("cat", 0.9, {"cat": 0.9, "dog": 0.1}), "v1")
    table.put_failed(ObjectEvent(stack.bucket, "uploads/b.jpg", "ObjectCreated:Put"), "not an image",
                     "not_an_image", ImageFacts("f", 1))
    headers = []
    for argv in (["results", "--format", "csv"], ["results", "--format", "csv", "--status", "failed"],
                 ["results", "--format", "csv", "--label", "cat"]):
        assert main(argv) == 0
        headers.append(capsys.readouterr().out.splitlines()[0])
    assert len(set(headers)) == 1, headers


def test_results_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """`catdog results | head` used to die with BrokenPipeError and a traceback."""
    import subprocess
    import sys

    script = ("import sys, catdog_cli.commands.results as c, catdog_cli.main as m\n"
              "c.cmd_results = lambda args: [print(f'row {i}') for i in range(200000)] and 0\n"
              "sys.exit(m.main(['results', '--table', 't']))\n")
    run = subprocess.run(f"{sys.executable} -c \"{script}\" | head -1", shell=True, capture_output=True,
                         text=True, timeout=120, executable="/bin/bash")
    assert run.stdout == "row 0\n"
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr, run.stderr


def test_a_table_that_does_not_exist_is_named(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "--table", "no-such-table"]) == 3
    assert "table 'no-such-table' does not exist" in capsys.readouterr().err


def test_invoke_without_a_stack_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """It used to print a Powertools warning and "missing environment variable(s)"."""
    monkeypatch.setenv("CATDOG_STATE_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("CATDOG_STACK", raising=False)
    assert main(["invoke", "-e", "events/s3-put.json"]) == 3
    err = capsys.readouterr().err
    assert "no local stack is running: start one with `catdog local up`" in err and "--env-vars" in err
    assert "missing environment variable" not in err and "Powertools" not in err


def test_ctrl_c_during_a_batch_says_its_messages_come_back(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The interrupted worker names what it held (the idle one, in tests/integration/test_ctrl_c.py,
    holds nothing and says so)."""
    boto3.client("s3").put_object(Bucket=stack.bucket, Key="uploads/a.jpg", Body=jpeg_bytes())

    def handler(event: dict[str, Any], context: Any) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the function runs

    monkeypatch.setattr("catdog_cli.local_worker.prepare_handler", lambda env: (handler, None))
    assert main(["local", "worker", "--until-empty", "--batch-window", "0", "--log-file",
                 str(tmp_path / "worker.log")]) == 130
    err = capsys.readouterr().err
    assert "interrupted with 1 message in progress, not acknowledged: back on the queue after the " \
           "visibility timeout" in err
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1", "still on the queue, in flight"


def test_local_down_says_what_it_discards(stack: Stack) -> None:
    """The README tour's last line wiped the uploads, the model and the results without a word."""
    from catdog_cli.local_stack import holdings
    from catdog_local.state import find_stack

    s3 = boto3.client("s3")
    for key in ("uploads/a.jpg", "uploads/b.jpg", "models/v1/model.tflite", "models/v1/manifest.json",
                "models/latest.json", "models/history/0001.json"):
        s3.put_object(Bucket=stack.bucket, Key=key, Body=b"x")
    boto3.client("dynamodb").put_item(TableName=stack.table, Item={"image": {"S": "s3://b/uploads/a.jpg"}})
    assert holdings(find_stack("catdog")) == ("2 uploads, 1 model version, 1 result, 2 messages queued, "
                                              "0 in the DLQ")


def test_local_up_takes_another_port_when_its_usual_one_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS's AirPlay receiver listens on 5000: `local up` (and the README tour) failed there."""
    import socket

    from catdog_cli.local_stack import PORT_ENV, default_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setenv(PORT_ENV, str(busy))
        port, note = default_port()
        assert port != busy and f"port {busy} is taken" in note and str(port) in note
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # it is free to listen on
    monkeypatch.setenv(PORT_ENV, str(busy))
    assert default_port() == (busy, ""), "free again: the usual port, said nothing"
