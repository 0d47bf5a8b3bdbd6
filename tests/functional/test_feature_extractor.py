"""The backbone-feature passes of training: the same features by either engine, each pass named on
its progress bar (stderr), so a newcomer can tell the 2,000-image passes apart."""

from __future__ import annotations

import numpy as np
import pytest

from training_job.features import BATCH, LITERT_MIN_IMAGES, FeatureExtractor, choose_engine


@pytest.fixture(scope="module")
def pooled_colours() -> object:
    """Features that depend on where things are: the mean colour of the left and of the right half."""
    import keras

    inputs = keras.Input((8, 8, 3))
    halves = keras.layers.AveragePooling2D(pool_size=(8, 4))(keras.layers.Rescaling(1 / 255.0)(inputs))
    return keras.Model(inputs, keras.layers.Flatten()(halves))


def test_litert_and_keras_give_the_same_features_in_batches_and_mirrored(pooled_colours: object) -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(BATCH + 5, 8, 8, 3), dtype=np.uint8)  # a full batch and a short one
    images[:, :, :4, 0] = 255  # the left half red: a mirror image has it on the right
    keras_features = FeatureExtractor(pooled_colours, "keras")(images)  # type: ignore[arg-type]
    litert = FeatureExtractor(pooled_colours, "litert")  # type: ignore[arg-type]
    assert keras_features.shape == (BATCH + 5, 6)
    np.testing.assert_allclose(litert(images), keras_features, atol=1e-5)
    mirrored = litert(images, mirror=True)
    assert np.all(mirrored[:, 3] == 1.0) and np.all(keras_features[:, 0] == 1.0)  # red moved right
    np.testing.assert_allclose(mirrored, FeatureExtractor(pooled_colours, "keras")(  # type: ignore[arg-type]
        images[:, :, ::-1].copy()), atol=1e-5)


def test_each_pass_is_named_on_its_progress_bar(pooled_colours: object,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    extract = FeatureExtractor(pooled_colours, "keras")  # type: ignore[arg-type]
    extract(np.zeros((3, 8, 8, 3), np.uint8), what="stop")
    extract(np.zeros((2, 8, 8, 3), np.uint8), mirror=True, what="fit")
    captured = capsys.readouterr()
    assert captured.out == "", "stdout is the trainer's one JSON line"
    assert "backbone features (stop)" in captured.err and "3/3" in captured.err
    assert "backbone features (fit, mirrored)" in captured.err and "2/2" in captured.err


def test_auto_picks_litert_on_cpus_once_the_run_repays_the_conversion_for_that_arch() -> None:
    """results/feature_engine.md: Lite0 repays the conversion from ~1100 images, MobileNetV2 from ~2300."""
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("with a GPU, auto is always keras")
    lite0, mobilenet = LITERT_MIN_IMAGES["efficientnet_lite0"], LITERT_MIN_IMAGES["mobilenet_v2"]
    assert lite0 < mobilenet
    assert choose_engine("auto", lite0 - 1, "efficientnet_lite0") == "keras"
    assert choose_engine("auto", lite0, "efficientnet_lite0") == "litert"
    assert choose_engine("auto", lite0, "mobilenet_v2") == "keras"
    assert choose_engine("auto", mobilenet, "mobilenet_v2") == "litert"
    assert choose_engine("keras", 10**6, "efficientnet_lite0") == "keras"  # an explicit engine is kept
