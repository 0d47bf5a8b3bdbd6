"""`catdog train|evaluate|predict|publish`.

The trainer is configured by flags and, for containers (AWS Batch, ECS, SageMaker), by environment
variables: DATA_URI, OUTPUT_URI, PUBLISH_URI, MIN_ACCURACY, ARCH, EPOCHS. A flag always wins over
its variable. TensorFlow is imported only once a command runs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from training_job.settings import (
    DEFAULT_MIN_ACCURACY,
    ENV_HELP,
    ENV_VARS,
    add_train_arguments,
    config_from_args,
    env_default,
)

if TYPE_CHECKING:
    from catdog.classifier import Prediction


def _connect(args: argparse.Namespace, *uris: str | None) -> None:
    """An `s3://` argument naming a running local stack's bucket means that stack's endpoint
    (catdog_cli/targets.py): `catdog publish build/model s3://<local bucket>/models/` after
    `catdog local up` needs no exports."""
    from catdog_cli.targets import connect_for_uri

    for uri in uris:
        if uri:
            connect_for_uri(uri, getattr(args, "stack", None))


def cmd_train(args: argparse.Namespace) -> int:
    """Progress (Keras bars, tqdm) on stderr; stdout is the one JSON line of the result."""
    from training_job.job import run_job, summary

    _connect(args, args.output, args.publish, *(args.data or []))
    result = run_job(config_from_args(args), debug=getattr(args, "debug", False))
    print(json.dumps(summary(result)))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from catdog.model_repo import load_model
    from training_job.evaluate import evaluate

    _connect(args, args.model, args.data, *(args.ood or ()))
    report = evaluate(load_model(args.model), args.data, batch_size=args.batch_size, limit=args.limit,
                      ood=args.ood or ())
    print(json.dumps(report))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from catdog.errors import BadInputError
    from catdog.model_repo import load_model
    from catdog_cli.display import printable  # file names are the user's: shown, never obeyed
    from training_job.evaluate import predict

    _connect(args, args.model)
    failed = 0
    for image, outcome in predict(load_model(args.model), args.images):
        if isinstance(outcome, BadInputError):
            failed += 1
            print(f"{printable(image)}\terror\t{outcome.reason}: {printable(outcome)}")
        else:
            print(predict_line(printable(image), outcome))
    return 1 if failed else 0


def predict_line(image: str, p: Prediction) -> str:
    """`IMAGE<TAB>answer<TAB>confidence<TAB>top label<TAB>novelty`: the answer is `unknown` when the
    novelty is over the model's threshold (1.0 for models trained here); `-` when it scores none."""
    novelty = "-" if p.novelty is None else f"{p.novelty:.4f}"
    return f"{image}\t{p.label}\t{p.confidence:.4f}\t{p.top_label or p.label}\t{novelty}"


def cmd_publish(args: argparse.Namespace) -> int:
    from catdog_cli.targets import models_uri
    from training_job.publish import publish_model

    _connect(args, args.model_dir)
    pointer = publish_model(args.model_dir, models_uri(args.dest, getattr(args, "stack", None)),
                            args.min_accuracy)
    print(pointer.to_json())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train a model and write .h5 + .tflite + manifest",
        description="Train a cat/dog (or any classes) model. " + ENV_HELP,
    )
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser(
        "evaluate",
        help="score a model's .tflite on labelled images (the serving path)",
        description="Prints one JSON object (accuracy, n, per-class figures, confusion "
        "matrix, unknown_rate, answered_accuracy, per --ood set the share answered unknown, version) "
        "as the last line of stdout.",
    )
    ev.add_argument(
        "--model",
        required=True,
        metavar="DIR|s3://…",
        help="model dir, s3://…/<version>/, or s3://…/models/ (follows latest.json)",
    )
    ev.add_argument(
        "--data",
        required=True,
        metavar="SRC",
        help="a folder per class (cats/, dogs/), or a data set whose validation split is used",
    )
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--limit", type=int, help="at most N images per class (and per --ood set)")
    ev.add_argument(
        "--ood",
        action="append",
        metavar="SRC",
        help="images that are none of the labels (a dir, .zip, URL or s3://, any layout): reports the "
        "share answered unknown; repeatable",
    )
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser(
        "predict",
        help="label images with a model's .tflite",
        description="Prints `IMAGE<TAB>label<TAB>confidence<TAB>top_label<TAB>novelty` per image "
        "(label is `unknown` when the image looks like none of the labels; novelty is `-` for a model "
        "that does not score it); exit 1 if any failed.",
    )
    pr.add_argument("--model", required=True, metavar="DIR|s3://…")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.set_defaults(func=cmd_predict)

    pub = sub.add_parser(
        "publish",
        help="upload a model dir to s3://…/models/<version>/ behind a quality gate",
        description="Uploads MODEL_DIR to DEST<version>/ and then replaces DEST/latest.json, "
        "only if its validation accuracy ≥ --min-accuracy; otherwise exits "
        "non-zero and the live model stays. Re-publishing a version is harmless.",
    )
    pub.add_argument("model_dir", metavar="MODEL_DIR", help="a local model dir or s3://…/<version>/")
    pub.add_argument("dest", metavar="DEST", nargs="?",
                     help="s3://bucket/models/ (default: the running local stack's models/ prefix)")
    pub.add_argument(
        "--min-accuracy",
        type=float,
        default=env_default("min_accuracy"),
        help=f"the quality gate [env {ENV_VARS['min_accuracy']}; default {DEFAULT_MIN_ACCURACY}]",
    )
    pub.set_defaults(func=cmd_publish)
