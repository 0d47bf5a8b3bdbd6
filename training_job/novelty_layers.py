"""The novelty score as Keras layers, so it rides inside the ONE graph the Lambda runs.

A second model file would mean a second download, a second LiteRT call per batch and two files that
can disagree; a second output of the same graph costs one matrix product on features that are
computed anyway (+6-8 % per image for the Mahalanobis block, measured).

The Mahalanobis block uses built-in layers only (UnitNormalization, Dense, Multiply, Add, Minimum),
so the `.h5` still loads with plain `keras.models.load_model(path, safe_mode=True)`. kNN needs a
top-k, which no built-in layer does: `KNNDistance` is registered as `catdog>KNNDistance`, and this
module must be imported before such an `.h5` is loaded (`training_job.export.load_keras_model`).
Both blocks output the raw score divided by the calibrated threshold: above 1.0 means `unknown`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import ops

from training_job.novelty import KnnDetector, MahalanobisDetector, NoveltyFit

if TYPE_CHECKING:
    from keras import KerasTensor


def novelty_output(features: KerasTensor, fit: NoveltyFit, name: str = "novelty") -> KerasTensor:
    """The (n, 1) normalised novelty score of `features` (the penultimate layer's output)."""
    if isinstance(fit.detector, MahalanobisDetector):
        return mahalanobis_block(features, fit.detector, fit.threshold, name)
    if isinstance(fit.detector, KnnDetector):
        layer = KNNDistance(len(fit.detector.bank), fit.detector.k, scale=1.0 / fit.threshold, name=name)
        out = layer(features)
        layer.set_weights([fit.detector.bank.T.astype("float32")])
        return out
    raise TypeError(f"no Keras block for {type(fit.detector).__name__}")


def mahalanobis_block(features: KerasTensor, det: MahalanobisDetector, threshold: float,
                      name: str = "novelty") -> KerasTensor:
    """min over classes c of ||x̂W - m_cW||² / threshold, with x̂ = x/||x||, in built-in layers.

    Expanded as ||u||² - 2u·k_c + ||k_c||² with u = x̂W - m̄W and k_c = (m_c - m̄)W: centring on the
    mean of the class means keeps ||u||² small, so float32 cancellation stays harmless (h5 and
    tflite agree to ~1e-5 relative).
    """
    p = det.whitener.shape[0]
    centres = det.means @ det.whitener
    centre = centres.mean(axis=0)
    scale = 1.0 / threshold
    xn = keras.layers.UnitNormalization(axis=-1, name=f"{name}_l2norm")(features)
    whiten = keras.layers.Dense(p, trainable=False, name=f"{name}_whiten")
    u = whiten(xn)
    whiten.set_weights([det.whitener.astype("float32"), (-centre).astype("float32")])
    square_sum = keras.layers.Dense(1, use_bias=False, trainable=False, name=f"{name}_sqnorm")
    sq = square_sum(keras.layers.Multiply(name=f"{name}_square")([u, u]))
    square_sum.set_weights([np.full((p, 1), scale, "float32")])
    distances = []
    for c, k in enumerate(centres - centre):
        cross = keras.layers.Dense(1, trainable=False, name=f"{name}_cross_{c}")
        distances.append(keras.layers.Add(name=f"{name}_dist_{c}")([sq, cross(u)]))
        cross.set_weights([(-2 * scale * k)[:, None].astype("float32"),
                           np.array([scale * (k @ k)], "float32")])
    if len(distances) == 1:
        return keras.layers.Identity(name=name)(distances[0])
    return keras.layers.Minimum(name=name)(distances)


@keras.saving.register_keras_serializable(package="catdog")
class KNNDistance(keras.layers.Layer):
    """`scale` x (1 - cosine similarity to the k-th nearest column of a stored, L2-normalised bank)."""

    def __init__(self, n_bank: int, k: int, scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_bank, self.k, self.scale = int(n_bank), int(k), float(scale)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.bank = self.add_weight(name="bank", shape=(int(input_shape[-1]), self.n_bank),
                                    initializer="zeros", trainable=False)

    def call(self, x: Any) -> Any:
        x = x * ops.rsqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-12))
        top = ops.top_k(ops.matmul(x, self.bank), self.k, sorted=True)[0]
        return self.scale * (1.0 - top[:, self.k - 1 : self.k])

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int | None, int]:
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n_bank": self.n_bank, "k": self.k, "scale": self.scale}
