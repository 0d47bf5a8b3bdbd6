"""The training job as a command runs it: `catdog train` and `python -m training_job` (the container).

Keras reads `KERAS_HOME` once, at its first import, and TensorFlow prints its start-up chatter from
C++ before any log level applies: both are settled here, before `run_training` imports them. Keras
writes its progress bars to stdout, which belongs to the result: they go to stderr, and the run is
summed up in one dict for the one JSON line on stdout.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from training_job.quiet import import_tensorflow_quietly
from training_job.settings import TrainConfig
from training_job.train import TrainResult, run_training
from training_job.weights import prepare_keras_home


def run_job(config: TrainConfig, *, debug: bool = False) -> TrainResult:
    """Train with progress on stderr; `debug` keeps TensorFlow's own start-up logs."""
    prepare_keras_home()  # before anything imports keras (it reads KERAS_HOME once)
    if not debug:
        import_tensorflow_quietly()
    with contextlib.redirect_stdout(sys.stderr):  # Keras prints its progress bars to stdout
        return run_training(config)


def summary(result: TrainResult) -> dict[str, Any]:
    """The one JSON line a training command prints on stdout."""
    return {
        "version": result.manifest.version,
        "accuracy": result.metrics["accuracy"],
        "n": result.metrics["n"],
        "output": result.output_uri,
        "wall_seconds": result.wall_seconds,
        "skipped": result.manifest.data.get("skipped_count", 0),
        "published": result.pointer.version if result.pointer else None,
    }
