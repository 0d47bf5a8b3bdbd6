"""A tiny real model for tests that need one: trained in seconds, exported like a real one."""

from __future__ import annotations

from pathlib import Path

from catdog.manifest import Manifest
from catdog.preprocess import PREPROCESSING_SPEC

#: The colours the tiny novelty model "was trained on": reddish (a cat) and teal (a dog).
TRAINING_COLOURS = ((220, 20, 20), (20, 200, 220))
#: Squared distance between L2-normalised mean colours beyond which an image is `unknown`.
COLOUR_THRESHOLD = 0.05


def build_tiny_model_dir(
    out_dir: Path,
    labels: tuple[str, ...] = ("cat", "dog"),
    input_size: tuple[int, int] = (32, 32),
    version: str = "test-v1",
    novelty: bool = False,
) -> Path:
    """A 2-layer CNN (untrained, seeded) exported as `.h5` + `.tflite` + manifest in `out_dir`.

    Its rule is "reddish images → labels[0]": a fixed, hand-set Dense layer on the mean colour,
    so tests can predict its answer without training anything.

    `novelty=True` exports the two-output model the trainer writes (`probability`, `novelty`) and
    a manifest with a threshold: the novelty score is the distance of the image's mean colour
    (as a direction) from the nearest of `TRAINING_COLOURS`, so a cat-red or teal photo gets a
    label and a grey, white, green or noisy image is `unknown`. Without it, the model is the old
    single-output kind (no output names, no novelty block): the compatibility case.
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
    if novelty:
        from training_job.novelty import MahalanobisDetector
        from training_job.novelty_layers import mahalanobis_block

        colours = np.array(TRAINING_COLOURS, dtype=np.float64)
        detector = MahalanobisDetector(means=colours / np.linalg.norm(colours, axis=1, keepdims=True),
                                       whitener=np.eye(3), shrinkage=0.0)
        model = keras.Model(inputs, {"probability": outputs,
                                     "novelty": mahalanobis_block(x, detector, COLOUR_THRESHOLD)})
    else:
        model = keras.Model(inputs, outputs)
    if sigmoid:  # P(labels[1]) rises with (blue + green - red)
        dense.set_weights([np.array([[-8.0], [4.0], [4.0]], dtype="float32"), np.zeros(1, "float32")])
    else:
        w = np.zeros((3, units), dtype="float32")
        for i in range(units):
            w[i % 3, i] = 8.0
        dense.set_weights([w, np.zeros(units, "float32")])
    block = {"enabled": True, "method": "mahalanobis", "output": "novelty", "threshold": 1.0,
             "accept_rate": 0.99, "raw_threshold": COLOUR_THRESHOLD} if novelty else {}
    manifest = Manifest(
        version=version,
        labels=list(labels),
        input_size=input_size,
        arch="tiny-test",
        output_activation="sigmoid" if sigmoid else "softmax",
        preprocessing=PREPROCESSING_SPEC,
        metrics={"accuracy": 1.0},
        novelty=block,
    )
    return write_model_files(model, out_dir, manifest)
