"""The architectures: the seed must BE the tutorial's CNN, and nothing may need unsafe deserialization."""

from __future__ import annotations

import re

import pytest

from training_job import models


def _describe(layer: object) -> tuple:
    import keras

    kind = type(layer).__name__
    if isinstance(layer, keras.layers.Conv2D):
        return kind, layer.filters, tuple(layer.kernel_size), layer.activation.__name__
    if isinstance(layer, keras.layers.MaxPooling2D):
        return kind, tuple(layer.pool_size), tuple(layer.strides)
    if isinstance(layer, keras.layers.Dense):
        return kind, layer.units, layer.activation.__name__
    if isinstance(layer, keras.layers.Rescaling):
        return kind, pytest.approx(layer.scale), layer.offset
    return (kind,)


def test_seed_is_the_tutorial_cnn_layer_for_layer() -> None:
    model = models.build_seed(2)
    tutorial = [("Rescaling", pytest.approx(1 / 255), 0.0)]  # the tutorial's rescale=1/255, moved inside
    for filters in (16, 32, 64, 64, 64):
        tutorial += [("Conv2D", filters, (3, 3), "relu"), ("MaxPooling2D", (2, 2), (2, 2))]
    tutorial += [("Flatten",), ("Dense", 512, "relu"), ("Dense", 1, "sigmoid")]
    assert [_describe(layer) for layer in model.layers] == tutorial
    assert model.input_shape == (None, 300, 300, 3)
    assert model.count_params() == 1_704_097  # what the tutorial's model.summary() shows


def test_seed_with_more_classes_gets_a_softmax_head() -> None:
    model = models.build_seed(3, input_size=(100, 100))
    assert _describe(model.layers[-1]) == ("Dense", 3, "softmax")


@pytest.mark.parametrize(
    ("n", "expected"),
    [(2, (1, "sigmoid", "binary_crossentropy")), (5, (5, "softmax", "sparse_categorical_crossentropy"))],
)
def test_output_spec(n: int, expected: tuple) -> None:
    assert models.output_spec(n) == expected


def test_mobilenet_parts_share_the_head_and_scale_inside() -> None:
    import keras
    import numpy as np

    tm = models.build_mobilenet_v2(2, input_size=(96, 96), weights=None)
    assert not any(type(layer).__name__ == "Lambda" for layer in tm.model.layers)  # safe_mode loadable
    rescale = tm.model.get_layer("rescale_to_mobilenet")
    assert rescale.scale == pytest.approx(1 / 127.5) and rescale.offset == pytest.approx(-1.0)
    assert not tm.backbone.trainable
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    # the exported model is exactly features → head: training on cached features trains the export
    chained = tm.head.predict(tm.features.predict(x, verbose=0), verbose=0)
    np.testing.assert_allclose(tm.model.predict(x, verbose=0), chained, rtol=1e-5, atol=1e-6)
    assert isinstance(tm.model.get_layer("classifier"), keras.layers.Dense)


def test_unfreeze_top_leaves_batchnorm_and_lower_blocks_frozen() -> None:
    import keras

    tm = models.build_mobilenet_v2(2, input_size=(96, 96), weights=None)
    assert tm.fine_tune_from == models.FINE_TUNE_FROM
    count = models.unfreeze_top(tm.backbone, tm.fine_tune_from)
    trainable = [layer for layer in tm.backbone.layers if layer.trainable]
    assert count == len(trainable) > 0
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)
    assert not tm.backbone.get_layer("block_1_expand").trainable
    assert tm.backbone.get_layer(models.FINE_TUNE_FROM).trainable


def test_the_arch_picks_the_backbone_its_scaling_and_where_fine_tuning_starts() -> None:
    from training_job import efficientnet_lite as lite

    common = {"input_size": (96, 96), "alpha": 0.35, "weights": None, "dropout": 0.2}
    lite0 = models.build_transfer("efficientnet_lite0", 2, **common)
    assert lite0.backbone.name == "efficientnet_lite0" and lite0.fine_tune_from == lite.FINE_TUNE_FROM
    assert lite0.model.get_layer("rescale_to_efficientnet").scale == pytest.approx(1 / 128)
    mobilenet = models.build_transfer("mobilenet_v2", 2, **common)
    assert mobilenet.model.get_layer("rescale_to_mobilenet") and mobilenet.fine_tune_from == "block_15_expand"
    with pytest.raises(ValueError, match="not a transfer architecture"):
        models.build_transfer("seed", 2, **common)


def test_a_refitted_head_has_the_same_shape_as_the_trained_one() -> None:
    tm = models.build_mobilenet_v2(3, input_size=(96, 96), weights=None)
    head = models.build_head(1280, 3, dropout=0.2)
    shapes = [w.shape for w in head.get_layer("classifier").get_weights()]
    assert shapes == [w.shape for w in tm.head.get_layer("classifier").get_weights()]
    assert head.get_layer("dropout").rate == pytest.approx(0.2)


def test_seed_features_are_the_penultimate_dense_the_head_reads() -> None:
    import numpy as np

    model = models.build_seed(2, input_size=(100, 100))
    features = models.seed_features(model)
    assert features.output_shape == (None, 512)
    x = np.random.default_rng(0).uniform(0, 255, (2, 100, 100, 3)).astype("float32")
    kernel, bias = model.layers[-1].get_weights()
    p = 1 / (1 + np.exp(-(features.predict(x, verbose=0) @ kernel + bias)))
    np.testing.assert_allclose(model.predict(x, verbose=0), p, rtol=1e-4, atol=1e-6)


def test_fine_tuning_from_a_layer_the_backbone_lacks_is_an_error_not_a_guess() -> None:
    """Input: EfficientNet-Lite0's first fine-tuned layer name given to MobileNetV2's backbone (it used
    to unfreeze the last 20 layers instead)."""
    from training_job.efficientnet_lite import FINE_TUNE_FROM as LITE0_FROM

    tm = models.build_mobilenet_v2(2, input_size=(96, 96), weights=None)
    with pytest.raises(ValueError, match=re.escape(f"no layer {LITE0_FROM!r}")):
        models.unfreeze_top(tm.backbone, LITE0_FROM)
    assert not any(layer.trainable for layer in tm.backbone.layers)
