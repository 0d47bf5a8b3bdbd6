"""The architectures: the tutorial's CNN (`seed`) and two frozen ImageNet backbones with a small head,
EfficientNet-Lite0 (the default, `efficientnet_lite.py`) and MobileNetV2.

All scale pixels INSIDE the model (a Rescaling layer) because `preprocess_image` hands every
caller plain RGB 0..255; that way the `.tflite` the Lambda runs needs nothing but those pixels.
No Lambda layers anywhere: the `.h5` must load with `safe_mode=True`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# Keras is imported inside each builder: `catdog --help` reads ARCHS and the input sizes from here,
# and Keras must not load before `prepare_keras_home()` (see training_job/train.py).
if TYPE_CHECKING:
    import keras

#: `--arch` choices. The default meets issue 17's targets where MobileNetV2-0.35 could not (99.2 % vs
#: 97.2 % validation accuracy, 85 s of training: benchmarks/results/train.md).
ARCHS = ("efficientnet_lite0", "mobilenet_v2", "seed")
DEFAULT_ARCH = "efficientnet_lite0"
#: The architectures built by `build_transfer`: frozen backbone, cached features, a head trained on them.
TRANSFER_ARCHS = ("efficientnet_lite0", "mobilenet_v2")
SEED_INPUT_SIZE = (300, 300)
MOBILENET_INPUT_SIZE = (224, 224)
LITE0_INPUT_SIZE = (224, 224)  # what its ImageNet weights were trained at
LITE0_TRAIN_SIZE = (256, 256)  # what the trainer uses by default (settings.ARCH_DEFAULTS)
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
    """The pieces of a transfer profile (EfficientNet-Lite0, MobileNetV2), sharing weights.

    `features` (pixels → pooled 1280-d vector) is run once over the data; `head` (vector →
    probability) is what trains on those cached vectors; `model` chains the same layer objects
    into the single network that is exported.
    """

    backbone: keras.Model
    features: keras.Model
    head: keras.Model
    model: keras.Model
    fine_tune_from: str  # the first backbone layer `--fine-tune-epochs` trains (each backbone names its own)


def build_mobilenet_v2(
    n_classes: int,
    *,
    input_size: tuple[int, int] = MOBILENET_INPUT_SIZE,
    alpha: float = 0.35,
    weights: str | None = "imagenet",
    dropout: float = 0.2,
) -> TransferModel:
    """ImageNet MobileNetV2 (frozen) → global average pooling → dropout → dense.

    `weights`: "imagenet" (Keras' cache, see `weights.prepare_keras_home`), a Keras `.h5` weights file,
    or None. A file Keras cannot load into this network is a `WeightsFileError` naming it.
    """
    import keras

    from training_job.weights import WeightsFileError

    check_weights("mobilenet_v2", weights)
    try:
        backbone = keras.applications.MobileNetV2(
            input_shape=(*input_size, 3), alpha=alpha, include_top=False, weights=weights
        )
    except Exception as e:  # h5py, Keras: a file that is not these weights, whatever the reason
        if weights in (None, "imagenet"):
            raise
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = reason if len(reason) <= 160 else reason[:159] + "…"
        raise WeightsFileError(f"{weights}: not MobileNetV2-{alpha} weights for a {input_size[0]}x"
                               f"{input_size[1]} input (Keras: {reason})") from None
    rescale = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale_to_mobilenet")
    return transfer_model(backbone, rescale, n_classes, dropout=dropout, name="mobilenet_v2_classifier",
                          fine_tune_from=FINE_TUNE_FROM)


def build_transfer(arch: str, n_classes: int, *, input_size: tuple[int, int], alpha: float,
                   weights: str | None, dropout: float) -> TransferModel:
    """The `--arch` a run asked for, as the trainer's four pieces (`alpha` is MobileNetV2's only)."""
    if arch == "efficientnet_lite0":
        from training_job.efficientnet_lite import build_efficientnet_lite0

        return build_efficientnet_lite0(n_classes, input_size=input_size, weights=weights, dropout=dropout)
    if arch == "mobilenet_v2":
        return build_mobilenet_v2(n_classes, input_size=input_size, alpha=alpha,
                                  weights=weights, dropout=dropout)
    raise ValueError(f"{arch!r} is not a transfer architecture ({', '.join(TRANSFER_ARCHS)})")


def check_weights(arch: str, weights: str | None) -> None:
    """Refuse a `--weights` file that cannot be right before a run spends time on the data.

    EfficientNet-Lite0's file is read whole (a missing, truncated, zip-format or foreign pickle file is
    a CheckpointError naming it); whether its tensors fit the network is checked when it is built.
    """
    if weights is None or arch not in TRANSFER_ARCHS:
        return
    if arch == "efficientnet_lite0":
        from training_job.efficientnet_lite import lite0_weights_path
        from training_job.torch_checkpoint import read_legacy_state_dict

        read_legacy_state_dict(lite0_weights_path(weights))
    elif weights != "imagenet" and not Path(weights).is_file():
        from training_job.weights import WeightsFileError

        raise WeightsFileError(f"{weights}: no such weights file (--weights takes 'imagenet', a file or "
                               "'none')")


def manifest_arch(arch: str, alpha: float) -> str:
    """The manifest's `arch`: the `--arch` name, MobileNetV2's with its width (`mobilenet_v2_0.35`)."""
    return f"mobilenet_v2_{alpha}" if arch == "mobilenet_v2" else arch


def transfer_model(backbone: keras.Model, rescale: keras.layers.Layer, n_classes: int, *, dropout: float,
                   name: str, fine_tune_from: str) -> TransferModel:
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
    return TransferModel(backbone=backbone, features=features, head=head, model=model,
                         fine_tune_from=fine_tune_from)


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


def unfreeze_top(backbone: keras.Model, from_layer: str) -> int:
    """Make the backbone's layers from `from_layer` on trainable (BatchNorm stays frozen); returns count."""
    import keras

    names = [layer.name for layer in backbone.layers]
    if from_layer not in names:  # a guess (the last N layers) would train some other part of the network
        raise ValueError(f"{backbone.name} has no layer {from_layer!r} to fine-tune from")
    backbone.trainable = True
    start = names.index(from_layer)
    count = 0
    for i, layer in enumerate(backbone.layers):
        trainable = i >= start and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = trainable
        count += int(trainable)
    return count
