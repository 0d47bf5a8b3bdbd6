"""Run a feature model over many images once: Keras on a GPU, LiteRT on CPUs.

The default profile spends most of its time pushing ~4,600 images (fit + their mirror images,
stop, calib, validation) through the frozen backbone. On 2 CPU cores (benchmarks/results/
feature_engine.md) Keras `predict_on_batch` takes 10.7 ms per image for EfficientNet-Lite0 at 256 px
and 3.5 ms for MobileNetV2-0.35 at 224; the same graphs converted to `.tflite` and run by LiteRT
(XNNPACK) take 5.6 and 1.0 ms, with features equal to ~1e-5, so the conversion (~6 s each) pays for
itself from about 1100 and 2300 images on (`LITERT_MIN_IMAGES`: those, rounded to the nearest 500).
`auto` picks LiteRT on a CPU-only machine for runs that large, Keras otherwise (a GPU, or a small run
where the conversion would dominate). LiteRT is also what serves the model, so the head trains on
the features the Lambda computes.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from tqdm import tqdm

from training_job.export import to_tflite
from training_job.settings import ENGINES

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

#: Per architecture: below this many images the `.tflite` conversion costs more than LiteRT saves.
LITERT_MIN_IMAGES = {"efficientnet_lite0": 1000, "mobilenet_v2": 2500}
BATCH = 32


def choose_engine(engine: str, n_images: int, arch: str) -> str:
    """`keras` or `litert` for `engine` (`auto` looks at the GPUs and the workload of `arch`)."""
    if engine != "auto":
        if engine not in ENGINES:
            raise ValueError(f"unknown feature engine {engine!r}; choose from {', '.join(ENGINES)}")
        return engine
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU") or n_images < LITERT_MIN_IMAGES.get(arch, 1000):
        return "keras"
    return "litert"


class FeatureExtractor:
    """`extractor(images)` → (n, d) float32 features; `mirror=True` flips each image left-right first."""

    def __init__(self, model: keras.Model, engine: str = "keras") -> None:
        self.model, self.engine = model, engine
        self._interpreter = None
        if engine == "litert":
            self._interpreter = Interpreter(model_content=to_tflite(model), num_threads=os.cpu_count() or 1)
            self._input = self._interpreter.get_input_details()[0]
            self._output = self._interpreter.get_output_details()[0]
            self._batch = -1

    def __call__(self, images: np.ndarray, mirror: bool = False, what: str = "images") -> np.ndarray:
        """`what` names the pass on its progress bar (stderr): `backbone features (fit)`."""
        out = []
        label = f"backbone features ({what}{', mirrored' if mirror else ''})"
        with tqdm(total=len(images), desc=label, unit="img", file=sys.stderr) as bar:
            for start in range(0, len(images), BATCH):
                x = images[start : start + BATCH]
                x = (x[:, :, ::-1] if mirror else x).astype(np.float32)
                out.append(self._litert(x) if self._interpreter is not None else self._keras(x))
                bar.update(len(x))
        if not out:
            return np.zeros((0, int(self.model.outputs[0].shape[-1])), np.float32)
        return np.concatenate(out).reshape(len(images), -1)

    def _keras(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(x), dtype=np.float32)

    def _litert(self, x: np.ndarray) -> np.ndarray:
        it = self._interpreter
        assert it is not None
        if len(x) != self._batch:
            it.resize_tensor_input(self._input["index"], [len(x), *self._input["shape"][1:]])
            it.allocate_tensors()
            self._batch = len(x)
        it.set_tensor(self._input["index"], x)
        it.invoke()
        return np.array(it.get_tensor(self._output["index"]), dtype=np.float32)
