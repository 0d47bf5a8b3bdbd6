"""Write a trained Keras model as the serving artifacts: `model.h5`, `model.tflite`, `manifest.json`.

The `.tflite` is converted from the very model object that is saved as `.h5`, so the two cannot
come from different weights; the Lambda only ever reads the `.tflite`.

The serving model has named outputs: `probability` (the calibrated head) and, when the run fitted
a usable novelty detector, `novelty`. Names survive conversion as the signature's output keys,
which is how the Lambda finds them (LiteRT lists the outputs of a two-output graph in reverse).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from catdog.manifest import H5_FILE, TFLITE_FILE, Manifest
from catdog.model_repo import write_manifest
from training_job.quiet import swallow_stdout, without_log_message

# Keras and TensorFlow are imported inside the functions that need them (see training_job/train.py).
if TYPE_CHECKING:
    import keras

    from training_job.novelty import NoveltyFit

PROBABILITY, NOVELTY = "probability", "novelty"


def build_serving_model(features: keras.Model, weights: tuple[np.ndarray, np.ndarray], activation: str,
                        temperature: float = 1.0, novelty: NoveltyFit | None = None) -> keras.Model:
    """pixels → {"probability": the head with W/T and b/T, "novelty": score / threshold (if enabled)}.

    `features` maps pixels to the head's input (the pooled backbone features, or the seed CNN's
    penultimate Dense); dropout, a no-op at inference, is left out. Sharing the layer objects of
    `features`, the export carries exactly the trained weights.
    """
    import keras

    from training_job.novelty_layers import novelty_output

    kernel, bias = weights
    vector = features.outputs[0]
    dense = keras.layers.Dense(kernel.shape[1], activation=activation, name=PROBABILITY)
    outputs = {PROBABILITY: dense(vector)}
    dense.set_weights([(kernel / temperature).astype("float32"), (bias / temperature).astype("float32")])
    if novelty is not None and novelty.enabled:
        outputs[NOVELTY] = novelty_output(vector, novelty, NOVELTY)
    return keras.Model(features.inputs[0], outputs, name="catdog_serving")


def load_keras_model(path: str | Path) -> keras.Model:
    """`model.h5` in safe mode; registers the one custom layer a kNN novelty output needs first."""
    import keras

    import training_job.novelty_layers  # noqa: F401  (registers catdog>KNNDistance)

    return keras.models.load_model(path, safe_mode=True, compile=False)


def to_tflite(model: keras.Model) -> bytes:  # type only: TF is imported lazily
    """Convert with default float32 kernels (no quantization): the export must agree with the `.h5`."""
    import tensorflow as tf

    with swallow_stdout():  # the export prints every TensorSpec of the graph
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        return bytes(converter.convert())


def write_model_files(model: keras.Model, out_dir: str | Path, manifest: Manifest) -> Path:
    """Save `model` and its manifest into `out_dir` (created if needed); returns `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # `.h5` on purpose (manifest.H5_FILE: what `evaluate`, fine-tuning and people load with Keras;
    # the Lambda reads the .tflite): Keras 3 calls the format legacy in a warning on every save,
    # through absl, which a person can do nothing about. That one message is dropped; any other
    # warning of the save still shows.
    with without_log_message("absl", "saving your model as an HDF5 file"):
        model.save(out / H5_FILE)
    (out / TFLITE_FILE).write_bytes(to_tflite(model))
    write_manifest(out, manifest)  # last, with the sha256 of the files above
    return out
