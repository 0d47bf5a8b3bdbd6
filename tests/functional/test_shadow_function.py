"""A shadow model in the function (issue 21): it answers beside the live model on the same decoded
batch, after the live answers are written, and nothing about it can fail or change a live answer.

The tiny models answer by colour: `live` says `cat` for a reddish photo and `dog` for a teal one;
`flipped` has the same labels in the other order, so it says `dog` for reddish (every answer
differs); `twin` says what `live` says. The refusals each get a warning and no shadow field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from catdog.classifier import Classifier, Prediction
from catdog.manifest import Manifest, ModelPointer
from catdog.pipeline import Classified
from catdog.results import SHADOW_FIELDS, ImageFacts, ResultsTable, WriteResult
from catdog.s3_events import ObjectEvent
from catdog.shadow import SHADOW_FOLDER, ShadowStore
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.pipeline import Pipeline, moto_pipeline

RED, TEAL = (220, 30, 30), (20, 200, 220)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """live-1, flipped-2 (its labels reversed), twin-3, bird-4 (another label), small-5 (another input)."""
    root = tmp_path_factory.mktemp("models")
    specs: dict[str, dict[str, Any]] = {
        "live": {}, "flipped": {"labels": ("dog", "cat")}, "twin": {}, "bird": {"labels": ("cat", "bird")},
        "small": {"input_size": (16, 16)}}
    return {name: build_tiny_model_dir(root / name, version=f"{name}-{n}", **kw)
            for n, (name, kw) in enumerate(specs.items(), start=1)}


@pytest.fixture
def pipeline(tmp_path: Path, models: dict[str, Path]) -> Iterator[Pipeline]:
    with moto_pipeline(tmp_path / "cache") as p:
        p.publish(models["live"])
        yield p


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _upload(p: Pipeline, **photos: tuple[int, int, int]) -> None:
    for name, colour in photos.items():
        p.put(f"uploads/{name}.jpg", jpeg_bytes(color=colour))


def _shadow_fields(item: dict[str, Any] | None) -> dict[str, Any]:
    assert item is not None
    return {k: item[k] for k in SHADOW_FIELDS if k in item}


def test_the_shadow_answers_beside_the_live_model_in_one_more_call_per_batch(
        pipeline: Pipeline, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline.shadow(models["flipped"])
    calls: list[tuple[str, int]] = []
    real_infer = Classifier.infer

    def counted(self: Classifier, pixels: Any) -> Any:
        calls.append((self.manifest.version, len(pixels)))
        return real_infer(self, pixels)

    monkeypatch.setattr(Classifier, "infer", counted)
    _upload(pipeline, red=RED, teal=TEAL, red2=RED)
    stats = pipeline.drain()

    assert stats.failed == 0
    assert calls == [("live-1", 3), ("flipped-2", 3)], "one LiteRT call each for the batch of 3"
    red, teal = pipeline.item("uploads/red.jpg"), pipeline.item("uploads/teal.jpg")
    assert red and teal and (red["model_label"], teal["model_label"]) == ("cat", "dog")  # live, unchanged
    assert red["label"] == "cat" and red["model_version"] == "live-1"
    assert _shadow_fields(red) == {"shadow_label": "dog", "shadow_version": "flipped-2",
                                   "shadow_agreement": "flipped-2:disagree",
                                   "shadow_confidence": red["shadow_confidence"]}
    assert 0.5 < float(red["shadow_confidence"]) <= 1.0
    assert teal["shadow_label"] == "cat" and teal["shadow_agreement"] == "flipped-2:disagree"


def test_a_shadow_that_gives_the_live_answer_is_recorded_as_agreeing(pipeline: Pipeline,
                                                                      models: dict[str, Path]) -> None:
    pipeline.shadow(models["twin"])
    _upload(pipeline, red=RED)
    pipeline.drain()
    item = pipeline.item("uploads/red.jpg")
    assert item and item["shadow_label"] == item["model_label"] == "cat"
    assert item["shadow_agreement"] == "twin-3:agree"


def test_every_live_answer_is_written_before_the_shadow_model_runs(
        pipeline: Pipeline, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline.shadow(models["flipped"])
    order: list[str] = []
    real_infer = Classifier.infer
    real_live, real_shadow = ResultsTable.put_classified, ResultsTable.put_shadow
    monkeypatch.setattr(Classifier, "infer", lambda self, px: (order.append(f"infer {self.manifest.version}"),
                                                               real_infer(self, px))[1])
    monkeypatch.setattr(ResultsTable, "put_classified",
                        lambda self, *a: (order.append("live write"), real_live(self, *a))[1])
    monkeypatch.setattr(ResultsTable, "put_shadow",
                        lambda self, *a: (order.append("shadow write"), real_shadow(self, *a))[1])
    _upload(pipeline, a=RED, b=TEAL)
    pipeline.drain()
    assert order == ["infer live-1", "live write", "live write", "infer flipped-2", "shadow write",
                     "shadow write"]


def _tamper_tflite(p: Pipeline, version: str) -> str:
    key = f"models/{version}/model.tflite"
    body = p.s3.get_object(Bucket=p.stack.bucket, Key=key)["Body"].read()
    p.s3.put_object(Bucket=p.stack.bucket, Key=key, Body=body[:-4] + b"\0\0\0\0")
    return "does not match"


def _tamper_manifest(p: Pipeline, version: str) -> str:
    """The labels of the manifest reversed on S3, its own checksums intact: the pointer's sha256 of
    manifest.json is what catches it."""
    key = f"models/{version}/manifest.json"
    data = json.loads(p.s3.get_object(Bucket=p.stack.bucket, Key=key)["Body"].read())
    data["labels"].reverse()
    p.s3.put_object(Bucket=p.stack.bucket, Key=key, Body=json.dumps(data).encode())
    return "manifest.json does not match"


def _delete_files(p: Pipeline, version: str) -> str:
    for name in ("model.tflite", "manifest.json", "model.h5"):
        p.s3.delete_object(Bucket=p.stack.bucket, Key=f"models/{version}/{name}")
    return "is missing"


REFUSALS = {
    "labels that differ from the live model's": ("bird", None, "differ from the live model"),
    "another input size than the live model": ("small", None, "takes 16x16 images but the live model"),
    "a tampered model.tflite": ("twin", _tamper_tflite, "does not match"),
    "a manifest rewritten after it was shadowed": ("twin", _tamper_manifest, None),
    "a version whose files are gone": ("twin", _delete_files, None),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_shadow_that_cannot_be_used_is_a_warning_and_never_a_failed_upload(
        case: str, pipeline: Pipeline, models: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """Input: models/shadow.json naming a version that is refused for `case`; a red photo uploaded."""
    name, spoil, expected = REFUSALS[case]
    pointer = pipeline.shadow(models[name])
    if spoil:
        expected = spoil(pipeline, pointer.version)
    caplog.set_level(logging.INFO)
    _upload(pipeline, red=RED)
    stats = pipeline.drain()

    assert stats.failed == 0 and pipeline.queue_depth() == 0
    item = pipeline.item("uploads/red.jpg")
    assert item and item["model_label"] == "cat" and item["status"] == "classified"
    assert _shadow_fields(item) == {}
    warned = [w for w in _warned(caplog) if pointer.version in w]
    assert warned and any(expected in w for w in warned), _warned(caplog)
    assert all("no shadow answers" in w for w in warned)


def test_a_malformed_shadow_pointer_is_a_warning(pipeline: Pipeline,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Input: models/shadow.json that is not JSON."""
    pipeline.s3.put_object(Bucket=pipeline.stack.bucket, Key="models/shadow.json", Body=b"{not json")
    _upload(pipeline, red=RED)
    assert pipeline.drain().failed == 0
    assert _shadow_fields(pipeline.item("uploads/red.jpg")) == {}
    assert any("shadow pointer refused" in w for w in _warned(caplog))


def test_a_shadow_naming_the_live_version_runs_nothing(pipeline: Pipeline, models: dict[str, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate was promoted and the shadow pointer left behind: no second run of one model."""
    pipeline.shadow(models["live"])
    versions: list[str] = []
    real_infer = Classifier.infer
    monkeypatch.setattr(Classifier, "infer",
                        lambda self, px: (versions.append(self.manifest.version), real_infer(self, px))[1])
    _upload(pipeline, red=RED)
    pipeline.drain()
    assert versions == ["live-1"] and _shadow_fields(pipeline.item("uploads/red.jpg")) == {}


@pytest.mark.parametrize("where", ["inference", "write"])
def test_a_shadow_error_leaves_every_live_answer_written(
        where: str, pipeline: Pipeline, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    pipeline.shadow(models["flipped"])
    real_infer = Classifier.infer

    def failing_infer(self: Classifier, pixels: Any) -> Any:
        if self.manifest.version == "flipped-2":
            raise RuntimeError("the shadow interpreter fell over")
        return real_infer(self, pixels)

    def failing_write(self: ResultsTable, *args: Any) -> WriteResult:
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        raise ClientError({"Error": error}, "UpdateItem")

    if where == "inference":
        monkeypatch.setattr(Classifier, "infer", failing_infer)
    else:
        monkeypatch.setattr(ResultsTable, "put_shadow", failing_write)
    _upload(pipeline, red=RED, teal=TEAL)
    stats = pipeline.drain()

    assert stats.failed == 0 and pipeline.queue_depth() == 0
    items = [pipeline.item("uploads/red.jpg"), pipeline.item("uploads/teal.jpg")]
    assert [i and i["model_label"] for i in items] == ["cat", "dog"]
    assert all(_shadow_fields(i) == {} for i in items)
    expected = "the shadow interpreter fell over" if where == "inference" else "slow down"
    assert any(expected in w for w in _warned(caplog)), _warned(caplog)


def test_a_new_answer_drops_the_shadow_answer_given_beside_the_old_one(
        tmp_path: Path, models: dict[str, Path]) -> None:
    """A re-upload answered after the shadow was removed: the item's old shadow answer (about
    another photo, beside another live answer) must not stay to be compared with the new one."""
    with moto_pipeline(tmp_path / "cache", ModelRefreshSeconds="0") as p:
        p.publish(models["live"])
        p.shadow(models["flipped"])
        _upload(p, photo=RED)
        p.drain()
        assert p.item("uploads/photo.jpg")["shadow_label"] == "dog"  # type: ignore[index]

        p.s3.delete_object(Bucket=p.stack.bucket, Key="models/shadow.json")
        _upload(p, photo=TEAL)
        p.drain()
        item = p.item("uploads/photo.jpg")
        assert item and item["model_label"] == "dog" and _shadow_fields(item) == {}
        assert not (tmp_path / "cache" / SHADOW_FOLDER).exists(), "the shadow's /tmp space is freed"


def test_a_shadow_answer_is_refused_on_an_item_answered_since(stack_table: ResultsTable) -> None:
    """The shadow pass of an older read, running late: its answer must not land beside the newer
    live answer (a re-upload, a backfill) that replaced the one it was given beside."""
    event = ObjectEvent("b", "uploads/x.jpg", "ObjectCreated:Put")
    old = ImageFacts(etag="e1", size_bytes=1, observed_at="2026-12-01T00:00:00.000000Z")
    new = ImageFacts(etag="e2", size_bytes=1, observed_at="2026-12-01T00:00:01.000000Z")
    cat = Prediction("cat", 0.9, {"cat": 0.9, "dog": 0.1})
    dog = Prediction("dog", 0.8, {"cat": 0.2, "dog": 0.8})
    assert stack_table.put_classified(event, old, cat, "v1") is WriteResult.WRITTEN
    assert stack_table.put_classified(event, new, dog, "v1") is WriteResult.WRITTEN
    assert stack_table.put_shadow(event, old, "v1", "cat", dog, "v2") is WriteResult.STALE
    # beside another live model's answer
    assert stack_table.put_shadow(event, new, "v0", "dog", dog, "v2") is WriteResult.STALE
    item = stack_table._table.get_item(Key={"image": event.uri})["Item"]
    assert _shadow_fields(item) == {}
    assert stack_table.put_shadow(event, new, "v1", "dog", cat, "v2") is WriteResult.WRITTEN
    assert stack_table._table.get_item(Key={"image": event.uri})["Item"]["shadow_agreement"] == "v2:disagree"


@pytest.fixture
def stack_table(stack: Any, aws_env: str) -> ResultsTable:
    return ResultsTable(boto3.resource("dynamodb", region_name=aws_env).Table(stack.table))


def test_a_direct_s3_event_gets_its_shadow_answer_too(pipeline: Pipeline, models: dict[str, Path]) -> None:
    """`sam local invoke -e events/s3-put.json`: the same shadow pass after the direct event's writes."""
    from catdog_local.events import s3_record
    from catdog_local.lambda_runtime import LambdaContext

    pipeline.shadow(models["flipped"])
    _upload(pipeline, red=RED)
    record = s3_record(pipeline.stack.bucket, "uploads/red.jpg")
    response = pipeline.app.handler({"Records": [record]}, LambdaContext())
    assert response["classified"] == 1
    item = pipeline.item("uploads/red.jpg")
    assert item and item["model_label"] == "cat" and item["shadow_label"] == "dog"


def test_with_too_little_time_left_the_shadow_is_not_started(
        pipeline: Pipeline, models: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """A Lambda timeout would fail the whole batch, live answers included: the shadow pass starts
    only with its reserve of time left (input: a second left)."""
    pipeline.shadow(models["flipped"])
    _upload(pipeline, red=RED)
    pipeline.drain()
    processor = pipeline.app.processor
    live = processor.runtime.store.current
    item = pipeline.item("uploads/red.jpg")
    assert live and item and item["shadow_label"] == "dog"
    answer = Classified(ObjectEvent(pipeline.stack.bucket, "uploads/red.jpg", "ObjectCreated:Put"),
                        ImageFacts(etag=item["etag"], size_bytes=1, observed_at=item["observed_at"]),
                        Prediction("cat", 0.9, {"cat": 0.9, "dog": 0.1}), np.zeros((32, 32, 3), np.float32))
    result = processor.runtime.shadow.run([answer], live, time_left=lambda: 1.0)
    assert (result.answered, result.seconds) == (0, 0.0)
    assert any("too little time left" in w and "no shadow answers" in w for w in _warned(caplog))


def test_a_pointer_re_read_needs_time_for_a_download_on_top_of_the_reserve(
        pipeline: Pipeline, models: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """Input: a refresh is due and only the reserve plus a second is left: re-reading the pointer
    may download a candidate, so nothing is started; the shadow's S3 client gives up in seconds,
    not botocore's default minute per read."""
    pipeline.shadow(models["flipped"])
    _upload(pipeline, red=RED)
    pipeline.drain()
    processor = pipeline.app.processor
    live, shadow = processor.runtime.store.current, processor.runtime.shadow
    item = pipeline.item("uploads/red.jpg")
    assert live and item
    config = shadow.store.s3.meta.config
    assert config.read_timeout <= 5 and config.connect_timeout <= 2
    assert config.retries["total_max_attempts"] == 1
    answer = Classified(ObjectEvent(pipeline.stack.bucket, "uploads/red.jpg", "ObjectCreated:Put"),
                        ImageFacts(etag=item["etag"], size_bytes=1, observed_at=item["observed_at"]),
                        Prediction("cat", 0.9, {"cat": 0.9, "dog": 0.1}), np.zeros((32, 32, 3), np.float32))
    shadow.store.clock = lambda: float("inf")  # the refresh interval has passed
    result = shadow.run([answer], live, time_left=lambda: shadow.reserve_seconds + 1)
    assert result.version is None and result.answered == 0
    assert any("too little time left to load the shadow model" in w for w in _warned(caplog))


def test_a_shadow_probability_that_is_not_a_number_is_one_warning_not_a_write_error_per_image(
        pipeline: Pipeline, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Input: a shadow model whose probabilities come out NaN (a broken export): DynamoDB takes no
    NaN, so nothing of it is recorded, and the log says so once for the batch."""
    pipeline.shadow(models["flipped"])
    real_infer = Classifier.infer

    def nan_infer(self: Classifier, pixels: Any) -> Any:
        probs, novelty = real_infer(self, pixels)
        return (probs * np.nan, novelty) if self.manifest.version == "flipped-2" else (probs, novelty)

    monkeypatch.setattr(Classifier, "infer", nan_infer)
    _upload(pipeline, red=RED, teal=TEAL)
    assert pipeline.drain().failed == 0
    assert [_shadow_fields(pipeline.item(k)) for k in ("uploads/red.jpg", "uploads/teal.jpg")] == [{}, {}]
    warned = _warned(caplog)
    assert [w for w in warned if "not a number" in w] == [
        "shadow model flipped-2 gave 2 images a probability that is not a number: not recorded"]
    assert not [w for w in warned if "not recorded (the live answer stands)" in w]


def test_an_object_named_twice_in_a_batch_gets_one_shadow_answer(
        pipeline: Pipeline, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: one SQS message whose two records name the same object (a forged or doubled event)."""
    from catdog_local.events import s3_notification, s3_record

    pipeline.shadow(models["flipped"])
    _upload(pipeline, red=RED)
    pipeline.sqs.purge_queue(QueueUrl=pipeline.stack.queue_url)
    record = s3_record(pipeline.stack.bucket, "uploads/red.jpg")
    pipeline.sqs.send_message(QueueUrl=pipeline.stack.queue_url, MessageBody=s3_notification(record, record))
    writes: list[str] = []
    real_shadow = ResultsTable.put_shadow
    monkeypatch.setattr(ResultsTable, "put_shadow",
                        lambda self, event, *a: (writes.append(event.key), real_shadow(self, event, *a))[1])
    assert pipeline.drain().failed == 0
    assert writes == ["uploads/red.jpg"]
    assert pipeline.item("uploads/red.jpg")["shadow_label"] == "dog"  # type: ignore[index]


def test_the_batch_s_pixels_are_not_held_after_the_invocation(pipeline: Pipeline,
                                                              models: dict[str, Path]) -> None:
    """A warm container keeps the processor between invocations: the decoded images of the last
    batch (kept for the shadow model) must not stay with it."""
    pipeline.shadow(models["flipped"])
    _upload(pipeline, red=RED)
    pipeline.drain()
    processor = pipeline.app.processor
    assert processor._result.outcomes == {} and processor._written == []
    assert processor._result.model is not None


def test_a_failed_direct_event_does_not_keep_its_pixels_either(
        pipeline: Pipeline, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: a direct S3 event whose live write fails (a DynamoDB error): the event is retried and
    the warm container keeps none of the decoded images."""
    from catdog_local.events import s3_record
    from catdog_local.lambda_runtime import LambdaContext

    pipeline.shadow(models["flipped"])
    _upload(pipeline, red=RED)

    def failing(self: ResultsTable, *a: Any) -> Any:
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(ResultsTable, "put_classified", failing)
    with pytest.raises(RuntimeError, match="DynamoDB is down"):
        pipeline.app.handler({"Records": [s3_record(pipeline.stack.bucket, "uploads/red.jpg")]},
                             LambdaContext())
    processor = pipeline.app.processor
    assert processor._result.outcomes == {} and processor._written == []


def _store(p: Pipeline, cache: Path) -> ShadowStore:
    """A shadow store that re-reads the pointer at every `get`."""
    return ShadowStore(p.s3, p.stack.bucket, "models/shadow.json", refresh_seconds=0, cache_dir=cache)


def _live(models: dict[str, Path]) -> Manifest:
    return Manifest.from_json((models["live"] / "manifest.json").read_text())


def test_a_refused_shadow_version_is_not_downloaded_again_until_the_pointer_changes(
        pipeline: Pipeline, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Input: shadow.json naming twin-3 whose model.tflite was rewritten; three refreshes, then the
    pointer moved to flipped-2. A refused candidate used to be fetched (up to 20 MB) at every refresh."""
    pointer = pipeline.shadow(models["twin"])
    _tamper_tflite(pipeline, pointer.version)
    store = _store(pipeline, tmp_path / "cache")
    loads: list[str] = []
    real_load = ShadowStore._load
    monkeypatch.setattr(ShadowStore, "_load",
                        lambda self, p, **kw: (loads.append(p.version), real_load(self, p, **kw))[1])
    assert [store.get(_live(models)) for _ in range(3)] == [None, None, None]
    assert loads == ["twin-3"]
    assert any("still refused" in w for w in _warned(caplog))
    pipeline.shadow(models["flipped"])
    model = store.get(_live(models))
    assert model is not None and model.version == "flipped-2" and loads == ["twin-3", "flipped-2"]


def test_a_shadow_pointer_without_checksums_is_refused_unread(
        pipeline: Pipeline, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Input: a hand-written models/shadow.json naming flipped-2 with no sha256 at all (old live
    pointers are excused; `catdog models shadow` always records them)."""
    pipeline.shadow(models["flipped"])
    bare = ModelPointer.for_version("models/", "flipped-2")
    pipeline.s3.put_object(Bucket=pipeline.stack.bucket, Key="models/shadow.json",
                           Body=bare.to_json().encode())
    store = _store(pipeline, tmp_path / "cache")
    monkeypatch.setattr(ShadowStore, "_load", lambda *a, **kw: pytest.fail("a pointer vouching for nothing"))
    assert store.get(_live(models)) is None
    assert any("records no sha256" in w for w in _warned(caplog))


def test_a_shadow_model_that_went_live_is_let_go(pipeline: Pipeline, models: dict[str, Path],
                                                 tmp_path: Path) -> None:
    """Input: flipped-2 shadowed and loaded, then promoted (the live manifest is now flipped-2's):
    no second interpreter of the live model stays in memory, nor its file in /tmp."""
    pipeline.shadow(models["flipped"])
    store = _store(pipeline, tmp_path / "cache")
    assert store.get(_live(models)) is not None and any(store.cache_dir.iterdir())
    promoted = Manifest.from_json((models["flipped"] / "manifest.json").read_text())
    assert store.get(promoted) is None
    assert store.current is None and not store.cache_dir.exists()
