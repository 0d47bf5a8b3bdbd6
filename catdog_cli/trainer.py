"""`catdog train|evaluate|predict|publish`: the training job's functions, aimed where their arguments say.

An `s3://` argument that names a running local stack's bucket means that stack's endpoint
(catdog_cli/targets.py), so `catdog publish build/model s3://<local bucket>/models/` right after
`catdog local up` needs no exports. Results go to stdout (one JSON line, or a line per image);
progress and errors to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from catdog.classifier import Prediction
from catdog.errors import BadInputError
from catdog.model_repo import load_model
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.targets import connect_for_uri, models_uri
from training_job.evaluate import evaluate as evaluate_model
from training_job.evaluate import predict as predict_images
from training_job.job import run_job, summary
from training_job.publish import publish_model
from training_job.settings import TrainConfig


def _connect(stack: str | None, *uris: str | None) -> None:
    for uri in uris:
        connect_for_uri(uri, stack)


def train(config: TrainConfig, *, stack: str | None, debug: bool = False) -> int:
    """Progress (Keras bars, tqdm) on stderr; stdout is the one JSON line of the result."""
    _connect(stack, config.publish.output, config.publish.uri, *config.data.sources)
    print(json.dumps(summary(run_job(config, debug=debug))))
    return exit_codes.OK


def evaluate(model: str, data: str, *, batch_size: int, limit: int | None, ood: Sequence[str],
             stack: str | None) -> int:
    _connect(stack, model, data, *ood)
    print(json.dumps(evaluate_model(load_model(model), data, batch_size=batch_size, limit=limit, ood=ood)))
    return exit_codes.OK


def predict(model: str, images: Sequence[str], *, stack: str | None) -> int:
    """A line per image; file names are the user's: shown escaped, never obeyed by the terminal."""
    _connect(stack, model)
    failed = 0
    for image, outcome in predict_images(load_model(model), images):
        if isinstance(outcome, BadInputError):
            failed += 1
            print(f"{printable(image)}\terror\t{outcome.reason}: {printable(outcome)}")
        else:
            print(predict_line(printable(image), outcome))
    return exit_codes.PARTIAL if failed else exit_codes.OK


def predict_line(image: str, p: Prediction) -> str:
    """`IMAGE<TAB>answer<TAB>confidence<TAB>top label<TAB>novelty`: the answer is `unknown` when the
    novelty is over the model's threshold (1.0 for models trained here); `-` when it scores none."""
    novelty = "-" if p.novelty is None else f"{p.novelty:.4f}"
    return f"{image}\t{p.label}\t{p.confidence:.4f}\t{p.top_label or p.label}\t{novelty}"


def publish(model_dir: str, dest: str | None, min_accuracy: float, *, stack: str | None) -> int:
    _connect(stack, model_dir)
    print(publish_model(model_dir, models_uri(dest, stack), min_accuracy).to_json())
    return exit_codes.OK
