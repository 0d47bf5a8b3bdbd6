"""Real training runs on a few images per class: every artifact, no train/serve skew, s3 in and out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from catdog.classifier import Classifier
from catdog.manifest import Manifest, ModelPointer
from catdog.preprocess import preprocess_image
from training_job.data import find_entries
from training_job.train import TrainConfig, TrainResult, run_training

pytestmark = pytest.mark.slow

ARTIFACTS = {
    "model.h5",
    "model.tflite",
    "manifest.json",
    "history.json",
    "metrics.json",
    "learning_curves.png",
    "confusion_matrix.png",
}


@pytest.fixture(scope="module")
def trained(data_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The default profile (ImageNet MobileNetV2, cached features) on 4 images per class per split."""
    out = tmp_path_factory.mktemp("model")
    return run_training(TrainConfig(data=str(data_zip), output=str(out), limit=4, epochs=2, seed=3))


def validation_pixels(data_zip: Path, size: tuple[int, int], n: int = 48) -> np.ndarray:
    """The first `n` validation images of each class, through the one preprocessing function."""
    entries = [e for e in find_entries(str(data_zip)) if e.split == "validation"]
    picked = [
        e
        for folder in ("cats", "dogs")
        for e in sorted((e for e in entries if e.folder == folder), key=lambda e: e.name)[: n // 2]
    ]
    return np.stack([preprocess_image(e.read(), size).pixels for e in picked])


def test_every_artifact_is_written(trained: TrainResult) -> None:
    out = trained.output_dir
    assert {p.name for p in out.iterdir()} >= ARTIFACTS
    manifest = Manifest.from_json((out / "manifest.json").read_text())
    assert manifest == trained.manifest
    assert manifest.labels == ["cat", "dog"] and manifest.input_size == (224, 224)
    assert manifest.arch == "mobilenet_v2_0.35" and manifest.output_activation == "sigmoid"
    assert manifest.preprocessing["function"] == "catdog.preprocess.preprocess_image"
    assert manifest.data["train_count"] == 8 and manifest.data["validation_count"] == 8
    assert len(manifest.data["fingerprint"]) == 64
    assert {"tensorflow-cpu", "keras", "numpy", "pillow"} & set(manifest.library_versions)
    assert manifest.training["limit"] == 4 and manifest.created_at
    history = json.loads((out / "history.json").read_text())
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) >= 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 8 and 0 <= metrics["accuracy"] <= 1 and metrics["version"] == manifest.version
    assert set(metrics["per_class"]) == {"cat", "dog"} and "roc_auc" in metrics
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_train_serve_skew(trained: TrainResult, data_zip: Path) -> None:
    """The `.h5` (Keras) and the `.tflite` through the serving path agree on the validation images."""
    import keras

    keras_model = keras.models.load_model(trained.output_dir / "model.h5", safe_mode=True, compile=False)
    pixels = validation_pixels(data_zip, trained.manifest.input_size)
    p_keras = keras_model.predict(pixels, verbose=0).reshape(-1)
    serving = Classifier(trained.output_dir / "model.tflite", trained.manifest)
    p_tflite = serving.predict(pixels)[:, 1]  # P(dog)
    assert np.abs(p_keras - p_tflite).max() < 1e-3
    same_label = ((p_keras > 0.5) == (p_tflite > 0.5)).mean()
    assert same_label >= 0.995
    # and the two differ from a constant: the check has teeth
    assert p_tflite.std() > 1e-4


def test_training_is_reproducible(trained: TrainResult, data_zip: Path, tmp_path: Path) -> None:
    again = run_training(TrainConfig(data=str(data_zip), output=str(tmp_path), limit=4, epochs=2, seed=3))
    np.testing.assert_allclose(again.history["loss"], trained.history["loss"], rtol=1e-4)
    assert again.manifest.data["fingerprint"] == trained.manifest.data["fingerprint"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("s3")


def test_seed_arch_from_s3_to_s3_and_published(aws: object, data_zip: Path) -> None:
    """The tutorial CNN (small input for speed), data read from s3://, artifacts written to s3://."""
    aws.create_bucket(Bucket="catdog")
    for e in find_entries(str(data_zip)):
        if int(e.name.rsplit(".", 2)[-2]) % 1000 < 3:  # cat.0-2 / cat.2000-2002, same for dogs
            aws.put_object(
                Bucket="catdog", Key=f"data/{e.split}/{e.folder}/{e.name.rsplit('/', 1)[-1]}", Body=e.read()
            )
    aws.put_object(Bucket="catdog", Key="data/train/cats/x.jpg", Body=b"a text file named x.jpg")
    result = run_training(
        TrainConfig(
            data="s3://catdog/data/",
            output="s3://catdog/runs/1/",
            arch="seed",
            input_size=(100, 100),
            epochs=1,
            steps_per_epoch=1,
            validation_steps=1,
            batch_size=4,
            publish="s3://catdog/models/",
            min_accuracy=0.0,
            version="seed-test",
        )
    )
    assert result.manifest.data["skipped_count"] == 1
    assert result.manifest.training["steps_per_epoch"] == 1 and result.manifest.arch == "seed"
    run_keys = {o["Key"] for o in aws.list_objects_v2(Bucket="catdog", Prefix="runs/1/")["Contents"]}
    assert {f"runs/1/{name}" for name in ARTIFACTS} <= run_keys
    live = ModelPointer.from_json(aws.get_object(Bucket="catdog", Key="models/latest.json")["Body"].read())
    assert live.version == "seed-test" and result.pointer == live


def test_fine_tuning_trains_only_the_top_blocks(data_zip: Path, tmp_path: Path) -> None:
    """`--fine-tune-epochs`: after the head, the last blocks change and the lower ones do not."""
    import keras

    from training_job.weights import prepare_keras_home

    prepare_keras_home()
    fresh = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=0.35, include_top=False)
    result = run_training(
        TrainConfig(
            data=str(data_zip),
            output=str(tmp_path),
            limit=2,
            epochs=1,
            fine_tune_epochs=1,
            fine_tune_learning_rate=1e-2,
            batch_size=4,
        )
    )
    assert len(result.history["loss"]) == 2  # one head epoch + one fine-tuning epoch
    tuned = keras.models.load_model(tmp_path / "model.h5", safe_mode=True, compile=False)
    backbone = next(layer for layer in tuned.layers if isinstance(layer, keras.Model))

    def changed(name: str) -> bool:
        before, after = fresh.get_layer(name).get_weights(), backbone.get_layer(name).get_weights()
        return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))

    assert changed("block_16_project") and changed("Conv_1")
    assert not changed("block_1_expand") and not changed("Conv_1_bn")  # BatchNorm stays frozen
