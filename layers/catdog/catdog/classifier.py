"""Run a `.tflite` export with LiteRT: the serving path used by the Lambda, `evaluate` and `predict`.

LiteRT (ai-edge-litert) is a ~20 MB wheel; TensorFlow is 1.3 GB and must never be imported here.

A model has one or two outputs, found by their signature keys: `probability` (the calibrated head)
and `novelty` (how unlike the training photos an image is). Never by position: LiteRT lists a
two-output graph's outputs in reverse order. An image whose novelty is over the manifest's
threshold is answered `unknown`, keeping its most likely trained label as `top_label`. Models
exported before novelty existed have a single unnamed output and no threshold: never `unknown`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from catdog.config import DEFAULT_INFERENCE_CHUNK
from catdog.errors import ModelError
from catdog.manifest import UNKNOWN_LABEL, Manifest
from catdog.native_stderr import native_stderr_without

PROBABILITY_OUTPUT, NOVELTY_OUTPUT = "probability", "novelty"


@dataclass(frozen=True)
class Prediction:
    label: str  # the answer: a trained label, or `unknown`
    confidence: float
    scores: dict[str, float]
    top_label: str = ""  # the most likely trained label (the answer too, unless it is `unknown`)
    novelty: float | None = None  # how unlike the training images it is, when the model scores that

    @property
    def is_unknown(self) -> bool:
        return self.label == UNKNOWN_LABEL


class Classifier:
    """A loaded model: call `classify` with a batch of preprocessed images."""

    def __init__(self, model_path: str | Path, manifest: Manifest, num_threads: int | None = None,
                 *, chunk: int = DEFAULT_INFERENCE_CHUNK) -> None:
        """`num_threads`: LiteRT's CPU threads; None or 0 means one per CPU (Settings.litert_threads).
        `chunk`: images per LiteRT call in `classify` (inference memory grows with the call's size)."""
        # Deferred: LiteRT takes ~70 ms to import, and most CLI commands import this module (through
        # model_repo) without ever running a model.
        from ai_edge_litert.interpreter import Interpreter

        self.manifest = manifest
        self.chunk = max(1, chunk)
        threads = num_threads or os.cpu_count() or 1
        try:
            with _without_delegate_banner():
                self._interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
                outputs = _named_outputs(self._interpreter)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load model {Path(model_path).name}: {exc}") from exc
        self._input = self._interpreter.get_input_details()[0]
        self._probability, novelty = _pick_outputs(self._interpreter, outputs)
        self.novelty_threshold = manifest.novelty_threshold
        if self.novelty_threshold is not None and novelty is None:
            raise ModelError(f"the manifest sets a novelty threshold but {Path(model_path).name} has no "
                             f"{NOVELTY_OUTPUT!r} output")
        # a novelty output without a threshold to compare it with is not used (never `unknown`)
        self._novelty = novelty if self.novelty_threshold is not None else None
        expected = tuple(int(d) for d in self._input["shape"][1:3])
        if expected != tuple(manifest.input_size):
            raise ModelError(
                f"model input is {expected[0]}x{expected[1]} but the manifest says "
                f"{manifest.input_size[0]}x{manifest.input_size[1]}"
            )
        self._batch = int(self._input["shape"][0])

    @property
    def scores_novelty(self) -> bool:
        return self._novelty is not None

    def infer(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, h, w, 3) float32 0..255 → ((n, len(labels)) probabilities, (n,) novelty or None): one
        batched invoke; novelty is None when the model does not score it (or has no threshold)."""
        if pixels.ndim != 4 or pixels.shape[0] == 0:
            raise ValueError(f"expected a non-empty (n, h, w, 3) batch, got shape {pixels.shape}")
        n = pixels.shape[0]
        if n != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [n, *self._input["shape"][1:]])
            self._interpreter.allocate_tensors()
            self._batch = n
        self._interpreter.set_tensor(self._input["index"], pixels.astype(self._input["dtype"], copy=False))
        self._interpreter.invoke()
        raw = np.array(self._interpreter.get_tensor(self._probability), dtype=np.float64)
        novelty = None
        if self._novelty is not None:
            novelty = np.array(self._interpreter.get_tensor(self._novelty), dtype=np.float64).reshape(n)
        return to_probabilities(raw, self.manifest.output_activation), novelty

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) float32 0..255 → (n, len(labels)) probabilities, one batched invoke."""
        return self.infer(pixels)[0]

    def classify(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """One LiteRT call per `chunk` images (a batch of 10 is one call with the default 16)."""
        predictions: list[Prediction] = []
        for start in range(0, len(images), self.chunk):
            probs, novelty = self.infer(np.stack(images[start : start + self.chunk]))
            predictions += [
                to_prediction(row, self.manifest.labels, None if novelty is None else float(novelty[i]),
                              self.novelty_threshold)
                for i, row in enumerate(probs)
            ]
        return predictions


def _without_delegate_banner() -> contextlib.AbstractContextManager[None]:
    """LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to
    file descriptor 2 on every model load, whatever the log level: keep it out of people's terminals
    (every other line it writes there is passed on)."""
    return native_stderr_without(lambda line: "XNNPACK delegate for CPU" in line)


def _named_outputs(interpreter: Any) -> dict[str, int]:
    """{signature output key: tensor index}, read before `allocate_tensors` (a live signature runner
    makes it fail: "There is at least 1 reference to internal data"). Empty without a signature."""
    signatures = interpreter.get_signature_list()
    if not signatures:
        return {}
    key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
    runner = interpreter.get_signature_runner(key)
    outputs = {name: int(detail["index"]) for name, detail in runner.get_output_details().items()}
    del runner
    return outputs


def _pick_outputs(interpreter: Any, named: dict[str, int]) -> tuple[int, int | None]:
    """(probability tensor, novelty tensor or None): by name, or the one output of an older model."""
    if PROBABILITY_OUTPUT in named:
        return named[PROBABILITY_OUTPUT], named.get(NOVELTY_OUTPUT)
    details = interpreter.get_output_details()
    if len(details) == 1:
        return int(details[0]["index"]), None
    raise ModelError(f"the model has {len(details)} outputs and none is named {PROBABILITY_OUTPUT!r} "
                     f"(found {sorted(named)})")


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


def to_prediction(row: np.ndarray, labels: Sequence[str], novelty: float | None = None,
                  threshold: float | None = None) -> Prediction:
    """The answer for one image: its top label, or `unknown` when its novelty is over `threshold`.

    A novelty that is not a finite number (a broken export) answers `unknown` too: a model that
    cannot tell should not claim a label; it is not recorded (DynamoDB takes no NaN).
    """
    best = int(np.argmax(row))
    top = labels[best]
    unknown = False
    if novelty is not None and threshold is not None:
        if not math.isfinite(novelty):
            unknown, novelty = True, None
        else:
            unknown = novelty > threshold
    return Prediction(
        label=UNKNOWN_LABEL if unknown else top,
        confidence=float(row[best]),
        scores={label: float(score) for label, score in zip(labels, row, strict=True)},
        top_label=top,
        novelty=novelty,
    )
