"""`catdog backfill --changed-only`: after a model change, only what another version answered is
re-classified (through the real queue, worker and handler), and the label transitions are counted."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from catdog.classifier import Prediction
from catdog.results import ImageFacts, ResultsTable
from catdog.s3_events import ObjectEvent
from catdog.s3uri import S3Uri
from catdog_cli import backfill_changed
from catdog_cli.main import main
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.pipeline import moto_pipeline

RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """v1 says reddish = cat; v2 has its labels the other way round, so every answer flips."""
    return {"v1": build_tiny_model_dir(tmp_path_factory.mktemp("v1"), version="v1"),
            "v2": build_tiny_model_dir(tmp_path_factory.mktemp("v2"), labels=("dog", "cat"), version="v2")}


@contextmanager
def _worker(pipe: Any) -> Iterator[None]:
    """What `catdog local worker` does in another terminal, while the block runs."""
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            pipe.drain()
            time.sleep(0.1)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def _changed_only(pipe: Any, timeout: int) -> list[str]:
    return ["backfill", f"s3://{pipe.stack.bucket}/uploads/", "--changed-only", "--queue-url",
            pipe.stack.queue_url, "--table", pipe.stack.table, "--quiet", "--timeout", str(timeout)]


def test_only_the_old_model_s_answers_are_redone_and_the_transitions_reported(
        tmp_path: Path, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with moto_pipeline(tmp_path / "cache", ModelRefreshSeconds="0") as pipe:
        pipe.publish(models["v1"])
        for i in range(3):
            pipe.put(f"uploads/red-{i}.jpg", jpeg_bytes(color=RED))
        for i in range(2):
            pipe.put(f"uploads/blue-{i}.jpg", jpeg_bytes(color=BLUE))
        pipe.put("elsewhere/red.jpg", jpeg_bytes(color=RED))  # not under uploads/: never an item
        pipe.drain()
        assert {i["model_label"] for i in pipe.items().values()} == {"cat", "dog"}
        pipe.publish(models["v2"])
        args = _changed_only(pipe, timeout=60)
        with _worker(pipe):
            assert main(args) == 0
        out = capsys.readouterr().out
        assert "queued 5 images answered by another model than the live v2 (v1 5)" in out
        assert "answered by v2: 5 of 5" in out
        assert "labels changed: 5 (cat→dog 3, dog→cat 2), unchanged 0" in out
        assert {i["model_version"] for i in pipe.items().values()} == {"v2"}

        assert main(args) == 0  # nothing left to do
        assert "nothing to re-classify" in capsys.readouterr().out


def test_an_answer_from_a_container_still_on_the_old_model_is_reported_not_counted(tmp_path: Path) -> None:
    with moto_pipeline(tmp_path / "cache") as pipe:
        ddb = boto3.client("dynamodb")
        writer = ResultsTable.named(pipe.stack.table)
        event = ObjectEvent(bucket=pipe.stack.bucket, key="uploads/a.jpg", event_name="ObjectCreated:Put")

        def answer(version: str) -> None:
            facts, prediction = ImageFacts(etag="e", size_bytes=3), Prediction("cat", 0.9, {"cat": 0.9})
            writer.put_classified(event, facts, prediction, version)

        answer("v1")
        uploads = S3Uri(pipe.stack.bucket, "uploads/")
        stale = backfill_changed.changed_items(ddb, pipe.stack.table, uploads, "v2", ["v1", "v2"])
        assert [s.key for s in stale] == ["uploads/a.jpg"]
        answer("v1")  # re-queued, but answered by a warm container that still serves v1
        outcome = backfill_changed.wait(ddb, pipe.stack.table, stale, "v2", timeout_s=5, poll_s=0.01)
        assert outcome.by_other_version == {event.uri: "v1"} and outcome.answered_by_live == 0
        never = [dataclasses.replace(stale[0], processed_at="9999")]  # no answer can be newer
        timed_out = backfill_changed.wait(ddb, pipe.stack.table, never, "v2", timeout_s=0.05, poll_s=0.01)
        assert timed_out.unanswered == [event.uri]


def test_an_item_whose_object_is_gone_is_named_and_not_waited_for(
        tmp_path: Path, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19, finding 7: it waited the full timeout for it, then blamed the worker."""
    with moto_pipeline(tmp_path / "cache", ModelRefreshSeconds="0") as pipe:
        pipe.publish(models["v1"])
        pipe.put("uploads/kept.jpg", jpeg_bytes(color=RED))
        pipe.put("uploads/deleted.jpg", jpeg_bytes(color=BLUE))
        pipe.drain()
        # deleted without the function hearing of it (a lifecycle expiry sends no ObjectRemoved event)
        boto3.client("s3").delete_object(Bucket=pipe.stack.bucket, Key="uploads/deleted.jpg")
        boto3.client("sqs").purge_queue(QueueUrl=pipe.stack.queue_url)
        pipe.publish(models["v2"])
        with _worker(pipe):  # waiting for the gone one would end at the timeout: exit 1, not 0
            assert main(_changed_only(pipe, timeout=20)) == 0
        out, err = capsys.readouterr()
        assert "answered by v2: 1 of 2" in out
        assert "1 image was deleted from the bucket after being classified" in err
        assert f"GONE s3://{pipe.stack.bucket}/uploads/deleted.jpg" in err
        assert "is a worker running" not in err


def test_waiting_looks_up_the_unanswered_objects_again_only_now_and_then(tmp_path: Path) -> None:
    with moto_pipeline(tmp_path / "cache") as pipe:
        ddb = boto3.client("dynamodb")
        writer = ResultsTable.named(pipe.stack.table)
        event = ObjectEvent(bucket=pipe.stack.bucket, key="uploads/a.jpg", event_name="ObjectCreated:Put")
        answer = Prediction("cat", 0.9, {"cat": 0.9})
        writer.put_classified(event, ImageFacts(etag="e", size_bytes=3), answer, "v1")
        uploads = S3Uri(pipe.stack.bucket, "uploads/")
        stale = backfill_changed.changed_items(ddb, pipe.stack.table, uploads, "v2", ["v1", "v2"])
        now = [0.0]
        asked: list[float] = []

        def exists(item: backfill_changed.Stale) -> bool:
            asked.append(now[0])
            return True

        def sleep(seconds: float) -> None:
            now[0] += seconds

        outcome = backfill_changed.wait(ddb, pipe.stack.table, stale, "v2", timeout_s=100, poll_s=1,
                                        clock=lambda: now[0], sleep=sleep, exists=exists, recheck_s=30)
        assert outcome.unanswered == [event.uri] and outcome.gone == []
        # after the first poll (the worker has had no time yet), then every 30 s, not every poll
        assert asked == [1.0, 31.0, 61.0, 91.0]


def test_while_answers_keep_coming_no_object_is_looked_up(tmp_path: Path) -> None:
    """Input: 5 re-queued items answered one per poll. The worker is busy, not stuck: a HEAD of every
    waiting object would be wasted (it used to HEAD them all right after the first poll)."""
    with moto_pipeline(tmp_path / "cache") as pipe:
        ddb = boto3.client("dynamodb")
        writer = ResultsTable.named(pipe.stack.table)
        events = [ObjectEvent(bucket=pipe.stack.bucket, key=f"uploads/{i}.jpg",
                              event_name="ObjectCreated:Put") for i in range(5)]
        for event in events:
            writer.put_classified(event, ImageFacts(etag="e", size_bytes=3),
                                  Prediction("cat", 0.9, {"cat": 0.9}), "v1")
        uploads = S3Uri(pipe.stack.bucket, "uploads/")
        stale = backfill_changed.changed_items(ddb, pipe.stack.table, uploads, "v2", ["v1", "v2"])
        now = [0.0]
        asked: list[str] = []
        todo = list(events)

        def sleep(seconds: float) -> None:  # the worker answers one image per poll
            now[0] += seconds
            if todo:
                writer.put_classified(todo.pop(0), ImageFacts(etag="e", size_bytes=3),
                                      Prediction("dog", 0.9, {"dog": 0.9}), "v2")

        outcome = backfill_changed.wait(ddb, pipe.stack.table, stale, "v2", timeout_s=100, poll_s=1,
                                        clock=lambda: now[0], sleep=sleep,
                                        exists=lambda item: asked.append(item.key) or True, recheck_s=30)
        assert outcome.unanswered == [] and sum(outcome.transitions.values()) == 5
        assert asked == []
