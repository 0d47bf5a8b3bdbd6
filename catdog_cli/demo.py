"""`catdog demo`: the whole pipeline on this machine, in one command, with nothing to set up.

Local AWS (moto, in this process) -> provision from template.yaml -> train (or reuse the model
cached for the same data and settings) -> publish behind the quality gate -> upload the validation
photos under `uploads/validation/<class>/` -> S3 notifications -> queue -> worker -> the real
handler -> results table; then it reads the table back and scores it against the folder names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from tqdm import tqdm

from catdog.manifest import MANIFEST_FILE, TFLITE_FILE, UNKNOWN_LABEL
from catdog.plural import plural
from catdog.status import Status
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.local_stack import refuse_running
from catdog_cli.results_query import fetch
from catdog_cli.upload import plan_uploads, upload_items
from catdog_local.lambda_runtime import prepare_handler
from catdog_local.moto_server import LocalAws, endpoint_env, export_lines, free_port
from catdog_local.provision import StackResources, provision
from catdog_local.state import DEFAULT_STACK, LocalState, clear
from catdog_local.worker import BatchDelivery, Worker, worker_for
from training_job.data import find_entries, singularize
from training_job.models import DEFAULT_ARCH
from training_job.publish import publish_model
from training_job.settings import DEFAULT_MIN_ACCURACY, TrainConfig
from training_job.train import run_training

#: Bump when the demo's training recipe changes, so stale cached models are not reused.
#: 2: fit/stop/calib splits, temperature, a novelty output (`unknown`).
RECIPE_VERSION = 2
#: How often the worker `--keep-running` leaves behind re-reads the live pointer (the function's 300 s
#: would make a promote or rollback wait five minutes locally).
KEEP_RUNNING_REFRESH_SECONDS = 5


@dataclass(frozen=True)
class DemoConfig:
    """`catdog demo`'s flags, `data` already resolved to a source (default: the shared data set)."""

    data: str
    limit: int = 0  # validation images per class to classify; 0 = all
    port: int = 0
    train_limit: int | None = None
    epochs: int | None = None
    min_accuracy: float | None = None
    model_dir: Path | None = None
    no_cache: bool = False
    cache_dir: Path | None = None
    workers: int = 8
    keep_running: bool = False
    stack_name: str = DEFAULT_STACK


# --------------------------------------------------------------------------------- model cache


def data_fingerprint(source: str) -> str:
    """Content hash for a local file (mtime/size-keyed memo), names+sizes for a dir, the URL itself."""
    path = Path(source).expanduser()
    if path.is_file():
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    if path.is_dir():
        digest = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{f.relative_to(path).as_posix()}:{f.stat().st_size}\n".encode())
        return digest.hexdigest()
    return hashlib.sha256(source.encode()).hexdigest()


def cache_key(fingerprint: str, train_settings: dict[str, Any]) -> str:
    blob = json.dumps({"data": fingerprint, "recipe": RECIPE_VERSION, **train_settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_root(cfg: DemoConfig) -> Path:
    base = cfg.cache_dir or Path(os.environ.get("CATDOG_CACHE", Path.home() / ".cache" / "catdog"))
    return base / "demo-models"


def _is_model_dir(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file() and (path / TFLITE_FILE).is_file()


def trained_model(cfg: DemoConfig) -> tuple[Path, str]:
    """(model directory, how it was obtained). Trains only when no cached model matches."""
    if cfg.model_dir is not None:
        if not _is_model_dir(cfg.model_dir):
            raise FileNotFoundError(f"--model-dir {cfg.model_dir}: no manifest.json + model.tflite there")
        return cfg.model_dir, f"given ({cfg.model_dir})"
    # the arch too: a model cached under the previous default must not stand in for the new one
    settings = {"limit": cfg.train_limit, "epochs": cfg.epochs, "arch": DEFAULT_ARCH}
    t = time.perf_counter()
    key = cache_key(data_fingerprint(cfg.data), settings)
    target = cache_root(cfg) / key
    if _is_model_dir(target) and not cfg.no_cache:
        return target, f"cached ({target}, fingerprint {time.perf_counter() - t:.1f}s)"
    building = target.with_name(target.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    result = run_training(TrainConfig.of(data=[cfg.data], output=str(building), limit=cfg.train_limit,
                                         epochs=cfg.epochs))
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)  # only a finished model is ever found in the cache
    accuracy = result.metrics.get("accuracy")
    return target, f"trained in {result.wall_seconds:.0f}s (validation accuracy {accuracy:.4f}) -> {target}"


# ---------------------------------------------------------------------------------- the photos


def stage_validation_images(source: str, limit: int, into: Path) -> list[tuple[Path, str]]:
    """Copy the validation photos (first `limit` per class by name) to `into/validation/<class>/`.

    Returns (path, folder) pairs. Staging on disk lets the demo use the very upload code users run.
    """
    entries = sorted((e for e in find_entries(source) if e.split == "validation"), key=lambda e: e.name)
    if not entries:
        raise ValueError(f"{source}: no validation/<class>/ images to classify")
    taken: Counter[str] = Counter()
    staged: list[tuple[Path, str]] = []
    for entry in entries:
        if limit and taken[entry.folder] >= limit:
            continue
        taken[entry.folder] += 1
        dest = into / "validation" / entry.folder / PurePosixPath(entry.name).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(entry.read())
        staged.append((dest, entry.folder))
    return staged


# ------------------------------------------------------------------------------------- scoring


@dataclass
class DemoSummary:
    images: int
    classified: int
    failed: int
    missing: int
    per_label: dict[str, int]
    correct: int
    accuracy: float  # correct / classified: an `unknown` answer for a cat photo is not correct
    unknown: int  # classified as `unknown`: looked like none of the labels
    answered_accuracy: float  # correct / (classified - unknown)
    seconds_processing: float
    images_per_second: float
    dlq_messages: int
    failures: dict[str, str]


def folder_label(image: str, folders: dict[str, str]) -> str | None:
    """`.../validation/cats/cat.2000.jpg` -> the label the model uses for the `cats` folder."""
    parts = PurePosixPath(image.split("://", 1)[-1]).parts
    for folder, label in folders.items():
        if folder in parts[:-1]:
            return label
    return None


def summarize(items: list[dict[str, Any]], expected_keys: list[str], folders: dict[str, str],
              seconds: float, dlq_messages: int) -> DemoSummary:
    by_key = {_key_of(i): i for i in items}
    ours = [by_key[k] for k in expected_keys if k in by_key]
    ok = [i for i in ours if _succeeded(i)]
    bad = [i for i in ours if not _succeeded(i)]
    correct = sum(1 for i in ok if i.get("label") == folder_label(_key_of(i), folders))
    unknown = sum(1 for i in ok if i.get("label") == UNKNOWN_LABEL)
    answered = len(ok) - unknown
    return DemoSummary(
        images=len(expected_keys),
        classified=len(ok),
        failed=len(bad),
        missing=len(expected_keys) - len(ours),
        per_label=dict(sorted(Counter(str(i.get("label")) for i in ok).items())),
        correct=correct,
        accuracy=correct / len(ok) if ok else 0.0,
        unknown=unknown,
        answered_accuracy=correct / answered if answered else 0.0,
        seconds_processing=seconds,
        images_per_second=len(ours) / seconds if seconds > 0 else 0.0,
        dlq_messages=dlq_messages,
        failures={_key_of(i): str(i.get("error") or i.get("reason") or i.get("status")) for i in bad},
    )


def _key_of(item: dict[str, Any]) -> str:
    """The S3 key of an item, whose `image` is its `s3://bucket/key` URI."""
    image = str(item.get("image", ""))
    return image.split("/", 3)[-1] if image.startswith("s3://") and image.count("/") >= 3 else image


def _succeeded(item: dict[str, Any]) -> bool:
    return item.get("status") == Status.CLASSIFIED and bool(item.get("label"))


# ------------------------------------------------------------------------------------------ run


def run_demo(cfg: DemoConfig) -> int:
    started = time.perf_counter()
    if cfg.keep_running:  # it will register as a named local stack: fail now, not after training
        refuse_running(cfg.stack_name)
    print(f"catdog demo: data {cfg.data}", flush=True)
    model_dir, how = trained_model(cfg)
    print(f"[1/5] model: {how}", flush=True)

    port = cfg.port or free_port()
    with (
        LocalAws(port=port) as aws,
        endpoint_env(aws.endpoint),
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack_exit,
    ):
        stack = provision(stack_name=cfg.stack_name)
        queue_name = stack.queue_url.rsplit("/", 1)[-1]
        print(f"[2/5] local AWS on {aws.endpoint}: bucket {stack.bucket}, queue {queue_name}, "
              f"table {stack.table}", flush=True)

        min_acc = cfg.min_accuracy if cfg.min_accuracy is not None else (
            0.0 if cfg.train_limit else DEFAULT_MIN_ACCURACY)
        pointer = publish_model(model_dir, stack.models_uri, min_acc)
        print(f"[3/5] published {pointer.version} (validation accuracy {pointer.accuracy}) "
              f"-> s3://{stack.bucket}/{stack.model_key}", flush=True)

        staged = stage_validation_images(cfg.data, cfg.limit, Path(tmp))
        items = plan_uploads([tmp], stack.upload_prefix)
        report = upload_items(boto3.client("s3"), stack.bucket, items, workers=cfg.workers)
        if report.failed:
            example = next(iter(report.failed.items()))
            raise RuntimeError(f"{plural(len(report.failed), 'upload')} failed, e.g. {example}")
        print(f"[4/5] uploaded {len(report.uploaded)} photos ({report.bytes / 1e6:.1f} MB) "
              f"under s3://{stack.bucket}/{stack.upload_prefix}validation/", flush=True)

        # One JSON log line and one metrics blob per batch would drown the demo's own report:
        # INFO logs are off and what the handler prints (EMF metrics) goes to a log file.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        if cfg.keep_running:  # the worker left running must pick up a promote or rollback in seconds
            os.environ.setdefault("MODEL_REFRESH_SECONDS", str(KEEP_RUNNING_REFRESH_SECONDS))
        handler_log_path = cache_root(cfg).parent / "demo-handler.log"
        handler_log_path.parent.mkdir(parents=True, exist_ok=True)
        handler_log = stack_exit.enter_context(handler_log_path.open("w"))
        real_handler, _ = prepare_handler(stack.function_environment)

        def handler(event: dict[str, Any], context: Any) -> Any:
            with contextlib.redirect_stdout(handler_log):
                return real_handler(event, context)

        # The window only makes Lambda wait for a fuller batch; everything is queued already.
        worker = worker_for(stack, handler=handler, batching_window_s=min(stack.batching_window_s, 0.5),
                            retry_delay_s=1, wait_time_s=1)
        sqs = worker.sqs
        with tqdm(total=len(staged), unit="img", desc="classify") as bar:
            def advance(batch: BatchDelivery) -> None:  # S3's s3:TestEvent is not in `succeeded`
                bar.update(batch.succeeded)

            stats = worker.run(until_empty=True, on_batch=advance)
        depth = ["ApproximateNumberOfMessages"]
        attrs = sqs.get_queue_attributes(QueueUrl=stack.dlq_url, AttributeNames=depth)
        dlq = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
        rows = list(fetch(boto3.client("dynamodb"), stack.table))
        labels = json.loads((model_dir / MANIFEST_FILE).read_text())["labels"]
        folders = _folder_labels(sorted({f for _, f in staged}), labels)
        summary = summarize(rows, [i.key for i in items], folders, stats.seconds, dlq)
        print(f"[5/5] processed through queue + worker + handler in {stats.seconds:.1f}s "
              f"({plural(stats.batches, 'batch')}, {plural(stats.failed, 'failed delivery')})", flush=True)
        print_summary(summary, stack.table, time.perf_counter() - started)
        print(f"(the handler's metrics output is in {handler_log_path})")
        if cfg.keep_running:
            keep_serving(stack, aws.endpoint, worker)
    return exit_codes.OK if summary.missing == 0 and summary.failed == 0 else exit_codes.PARTIAL


def _folder_labels(folders: list[str], labels: list[str]) -> dict[str, str]:
    names = singularize(folders)
    matched = {f: n for f, n in zip(folders, names, strict=True) if n in labels}
    return matched or dict(zip(folders, labels, strict=False))


def print_summary(s: DemoSummary, table: str, total_seconds: float) -> None:
    print()
    print("results")
    print(f"  images      {s.images}   classified {s.classified}   failed {s.failed}   missing {s.missing}"
          f"   in DLQ {s.dlq_messages}")
    for label, count in s.per_label.items():
        print(f"  label {label:<7} {count}")
    print(f"  answered unknown  {s.unknown}   (looked like none of the labels)")
    print(f"  accuracy vs folder labels  {s.accuracy:.4f}  ({s.correct}/{s.classified})")
    print(f"  accuracy among answered    {s.answered_accuracy:.4f}  ({s.correct}/{s.classified - s.unknown})")
    print(f"  throughput  {s.images_per_second:.1f} images/s (queue -> handler -> table, one local worker)")
    print(f"  total       {total_seconds:.1f}s")
    for key, why in list(s.failures.items())[:10]:
        print(f"  FAILED {printable(key)}: {printable(why)}")
    print()
    print("query the table (rerun with --keep-running to keep this local AWS up; or use `catdog local up`):")
    print(f"  aws dynamodb query --table-name {table} --index-name label-index \\")
    print("      --key-condition-expression '#l = :l' --expression-attribute-names '{\"#l\":\"label\"}' \\")
    print("      --expression-attribute-values '{\":l\":{\"S\":\"cat\"}}'")
    print("  catdog results --label cat --format table")


def keep_serving(stack: StackResources, endpoint: str, worker: Worker) -> None:
    """Leave the local AWS up (with a state file) so `catdog results`, `catdog review` and `aws` can use
    it, and keep the worker polling, so new uploads and backfills are classified as on AWS."""
    state = LocalState.from_stack(stack, endpoint)
    path = state.save()
    refresh = os.environ.get("MODEL_REFRESH_SECONDS")
    print(f"\nlocal AWS still up on {endpoint} (state {path}), with a worker classifying new uploads and "
          f"backfills (live model re-read every {refresh} s); Ctrl-C to stop. In another terminal: "
          "catdog review, or")
    for line in export_lines(endpoint, stack.region):
        print(f"  {line}")
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    try:
        worker.run()
    finally:  # Ctrl-C ends the demo as interrupted (exit 130) once the state file is gone
        clear(state)
