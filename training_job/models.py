"""The two architectures: the tutorial's CNN (`seed`) and a frozen MobileNetV2 with a small head.

Both scale pixels INSIDE the model (a Rescaling layer) because `preprocess_image` hands every
caller plain RGB 0..255; that way the `.tflite` the Lambda runs needs nothing but those pixels.
No Lambda layers anywhere: the `.h5` must load with `safe_mode=True`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Keras is imported inside each builder: `catdog --help` reads ARCHS and the input sizes from here,
# and Keras must not load before `prepare_keras_home()` (see training_job/train.py).
if TYPE_CHECKING:
    import keras

ARCHS = ("mobilenet_v2", "seed")
SEED_INPUT_SIZE = (300, 300)
MOBILENET_INPUT_SIZE = (224, 224)
#: The backbone layer from which `--fine-tune-epochs` unfreezes (the last two inverted-residual blocks).
FINE_TUNE_FROM = "block_15_expand"


def output_spec(n_classes: int) -> tuple[int, str, str]:
    """(units, activation, loss): two classes get the tutorial's single sigmoid unit."""
    if n_classes == 2:
        return 1, "sigmoid", "binary_crossentropy"
    return n_classes, "softmax", "sparse_categorical_crossentropy"


def build_seed(n_classes: int, input_size: tuple[int, int] = SEED_INPUT_SIZE) -> keras.Model:
    """The tutorial's Sequential CNN, layer for layer, with its `rescale=1/255` moved into the model."""
    import keras

    units, activation, _ = output_spec(n_classes)
    layers = [keras.Input((*input_size, 3)), keras.layers.Rescaling(1.0 / 255)]
    for filters in (16, 32, 64, 64, 64):
        layers += [keras.layers.Conv2D(filters, (3, 3), activation="relu"), keras.layers.MaxPooling2D(2, 2)]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(units, activation=activation),
    ]
    return keras.Sequential(layers, name="seed")


def seed_augmentation(seed: int) -> keras.Sequential:
    """`ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True)` as Keras layers.

    ImageDataGenerator's `shear_range` is an angle in DEGREES, so the tutorial's 0.2 is a shear of
    tan(0.2°) ≈ 0.0035 (next to nothing); RandomShear takes that tangent. Its zoom samples each
    axis independently in [0.8, 1.2], as RandomZoom does when given both factors.
    """
    import keras

    shear = math.tan(math.radians(0.2))
    return keras.Sequential(
        [
            keras.layers.RandomShear(x_factor=shear, y_factor=0.0, seed=seed),
            keras.layers.RandomZoom(0.2, 0.2, seed=seed),
            keras.layers.RandomFlip("horizontal", seed=seed),
        ],
        name="seed_augmentation",
    )


def finetune_augmentation(seed: int) -> keras.Sequential:
    """Mild random augmentation for fine-tuning on images (the frozen phase uses fixed flips)."""
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, seed=seed),
            keras.layers.RandomZoom(0.1, seed=seed),
        ],
        name="finetune_augmentation",
    )


@dataclass
class TransferModel:
    """The pieces of the MobileNetV2 profile, sharing weights.

    `features` (pixels → pooled 1280-d vector) is run once over the data; `head` (vector →
    probability) is what trains on those cached vectors; `model` chains the same layer objects
    into the single network that is exported.
    """

    backbone: keras.Model
    features: keras.Model
    head: keras.Model
    model: keras.Model


def build_mobilenet_v2(
    n_classes: int,
    *,
    input_size: tuple[int, int] = MOBILENET_INPUT_SIZE,
    alpha: float = 0.35,
    weights: str | None = "imagenet",
    dropout: float = 0.2,
) -> TransferModel:
    """ImageNet MobileNetV2 (frozen) → global average pooling → dropout → dense."""
    import keras

    backbone = keras.applications.MobileNetV2(
        input_shape=(*input_size, 3), alpha=alpha, include_top=False, weights=weights
    )
    rescale = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale_to_mobilenet")
    return transfer_model(backbone, rescale, n_classes, dropout=dropout, name="mobilenet_v2_classifier")


def transfer_model(backbone: keras.Model, rescale: keras.layers.Layer, n_classes: int, *, dropout: float,
                   name: str) -> TransferModel:
    """pixels → `rescale` → `backbone` (frozen) → average pooling → dropout → dense, in its four pieces.

    Every backbone the trainer offers is wrapped here, so they all give the trainer the same shape.
    """
    import keras

    units, activation, _ = output_spec(n_classes)
    backbone.trainable = False
    pool = keras.layers.GlobalAveragePooling2D(name="pool")
    drop = keras.layers.Dropout(dropout, name="dropout")
    dense = keras.layers.Dense(units, activation=activation, name="classifier")

    pixels = keras.Input(tuple(backbone.inputs[0].shape[1:]), name="pixels")
    # training=False keeps BatchNorm in inference mode even when the top blocks are unfrozen later.
    pooled = pool(backbone(rescale(pixels), training=False))
    features = keras.Model(pixels, pooled, name="features")
    model = keras.Model(pixels, dense(drop(pooled)), name=name)

    vector = keras.Input((int(pooled.shape[-1]),), name="feature_vector")
    head = keras.Model(vector, dense(drop(vector)), name="head")
    return TransferModel(backbone=backbone, features=features, head=head, model=model)


def build_head(n_features: int, n_classes: int, dropout: float = 0.2) -> keras.Model:
    """A fresh feature vector → dropout → dense head, the same recipe as `TransferModel.head`.

    The trainer refits it once per fold for out-of-fold logits (the temperature's held-out data).
    """
    import keras

    units, activation, _ = output_spec(n_classes)
    vector = keras.Input((n_features,), name="feature_vector")
    out = keras.layers.Dense(units, activation=activation, name="classifier")(
        keras.layers.Dropout(dropout, name="dropout")(vector))
    return keras.Model(vector, out, name="head")


def seed_features(model: keras.Model) -> keras.Model:
    """The seed CNN up to its penultimate Dense(512): what its last layer (the head) sees.

    (`model.inputs[0]`, not `model.input`: the latter raises on this Sequential in Keras 3.)
    """
    import keras

    return keras.Model(model.inputs[0], model.layers[-2].output, name="seed_features")


def unfreeze_top(backbone: keras.Model, from_layer: str = FINE_TUNE_FROM) -> int:
    """Make the backbone's layers from `from_layer` on trainable (BatchNorm stays frozen); returns count."""
    import keras

    backbone.trainable = True
    names = [layer.name for layer in backbone.layers]
    start = names.index(from_layer) if from_layer in names else len(names) - 20
    count = 0
    for i, layer in enumerate(backbone.layers):
        trainable = i >= start and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = trainable
        count += int(trainable)
    return count
