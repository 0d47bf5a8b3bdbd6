"""`catdog train|evaluate|predict|publish`.

The trainer is configured by flags and, for containers (AWS Batch, ECS, SageMaker), by environment
variables: DATA_URI, OUTPUT_URI, PUBLISH_URI, MIN_ACCURACY, ARCH, EPOCHS. A flag always wins over
its variable. TensorFlow is imported only once a command runs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from training_job.data import DEFAULT_DATA_URL
from training_job.models import ARCHS
from training_job.publish import DEFAULT_MIN_ACCURACY

if TYPE_CHECKING:
    from training_job.train import TrainConfig

#: flag destination → environment variable that supplies its default
ENV_VARS = {
    "data": "DATA_URI",
    "output": "OUTPUT_URI",
    "publish": "PUBLISH_URI",
    "min_accuracy": "MIN_ACCURACY",
    "arch": "ARCH",
    "epochs": "EPOCHS",
}
ENV_HELP = "Flags win over the env vars " + ", ".join(ENV_VARS.values()) + "."


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        h, w = (int(p) for p in parts) if len(parts) == 2 else (int(parts[0]), int(parts[0]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH or one number, got {text!r}") from exc
    return h, w


def add_train_arguments(p: argparse.ArgumentParser, env: Mapping[str, str] | None = None) -> None:
    """The trainer's flags; shared by `catdog train` and `python -m training_job`."""
    env = os.environ if env is None else env

    def default(dest: str, fallback: object = None, kind: type = str) -> object:
        raw = env.get(ENV_VARS[dest])
        return kind(raw) if raw not in (None, "") else fallback

    p.add_argument(
        "--data",
        default=default("data", DEFAULT_DATA_URL),
        metavar="SRC",
        help="dir, .zip, http(s) URL of a zip (cached), or s3://bucket/prefix/ [env DATA_URI; "
        "default: the cats_and_dogs_filtered.zip URL]",
    )
    p.add_argument(
        "--output",
        default=default("output", "build/model"),
        metavar="DIR|s3://…",
        help="where the artifacts go [env OUTPUT_URI; default build/model]",
    )
    p.add_argument(
        "--publish",
        default=default("publish"),
        metavar="s3://bucket/models/",
        help="also publish behind the quality gate [env PUBLISH_URI]",
    )
    p.add_argument(
        "--min-accuracy",
        type=float,
        default=default("min_accuracy", DEFAULT_MIN_ACCURACY, float),
        help=f"quality gate for --publish [env MIN_ACCURACY; default {DEFAULT_MIN_ACCURACY}]",
    )
    p.add_argument(
        "--arch",
        choices=ARCHS,
        default=default("arch", "mobilenet_v2"),
        help="mobilenet_v2 (default) or seed (the tutorial's CNN) [env ARCH]",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=default("epochs", None, int),
        help="[env EPOCHS; default 30 with early stopping, 70 for seed]",
    )
    p.add_argument("--limit", type=int, help="use only the first N images per class per split (quick runs)")
    p.add_argument(
        "--validation-split",
        type=float,
        default=0.2,
        help="fraction carved per class when the data has no validation folder (seeded)",
    )
    p.add_argument("--batch-size", type=int, help="default 32, 128 for seed")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--steps-per-epoch", type=int, help="default: a full pass, 8 for seed")
    p.add_argument("--validation-steps", type=int, help="default: the whole split, 8 for seed")
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience (epochs)")
    p.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        help="do not add mirror-image copies when training the head on cached features",
    )
    p.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=0,
        help="then unfreeze the backbone's top blocks for N epochs on augmented images",
    )
    p.add_argument("--fine-tune-learning-rate", type=float, default=1e-5)
    p.add_argument(
        "--alpha",
        type=float,
        default=0.35,
        help="MobileNetV2 width (0.35 is what ships offline in ../shared)",
    )
    p.add_argument("--input-size", type=_size, metavar="HxW", help="default 224x224, 300x300 for seed")
    p.add_argument(
        "--weights",
        default="imagenet",
        help="'imagenet' (through Keras' cache, KERAS_HOME), a weights file, or 'none'",
    )
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--version", help="model version id (default: UTC time + arch + data fingerprint)")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from training_job.train import TrainConfig

    return TrainConfig(
        data=args.data,
        output=args.output,
        arch=args.arch,
        epochs=args.epochs,
        limit=args.limit,
        validation_split=args.validation_split,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps,
        patience=args.patience,
        flip=args.flip,
        fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_learning_rate=args.fine_tune_learning_rate,
        alpha=args.alpha,
        input_size=args.input_size,
        weights=None if args.weights.lower() == "none" else args.weights,
        dropout=args.dropout,
        seed=args.seed,
        publish=args.publish,
        min_accuracy=args.min_accuracy,
        version=args.version,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from training_job.train import run_training

    result = run_training(config_from_args(args))
    summary = {
        "version": result.manifest.version,
        "accuracy": result.metrics["accuracy"],
        "n": result.metrics["n"],
        "output": result.output_uri,
        "wall_seconds": result.wall_seconds,
        "skipped": result.manifest.data.get("skipped_count", 0),
        "published": result.pointer.version if result.pointer else None,
    }
    print(json.dumps(summary))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from catdog.model_repo import load_model
    from training_job.evaluate import evaluate

    report = evaluate(load_model(args.model), args.data, batch_size=args.batch_size, limit=args.limit)
    print(json.dumps(report))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from catdog.errors import BadInputError
    from catdog.model_repo import load_model
    from training_job.evaluate import predict

    failed = 0
    for image, outcome in predict(load_model(args.model), args.images):
        if isinstance(outcome, BadInputError):
            failed += 1
            print(f"{image}\terror\t{outcome.reason}: {outcome}")
        else:
            print(f"{image}\t{outcome.label}\t{outcome.confidence:.4f}")
    return 1 if failed else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from training_job.publish import publish_model

    pointer = publish_model(args.model_dir, args.dest, args.min_accuracy)
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
        "matrix, version) as the last line of stdout.",
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
    ev.add_argument("--limit", type=int, help="at most N images per class")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser(
        "predict",
        help="label images with a model's .tflite",
        description="Prints `IMAGE<TAB>label<TAB>confidence` per image; exit 1 if any failed.",
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
    pub.add_argument("dest", metavar="DEST", help="s3://bucket/models/")
    pub.add_argument(
        "--min-accuracy",
        type=float,
        default=float(os.environ.get("MIN_ACCURACY") or DEFAULT_MIN_ACCURACY),
        help=f"[env MIN_ACCURACY; default {DEFAULT_MIN_ACCURACY}]",
    )
    pub.set_defaults(func=cmd_publish)


def main(argv: list[str] | None = None) -> int:
    """The container entry point: `python -m training_job [train flags]` (see the Dockerfile)."""
    import logging

    from catdog.errors import CatdogError

    parser = argparse.ArgumentParser(
        prog="python -m training_job",
        description="The catdog trainer (what training_job/Dockerfile runs). " + ENV_HELP,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    try:
        return cmd_train(args)
    except (CatdogError, ValueError, FileNotFoundError, PermissionError) as exc:
        if args.debug:
            raise
        print(f"training_job: error: {exc}", file=sys.stderr)
        return 2
