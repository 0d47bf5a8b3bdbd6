"""LiteRT serving path on a real (tiny) exported model: batching, label mapping, broken models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from catdog.classifier import Classifier
from catdog.errors import ModelError
from catdog.manifest import Manifest
from catdog.preprocess import preprocess_image
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir

RED, TEAL = (220, 20, 20), (20, 200, 220)


@pytest.fixture(scope="module")
def binary_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("binary"))


def load(model_dir: Path) -> Classifier:
    manifest = Manifest.from_json((model_dir / "manifest.json").read_text())
    return Classifier(model_dir / "model.tflite", manifest)


def pixels(color: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> np.ndarray:
    return preprocess_image(jpeg_bytes((50, 40), color), size).pixels


def test_sigmoid_model_scores_both_labels(binary_model: Path) -> None:
    cat, dog = load(binary_model).classify([pixels(RED), pixels(TEAL)])
    assert (cat.label, dog.label) == ("cat", "dog")
    assert cat.scores["cat"] + cat.scores["dog"] == pytest.approx(1.0)
    assert cat.confidence == cat.scores["cat"] > 0.9


def test_batch_size_can_change_between_calls(binary_model: Path) -> None:
    clf = load(binary_model)
    one = clf.classify([pixels(RED)])
    five = clf.classify([pixels(RED)] * 3 + [pixels(TEAL)] * 2)
    assert [p.label for p in five] == ["cat"] * 3 + ["dog"] * 2
    assert five[0].confidence == pytest.approx(one[0].confidence, abs=1e-6)


def test_softmax_model_with_three_labels(tmp_path: Path) -> None:
    model_dir = build_tiny_model_dir(tmp_path, labels=("red", "green", "blue"))
    preds = load(model_dir).classify([pixels((250, 5, 5)), pixels((5, 250, 5)), pixels((5, 5, 250))])
    assert [p.label for p in preds] == ["red", "green", "blue"]
    assert sum(preds[0].scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_corrupt_model_file_is_a_model_error(tmp_path: Path, binary_model: Path) -> None:
    broken = tmp_path / "model.tflite"
    broken.write_bytes(b"this is not a flatbuffer" * 10)
    manifest = Manifest.from_json((binary_model / "manifest.json").read_text())
    with pytest.raises(ModelError, match="cannot load model"):
        Classifier(broken, manifest)


def test_manifest_that_disagrees_with_the_model_is_refused(binary_model: Path) -> None:
    manifest = Manifest.from_json((binary_model / "manifest.json").read_text())
    wrong = dataclasses.replace(manifest, input_size=(64, 64))
    with pytest.raises(ModelError, match="manifest says 64x64"):
        Classifier(binary_model / "model.tflite", wrong)


def test_a_large_batch_is_classified_in_chunks_with_the_same_answers(
        binary_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inference memory grows ~4 MB per image in one LiteRT call: 40 images go as 16 + 16 + 8."""
    manifest = Manifest.from_json((binary_model / "manifest.json").read_text())
    chunked = Classifier(binary_model / "model.tflite", manifest, chunk=16)
    images = [pixels(RED if i % 3 else TEAL) for i in range(40)]
    calls: list[int] = []
    real_predict = chunked.predict

    def counting(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return real_predict(batch)

    monkeypatch.setattr(chunked, "predict", counting)
    answers = chunked.classify(images)
    assert calls == [16, 16, 8]
    whole = Classifier(binary_model / "model.tflite", manifest, chunk=64).classify(images)
    assert [a.label for a in answers] == [w.label for w in whole]
    assert max(abs(a.confidence - w.confidence) for a, w in zip(answers, whole, strict=True)) < 1e-5
