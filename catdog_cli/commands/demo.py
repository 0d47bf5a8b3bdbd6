"""`catdog demo`: train, publish and classify the validation photos, all on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from catdog.ranges import NON_NEGATIVE, PORT, POSITIVE, PROBABILITY
from catdog_local.state import DEFAULT_STACK
from training_job.settings import CANONICAL_DATA_URL as CANONICAL_URL
from training_job.settings import default_data


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="train, publish and classify the validation photos, all locally")
    add_demo_arguments(demo)
    demo.set_defaults(func=cmd_demo)


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, metavar="SRC",
                   help="data set: dir, .zip or URL with train/ and validation/ class folders "
                        "(default: ../shared/data/cats_and_dogs_filtered.zip when present, "
                        f"else {CANONICAL_URL})")
    p.add_argument("--limit", type=NON_NEGATIVE, default=0, metavar="N",
                   help="classify only the first N validation images per class (default: all)")
    p.add_argument("--port", type=PORT, default=0, help="local AWS port (default: any free port)")
    p.add_argument("--train-limit", type=POSITIVE, default=None, metavar="N",
                   help="train on the first N images per class per split (default: all; quick CI runs)")
    p.add_argument("--epochs", type=POSITIVE, default=None, help="training epochs (default: the trainer's)")
    p.add_argument("--min-accuracy", type=PROBABILITY, default=None,
                   help="publish gate (default: the trainer's 0.9; 0 with --train-limit)")
    p.add_argument("--model-dir", type=Path, default=None,
                   help="serve this already-trained model directory instead of training one")
    p.add_argument("--no-cache", action="store_true", help="retrain even if a cached model matches")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where trained demo models are kept (default: $CATDOG_CACHE or ~/.cache/catdog)")
    p.add_argument("--workers", type=POSITIVE, default=8, help="parallel uploads (default 8)")
    p.add_argument("--stack-name", default=DEFAULT_STACK,
                   help="the stack's name (resource names, and the local stack --keep-running leaves; "
                        f"default {DEFAULT_STACK})")
    p.add_argument("--keep-running", action="store_true",
                   help="keep the local AWS up afterwards so `catdog results` and `aws` can query it")


def cmd_demo(args: argparse.Namespace) -> int:
    from catdog_cli import demo  # the work, imported when the command runs (commands/__init__.py)

    return demo.run_demo(demo.DemoConfig(
        data=args.data or default_data(), limit=args.limit, port=args.port, train_limit=args.train_limit,
        epochs=args.epochs, min_accuracy=args.min_accuracy, model_dir=args.model_dir, no_cache=args.no_cache,
        cache_dir=args.cache_dir, workers=args.workers, keep_running=args.keep_running,
        stack_name=args.stack_name))
