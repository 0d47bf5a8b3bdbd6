"""A tiny real model for tests that need one: trained in seconds, exported like a real one."""

from __future__ import annotations

from pathlib import Path

from catdog.manifest import Manifest
from catdog.preprocess import PREPROCESSING_SPEC


def build_tiny_model_dir(
    out_dir: Path,
    labels: tuple[str, ...] = ("cat", "dog"),
    input_size: tuple[int, int] = (32, 32),
    version: str = "test-v1",
) -> Path:
    """A 2-layer CNN (untrained, seeded) exported as `.h5` + `.tflite` + manifest in `out_dir`.

    Its rule is "reddish images → labels[0]": a fixed, hand-set Dense layer on the mean colour,
    so tests can predict its answer without training anything.
    """
    import keras
    import numpy as np

    from training_job.export import write_model_files

    sigmoid = len(labels) == 2
    inputs = keras.Input((*input_size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)  # mean R, G, B in 0..1
    units = 1 if sigmoid else len(labels)
    dense = keras.layers.Dense(units, activation="sigmoid" if sigmoid else "softmax")
    outputs = dense(x)
    model = keras.Model(inputs, outputs)
    if sigmoid:  # P(labels[1]) rises with (blue + green - red)
        dense.set_weights([np.array([[-8.0], [4.0], [4.0]], dtype="float32"), np.zeros(1, "float32")])
    else:
        w = np.zeros((3, units), dtype="float32")
        for i in range(units):
            w[i % 3, i] = 8.0
        dense.set_weights([w, np.zeros(units, "float32")])
    manifest = Manifest(
        version=version,
        labels=list(labels),
        input_size=input_size,
        arch="tiny-test",
        output_activation="sigmoid" if sigmoid else "softmax",
        preprocessing=PREPROCESSING_SPEC,
        metrics={"accuracy": 1.0},
    )
    return write_model_files(model, out_dir, manifest)
