"""The novelty blocks inside a Keras graph agree with the numpy detectors, in `.h5` and in `.tflite`.

Both methods, on a small stand-in feature model (mean colour per 4x4 cell: 48 features), so the
checks run in seconds: the exported score is the numpy score divided by the threshold, the `.h5`
loads in safe mode, and LiteRT names the two outputs in the signature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training_job.novelty import fit_novelty


def feature_model() -> object:
    import keras

    pixels = keras.Input((16, 16, 3), name="pixels")
    x = keras.layers.AveragePooling2D(4)(keras.layers.Rescaling(1 / 255.0)(pixels))
    return keras.Model(pixels, keras.layers.Flatten()(x))


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_exported_novelty_matches_numpy_in_h5_and_tflite(method: str, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from training_job.export import build_serving_model, load_keras_model, to_tflite

    rng = np.random.default_rng(0)
    features = feature_model()
    reds = rng.normal([200, 40, 40], 20, (60, 16, 16, 3)).clip(0, 255)
    teals = rng.normal([40, 190, 210], 20, (60, 16, 16, 3)).clip(0, 255)
    images = np.concatenate([reds, teals]).astype("float32")
    labels = np.repeat([0, 1], 60)
    x = features.predict(images, verbose=0)
    fit = fit_novelty(x[::2], labels[::2], None, x[1::2], labels[1::2], accept_rate=0.95, min_auroc=0.0,
                      seed=0, methods=(method,))
    kernel = rng.normal(size=(x.shape[1], 1)).astype("float32")
    model = build_serving_model(features, (kernel, np.zeros(1, "float32")), "sigmoid", 2.0, fit)
    model.save(tmp_path / "model.h5")
    (tmp_path / "model.tflite").write_bytes(to_tflite(model))

    grey = np.full((4, 16, 16, 3), 128.0, "float32")
    probe = np.concatenate([images[:6], grey])
    expected = fit.normalized(features.predict(probe, verbose=0))
    h5 = load_keras_model(tmp_path / "model.h5")(probe)
    np.testing.assert_allclose(np.asarray(h5["novelty"]).ravel(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(h5["probability"]).ravel(),
                               1 / (1 + np.exp(-(features.predict(probe, verbose=0) @ kernel).ravel() / 2.0)),
                               rtol=1e-5, atol=1e-6)
    interpreter = Interpreter(model_path=str(tmp_path / "model.tflite"))
    runner = interpreter.get_signature_runner("serving_default")
    out = runner(pixels=probe)
    np.testing.assert_allclose(out["novelty"].ravel(), expected, rtol=1e-4, atol=1e-5)
    assert (expected[:6] <= 1.0).mean() >= 0.5 and (expected[6:] > 1.0).all()  # grey is unknown
