"""`catdog train|evaluate|predict|publish`.

The trainer is configured by flags and, for containers (AWS Batch, ECS, SageMaker), by environment
variables: DATA_URI, OUTPUT_URI, PUBLISH_URI, MIN_ACCURACY, ARCH, EPOCHS. A flag always wins over
its variable. The flags of `train` are generated from `training_job.settings.TrainConfig`, the
same ones `python -m training_job` (the container) takes.
"""

from __future__ import annotations

import argparse

from catdog.ranges import POSITIVE
from training_job.settings import (
    DEFAULT_MIN_ACCURACY,
    ENV_HELP,
    ENV_VARS,
    add_train_arguments,
    config_from_args,
    env_default,
    setting_type,
)

#: Where a model comes from, for `evaluate` and `predict`.
MODEL_HELP = "model dir, s3://…/<version>/, or s3://…/models/ (follows latest.json)"
EVALUATE = ("Prints one JSON object (accuracy, n, per-class figures, confusion matrix, unknown_rate, "
            "answered_accuracy, per --ood set the share answered unknown, version) as the last line of "
            "stdout.")
PREDICT = ("Prints `IMAGE<TAB>label<TAB>confidence<TAB>top_label<TAB>novelty` per image (label is "
           "`unknown` when the image looks like none of the labels; novelty is `-` for a model that does "
           "not score it); exit 1 if any failed.")
PUBLISH = ("Uploads MODEL_DIR to DEST<version>/ and then replaces DEST/latest.json, only if its validation "
           "accuracy ≥ --min-accuracy; otherwise exits non-zero and the live model stays. Re-publishing a "
           "version is harmless.")


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a model and write .h5 + .tflite + manifest",
                           description="Train a cat/dog (or any classes) model. " + ENV_HELP)
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="score a model's .tflite on labelled images (the serving path)",
                        description=EVALUATE)
    ev.add_argument("--model", required=True, metavar="DIR|s3://…", help=MODEL_HELP)
    ev.add_argument("--data", required=True, metavar="SRC",
                    help="a folder per class (cats/, dogs/), or a data set whose validation split is used")
    ev.add_argument("--batch-size", type=POSITIVE, default=32)
    ev.add_argument("--limit", type=POSITIVE, help="at most N images per class (and per --ood set)")
    ev.add_argument("--ood", action="append", metavar="SRC",
                    help="images that are none of the labels (a dir, .zip, URL or s3://, any layout): "
                         "reports the share answered unknown; repeatable")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="label images with a model's .tflite", description=PREDICT)
    pr.add_argument("--model", required=True, metavar="DIR|s3://…", help=MODEL_HELP)
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.set_defaults(func=cmd_predict)

    pub = sub.add_parser("publish", description=PUBLISH,
                         help="upload a model dir to s3://…/models/<version>/ behind a quality gate")
    pub.add_argument("model_dir", metavar="MODEL_DIR", help="a local model dir or s3://…/<version>/")
    pub.add_argument("dest", metavar="DEST", nargs="?",
                     help="s3://bucket/models/ (default: the running local stack's models/ prefix)")
    pub.add_argument("--min-accuracy", type=setting_type("min_accuracy"),
                     default=env_default("min_accuracy"),
                     help=f"the quality gate [env {ENV_VARS['min_accuracy']}; "
                          f"default {DEFAULT_MIN_ACCURACY}]")
    pub.set_defaults(func=cmd_publish)


# Each handler imports its work module when it runs (see catdog_cli/commands/__init__.py).


def cmd_train(args: argparse.Namespace) -> int:
    from catdog_cli import trainer

    return trainer.train(config_from_args(args), stack=args.stack, debug=args.debug)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from catdog_cli import trainer

    return trainer.evaluate(args.model, args.data, batch_size=args.batch_size, limit=args.limit,
                            ood=args.ood or [], stack=args.stack)


def cmd_predict(args: argparse.Namespace) -> int:
    from catdog_cli import trainer

    return trainer.predict(args.model, args.images, stack=args.stack)


def cmd_publish(args: argparse.Namespace) -> int:
    from catdog_cli import trainer

    return trainer.publish(args.model_dir, args.dest, args.min_accuracy, stack=args.stack)
