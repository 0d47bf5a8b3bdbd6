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
    "reliability.png",
}


@pytest.fixture(scope="module")
def trained(data_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The default profile (ImageNet EfficientNet-Lite0, cached features) on 4 images per class per split;
    novelty exported whatever its (meaningless, 1 calib image per class) holdout AUROC."""
    out = tmp_path_factory.mktemp("model")
    return run_training(TrainConfig.of(data=str(data_zip), output=str(out), limit=4, epochs=2, seed=3,
                                       novelty_min_auroc=0.0))


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
    assert manifest.labels == ["cat", "dog"] and manifest.input_size == (256, 256)
    assert manifest.arch == "efficientnet_lite0" and manifest.output_activation == "sigmoid"
    assert manifest.preprocessing["function"] == "catdog.preprocess.preprocess_image"
    assert manifest.data["train_count"] == 8 and manifest.data["validation_count"] == 8
    assert len(manifest.data["fingerprint"]) == 64
    assert {"tensorflow-cpu", "keras", "numpy", "pillow"} & set(manifest.library_versions)
    assert manifest.training["limit"] == 4 and manifest.created_at
    assert manifest.data["splits"] == {"fit": 4, "stop": 2, "calib": 2}  # carved from train/, per class
    history = json.loads((out / "history.json").read_text())
    assert set(history) >= {"loss", "accuracy", "stop_loss", "stop_accuracy"} and len(history["loss"]) >= 1
    assert not any(k.startswith("val") for k in history)  # validation/ never steers training
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 8 and 0 <= metrics["accuracy"] <= 1 and metrics["version"] == manifest.version
    assert set(metrics["per_class"]) == {"cat", "dog"} and "roc_auc" in metrics
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] == len(history["loss"])
    assert {"ece_before", "ece_after", "unknown_rate", "answered_accuracy"} <= set(metrics)
    assert manifest.calibration["temperature"] > 0 and "out-of-fold" in manifest.calibration["fitted_on"]
    assert manifest.novelty["enabled"] and manifest.novelty["threshold"] == 1.0
    assert set(manifest.novelty["holdout_auroc"]) == {"mahalanobis", "knn"}
    for png in ("learning_curves.png", "confusion_matrix.png", "reliability.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_train_serve_skew(trained: TrainResult, data_zip: Path) -> None:
    """The exported model has two named outputs, and the `.h5` (Keras) and the `.tflite` through the
    serving path agree on both for the validation images."""
    from ai_edge_litert.interpreter import Interpreter

    from training_job.export import load_keras_model

    tflite = trained.output_dir / "model.tflite"
    outputs = Interpreter(model_path=str(tflite)).get_signature_list()["serving_default"]["outputs"]
    assert sorted(outputs) == ["novelty", "probability"]
    keras_model = load_keras_model(trained.output_dir / "model.h5")
    pixels = validation_pixels(data_zip, trained.manifest.input_size)
    k = keras_model.predict(pixels, verbose=0)
    p_keras, n_keras = k["probability"].reshape(-1), k["novelty"].reshape(-1)
    serving = Classifier(tflite, trained.manifest)
    probs, n_tflite = serving.infer(pixels)
    p_tflite = probs[:, 1]  # P(dog)
    assert n_tflite is not None
    assert np.abs(p_keras - p_tflite).max() < 1e-3
    assert ((p_keras > 0.5) == (p_tflite > 0.5)).mean() >= 0.995
    assert np.abs(n_keras - n_tflite).max() / np.abs(n_keras).max() < 1e-4
    assert ((n_keras > 1) == (n_tflite > 1)).mean() >= 0.995
    # and the two differ from a constant: the check has teeth
    assert p_tflite.std() > 1e-4 and n_tflite.std() > 1e-4


def test_training_is_reproducible(trained: TrainResult, data_zip: Path, tmp_path: Path) -> None:
    again = run_training(TrainConfig.of(data=str(data_zip), output=str(tmp_path), limit=4, epochs=2,
                                        seed=3, novelty_min_auroc=0.0))
    np.testing.assert_allclose(again.history["loss"], trained.history["loss"], rtol=1e-4)
    assert again.manifest.data["fingerprint"] == trained.manifest.data["fingerprint"]


@pytest.fixture
def aws(aws_env: str) -> Iterator[object]:
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
        TrainConfig.of(
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
    # the same novelty code ran on its penultimate Dense(512); the gate decides whether it ships
    assert set(result.manifest.novelty["holdout_auroc"]) == {"mahalanobis", "knn"}
    assert result.manifest.calibration["fitted_on"].startswith("calib split")
    run_keys = {o["Key"] for o in aws.list_objects_v2(Bucket="catdog", Prefix="runs/1/")["Contents"]}
    assert {f"runs/1/{name}" for name in ARTIFACTS} <= run_keys
    live = ModelPointer.from_json(aws.get_object(Bucket="catdog", Key="models/latest.json")["Body"].read())
    assert live.version == "seed-test" and result.pointer == live


def test_fine_tuning_trains_only_the_top_blocks(data_zip: Path, tmp_path: Path) -> None:
    """`--fine-tune-epochs` on the default arch: after the head, the last blocks change and the lower
    ones do not (nor does any BatchNorm)."""
    import keras

    from training_job import efficientnet_lite as lite
    from training_job.export import load_keras_model

    fresh = lite.build_efficientnet_lite0(2).backbone  # the ImageNet weights the run starts from
    result = run_training(
        TrainConfig.of(
            data=str(data_zip),
            output=str(tmp_path),
            limit=3,
            epochs=1,
            fine_tune_epochs=1,
            fine_tune_learning_rate=1e-2,
            batch_size=4,
        )
    )
    assert len(result.history["loss"]) == 2  # one head epoch + one fine-tuning epoch
    tuned = load_keras_model(tmp_path / "model.h5")
    backbone = next(layer for layer in tuned.layers if isinstance(layer, keras.Model))

    def changed(name: str) -> bool:
        before, after = fresh.get_layer(name).get_weights(), backbone.get_layer(name).get_weights()
        return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))

    assert changed("lite0_blocks.15._project_conv") and changed("lite0_conv_head")
    assert not changed("lite0_blocks.1._expand_conv") and not changed("lite0_bn1")  # BatchNorm stays frozen


def test_three_classes_get_a_softmax_head_and_a_three_class_novelty_detector(
        data_zip: Path, tmp_path: Path) -> None:
    """N classes: cats, dogs and daisies (from the flowers set), 4 per class per split. On MobileNetV2:
    the class count is what is tested, and the previous default's profile keeps a real run."""
    from tests.support.paths import OOD_ZIP

    root = tmp_path / "three"
    sources = [(data_zip, "cats"), (data_zip, "dogs"), (OOD_ZIP, "daisy")]
    for source, folder in sources:
        files = sorted((e for e in find_entries(str(source), every_file=True) if e.folder == folder),
                       key=lambda e: e.name)
        for i, e in enumerate(files[:8]):
            split = "train" if i < 4 else "validation"
            dest = root / split / folder.replace("daisy", "daisies") / f"{i}.jpg"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(e.read())
    result = run_training(TrainConfig.of(data=str(root), output=str(tmp_path / "m"), epochs=1,
                                         arch="mobilenet_v2", novelty_min_auroc=0.0))
    manifest = result.manifest
    assert manifest.arch == "mobilenet_v2_0.35"
    assert manifest.labels == ["cat", "daisy", "dog"] and manifest.output_activation == "softmax"
    assert manifest.novelty["detector"]["classes"] == 3
    pixels = validation_pixels(data_zip, manifest.input_size, n=4)
    probs, novelty = Classifier(result.output_dir / "model.tflite", manifest).infer(pixels)
    assert probs.shape == (4, 3) and novelty is not None and novelty.shape == (4,)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
