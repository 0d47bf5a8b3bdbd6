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
    real_infer = chunked.infer

    def counting(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        calls.append(len(batch))
        return real_infer(batch)

    monkeypatch.setattr(chunked, "infer", counting)
    answers = chunked.classify(images)
    assert calls == [16, 16, 8]
    whole = Classifier(binary_model / "model.tflite", manifest, chunk=64).classify(images)
    assert [a.label for a in answers] == [w.label for w in whole]
    assert max(abs(a.confidence - w.confidence) for a, w in zip(answers, whole, strict=True)) < 1e-5
@pytest.fixture(scope="module")
def novelty_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("novelty"), novelty=True)


def test_two_output_model_answers_unknown_for_what_it_was_not_trained_on(novelty_model: Path) -> None:
    clf = load(novelty_model)
    cat, grey, dog = clf.classify([pixels(RED), pixels((128, 128, 128)), pixels(TEAL)])
    assert (cat.label, dog.label) == ("cat", "dog") and cat.top_label == "cat"
    assert cat.novelty is not None and cat.novelty <= 1.0
    assert grey.is_unknown and grey.top_label in ("cat", "dog") and grey.novelty is not None
    assert grey.novelty > 1.0 and grey.confidence == max(grey.scores.values())


def test_outputs_are_found_by_name_whatever_the_batch_size(novelty_model: Path) -> None:
    clf = load(novelty_model)
    assert clf.scores_novelty
    one = clf.classify([pixels((128, 128, 128))])[0]
    many = clf.classify([pixels(RED)] * 4 + [pixels((128, 128, 128))])
    assert [p.label for p in many] == ["cat"] * 4 + ["unknown"]
    assert many[-1].novelty == pytest.approx(one.novelty, rel=1e-5)
    probs, novelty = clf.infer(np.stack([pixels(RED), pixels(TEAL)]))
    assert probs.shape == (2, 2) and novelty is not None and novelty.shape == (2,)


def test_a_manifest_without_a_threshold_never_answers_unknown(novelty_model: Path) -> None:
    """An old manifest (or one whose model failed the novelty gate) with a two-output model."""
    manifest = Manifest.from_json((novelty_model / "manifest.json").read_text())
    clf = Classifier(novelty_model / "model.tflite", dataclasses.replace(manifest, novelty={}))
    grey = clf.classify([pixels((128, 128, 128))])[0]
    assert grey.label in ("cat", "dog") and grey.novelty is None and not clf.scores_novelty


def test_a_threshold_for_a_model_without_a_novelty_output_is_refused(binary_model: Path) -> None:
    manifest = Manifest.from_json((binary_model / "manifest.json").read_text())
    with pytest.raises(ModelError, match="no 'novelty' output"):
        Classifier(binary_model / "model.tflite", dataclasses.replace(manifest, novelty={"threshold": 1.0}))
