"""Write a trained Keras model as the serving artifacts: `model.h5`, `model.tflite`, `manifest.json`.

The `.tflite` is converted from the very model object that is saved as `.h5`, so the two cannot
come from different weights; the Lambda only ever reads the `.tflite`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

from catdog.manifest import H5_FILE, TFLITE_FILE, Manifest
from catdog.model_repo import write_manifest


def to_tflite(model: keras.Model) -> bytes:  # type only: TF is imported lazily
    """Convert with default float32 kernels (no quantization): the export must agree with the `.h5`."""
    import tensorflow as tf

    from training_job.quiet import swallow_stdout

    with swallow_stdout():  # the export prints every TensorSpec of the graph
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        return bytes(converter.convert())


def write_model_files(model: keras.Model, out_dir: str | Path, manifest: Manifest) -> Path:
    """Save `model` and its manifest into `out_dir` (created if needed); returns `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / H5_FILE)
    (out / TFLITE_FILE).write_bytes(to_tflite(model))
    write_manifest(out, manifest)  # last, with the sha256 of the files above
    return out
