"""Run a `.tflite` export with LiteRT: the serving path used by the Lambda, `evaluate` and `predict`.

LiteRT (ai-edge-litert) is a ~20 MB wheel; TensorFlow is 1.3 GB and must never be imported here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.config import DEFAULT_INFERENCE_CHUNK
from catdog.errors import ModelError
from catdog.manifest import Manifest


@dataclass(frozen=True)
class Prediction:
    label: str  # the answer
    confidence: float
    scores: dict[str, float]
    top_label: str = ""  # the most likely trained label (the answer too, unless it is `unknown`)
    novelty: float | None = None  # how unlike the training images it is, when the model scores that


class Classifier:
    """A loaded model: call `classify` with a batch of preprocessed images."""

    def __init__(self, model_path: str | Path, manifest: Manifest, num_threads: int | None = None,
                 *, chunk: int = DEFAULT_INFERENCE_CHUNK) -> None:
        """`num_threads`: LiteRT's CPU threads; None or 0 means one per CPU (Settings.litert_threads).
        `chunk`: images per LiteRT call in `classify` (inference memory grows with the call's size)."""
        from ai_edge_litert.interpreter import Interpreter  # deferred: keeps `import catdog` light

        self.manifest = manifest
        self.chunk = max(1, chunk)
        threads = num_threads or os.cpu_count() or 1
        try:
            with _without_delegate_banner():
                self._interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load model {Path(model_path).name}: {exc}") from exc
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        expected = tuple(int(d) for d in self._input["shape"][1:3])
        if expected != tuple(manifest.input_size):
            raise ModelError(
                f"model input is {expected[0]}x{expected[1]} but the manifest says "
                f"{manifest.input_size[0]}x{manifest.input_size[1]}"
            )
        self._batch = int(self._input["shape"][0])

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) float32 0..255 → (n, len(labels)) probabilities, one batched invoke."""
        if pixels.ndim != 4 or pixels.shape[0] == 0:
            raise ValueError(f"expected a non-empty (n, h, w, 3) batch, got shape {pixels.shape}")
        n = pixels.shape[0]
        if n != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [n, *self._input["shape"][1:]])
            self._interpreter.allocate_tensors()
            self._batch = n
        self._interpreter.set_tensor(self._input["index"], pixels.astype(self._input["dtype"], copy=False))
        self._interpreter.invoke()
        raw = np.array(self._interpreter.get_tensor(self._output["index"]), dtype=np.float64)
        return to_probabilities(raw, self.manifest.output_activation)

    def classify(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """One LiteRT call per `chunk` images (a batch of 10 is one call with the default 16)."""
        predictions: list[Prediction] = []
        for start in range(0, len(images), self.chunk):
            probs = self.predict(np.stack(images[start : start + self.chunk]))
            predictions += [to_prediction(row, self.manifest.labels) for row in probs]
        return predictions


@contextlib.contextmanager
def _without_delegate_banner() -> Iterator[None]:
    """LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to
    file descriptor 2 on every model load, whatever the log level: keep it out of people's terminals
    (every other line it writes there is passed on)."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and "XNNPACK delegate for CPU" not in line:
                    print(line, file=sys.stderr)


def to_probabilities(raw: np.ndarray, activation: str) -> np.ndarray:
    """Model output → one probability column per label (a sigmoid head scores only labels[1]).

    The trainer's metrics and the serving path both go through here, so they read a two-class
    model's single unit the same way.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if activation == "sigmoid":
        p = raw.reshape(-1, 1)
        return np.concatenate([1.0 - p, p], axis=1)
    return raw.reshape(raw.shape[0], -1)


def to_prediction(row: np.ndarray, labels: Sequence[str]) -> Prediction:
    best = int(np.argmax(row))
    return Prediction(
        label=labels[best],
        confidence=float(row[best]),
        scores={label: float(score) for label, score in zip(labels, row, strict=True)},
    )
