"""Train, evaluate and export one model: the keras-io recipe, kept short and linear.

Default profile (CPU friendly): the frozen MobileNetV2 backbone sees each image once (plus its mirror
image), its pooled features are cached, and only the small head trains on them, which turns hours
into about a minute with no loss of accuracy. `--fine-tune-epochs` then optionally unfreezes the
top blocks and trains on images with random augmentation. `--arch seed` is the tutorial, unchanged.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from catdog.classifier import to_probabilities
from catdog.manifest import ModelPointer
from catdog.model_repo import upload_dir, write_manifest
from catdog.preprocess import PREPROCESSING_SPEC
from catdog.s3uri import is_s3
from training_job import models
from training_job.data import LoadedData, load_data
from training_job.metrics import classification_report
from training_job.settings import TrainConfig

if TYPE_CHECKING:
    import keras

    from catdog.manifest import Manifest

log = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
CURVES_FILE = "learning_curves.png"
CONFUSION_FILE = "confusion_matrix.png"


@dataclass
class TrainResult:
    output_dir: Path  # local directory holding every artifact
    manifest: Manifest
    metrics: dict[str, Any]
    history: dict[str, list[float]]
    output_uri: str  # where the artifacts were written (the dir, or s3://...)
    wall_seconds: float
    pointer: ModelPointer | None = None
    timings: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ batches


def _batches_class() -> type:
    """A `keras.utils.PyDataset` over uint8 images: float32 batches made on demand (memory stays 1x)."""
    import keras

    class ArrayBatches(keras.utils.PyDataset):
        def __init__(
            self,
            images: np.ndarray,
            labels: np.ndarray | None = None,
            *,
            batch_size: int = 32,
            shuffle: bool = False,
            augment: keras.Sequential | None = None,
            seed: int = 0,
        ) -> None:
            super().__init__()
            self.images, self.labels, self.batch_size = images, labels, batch_size
            self.shuffle, self.augment = shuffle, augment
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(images)) if shuffle else np.arange(len(images))

        def __len__(self) -> int:
            return -(-len(self.images) // self.batch_size)

        def __getitem__(self, i: int) -> Any:
            idx = np.sort(self.order[i * self.batch_size : (i + 1) * self.batch_size])
            x = self.images[idx].astype(np.float32)
            if self.augment is not None:
                x = np.asarray(self.augment(x, training=True), dtype=np.float32)
            return x if self.labels is None else (x, self.labels[idx].astype(np.float32))

        def on_epoch_end(self) -> None:
            if self.shuffle:
                self.order = self.rng.permutation(len(self.images))

    return ArrayBatches


# ------------------------------------------------------------------------------------------ training


def _strategy() -> Any:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _merge(history: dict[str, list[float]], more: dict[str, list[float]]) -> dict[str, list[float]]:
    for key, values in more.items():
        history.setdefault(key, []).extend(float(v) for v in values)
    return history


Trained = tuple["keras.Model", dict[str, list[float]], np.ndarray]  # model, history, validation outputs


def _train_seed(cfg: TrainConfig, data: LoadedData) -> Trained:
    """The tutorial: augmentation on the fly, Adam 1e-3, batch 128, 8 steps x 70 epochs, 8 val steps."""
    import keras

    batches = _batches_class()
    _, _, loss = models.output_spec(len(data.labels))
    with _strategy().scope():
        model = models.build_seed(len(data.labels), cfg.model_input_size)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss, metrics=["accuracy"])
    model.summary(print_fn=log.info)
    train = batches(
        data.train.images,
        data.train.labels,
        batch_size=cfg.batch_size,
        shuffle=True,
        augment=models.seed_augmentation(cfg.seed),
        seed=cfg.seed,
    )
    # flow_from_directory shuffles the validation files too, so its 8 batches mix both classes
    val = batches(
        data.validation.images,
        data.validation.labels,
        batch_size=cfg.validation_batch_size,
        shuffle=True,
        seed=cfg.seed + 1,
    )
    steps = min(cfg.steps_per_epoch or len(train), len(train))
    val_steps = min(cfg.validation_steps or len(val), len(val))
    fit = model.fit(
        train,
        epochs=cfg.epochs,
        steps_per_epoch=steps,
        validation_data=val,
        validation_steps=val_steps,
        verbose=2,
    )
    probs = model.predict(batches(data.validation.images, batch_size=64), verbose=1)
    return model, _merge({}, fit.history), probs


def _train_transfer(cfg: TrainConfig, data: LoadedData) -> Trained:
    """Frozen backbone → cached features → head; then optional fine-tuning of the top blocks."""
    import keras

    batches = _batches_class()
    _, _, loss = models.output_spec(len(data.labels))
    with _strategy().scope():
        tm = models.build_mobilenet_v2(
            len(data.labels),
            input_size=cfg.model_input_size,
            alpha=cfg.alpha,
            weights=cfg.weights,
            dropout=cfg.dropout,
        )
    log.info(
        "computing backbone features once (%d train%s, %d validation images)",
        len(data.train.labels),
        " + mirrored" if cfg.flip else "",
        len(data.validation.labels),
    )
    x_train = tm.features.predict(batches(data.train.images, batch_size=64), verbose=1)
    y_train = data.train.labels
    if cfg.flip:
        mirrored = tm.features.predict(batches(data.train.images[:, :, ::-1], batch_size=64), verbose=1)
        x_train, y_train = np.concatenate([x_train, mirrored]), np.concatenate([y_train, y_train])
    x_val = tm.features.predict(batches(data.validation.images, batch_size=64), verbose=1)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    tm.head.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss, metrics=["accuracy"])
    fit = tm.head.fit(
        x_train,
        y_train.astype(np.float32),
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        validation_data=(x_val, data.validation.labels.astype(np.float32)),
        callbacks=[stop],
        shuffle=True,
        verbose=2,
    )
    history = _merge({}, fit.history)
    probs = tm.head.predict(x_val, verbose=0)
    if cfg.fine_tune_epochs > 0:
        count = models.unfreeze_top(tm.backbone)
        log.info("fine-tuning %d backbone layers at lr %g", count, cfg.fine_tune_learning_rate)
        tm.model.compile(
            optimizer=keras.optimizers.Adam(cfg.fine_tune_learning_rate), loss=loss, metrics=["accuracy"]
        )
        train = batches(
            data.train.images,
            data.train.labels,
            batch_size=cfg.batch_size,
            shuffle=True,
            augment=models.finetune_augmentation(cfg.seed),
            seed=cfg.seed,
        )
        val = batches(data.validation.images, data.validation.labels, batch_size=64)
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.patience, restore_best_weights=True
        )
        fit = tm.model.fit(
            train, epochs=cfg.fine_tune_epochs, validation_data=val, callbacks=[stop], verbose=2
        )
        history = _merge(history, fit.history)
        probs = tm.model.predict(batches(data.validation.images, batch_size=64), verbose=1)
    return tm.model, history, probs


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow", "ai-edge-litert"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def run_training(config: TrainConfig) -> TrainResult:
    """Load data → train (features, fit) → evaluate on validation → export → optionally publish."""
    from training_job.weights import prepare_keras_home

    prepare_keras_home()  # before the first `import keras`
    import keras

    cfg = config.resolved()
    keras.utils.set_random_seed(cfg.seed)
    clock = _Clock()

    data = load_data(cfg.data, cfg.model_input_size, limit=cfg.limit, validation_split=cfg.validation_split,
                     seed=cfg.seed)
    clock.lap("data_seconds")
    log.info("data: %d train / %d validation images, labels %s, %d skipped", len(data.train.labels),
             len(data.validation.labels), data.labels, len(data.skipped))

    train = _train_seed if cfg.arch == "seed" else _train_transfer
    model, history, raw = train(cfg, data)
    clock.lap("train_seconds")

    metrics = _validation_metrics(data, raw, history)
    manifest = _manifest(cfg, data, metrics, clock.timings)
    local, manifest = _export(cfg, model, manifest, history, metrics, data)
    log.info("validation accuracy %.4f on %d images; artifacts in %s", metrics["accuracy"], metrics["n"],
             cfg.output)

    pointer = None
    if cfg.publish:
        from training_job.publish import publish_model

        pointer = publish_model(local, cfg.publish, cfg.min_accuracy)
    clock.lap("total_seconds", since_start=True)
    return TrainResult(output_dir=local, manifest=manifest, metrics=metrics, history=history,
                       output_uri=cfg.output, wall_seconds=clock.timings["total_seconds"], pointer=pointer,
                       timings=clock.timings)


class _Clock:
    """Wall-time per step, for the manifest (`training.*_seconds`) and the benchmark."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str, since_start: bool = False) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - (self.started if since_start else self.last), 2)
        self.last = now


def _validation_metrics(data: LoadedData, raw: np.ndarray, history: dict[str, list[float]]) -> dict[str, Any]:
    _, activation, _ = models.output_spec(len(data.labels))
    metrics = classification_report(data.validation.labels, to_probabilities(raw, activation), data.labels)
    metrics["split"] = "validation"
    metrics["train_accuracy_last_epoch"] = history.get("accuracy", [None])[-1]
    metrics["epochs_run"] = len(history.get("loss", []))
    return metrics


def _manifest(cfg: TrainConfig, data: LoadedData, metrics: dict[str, Any],
              timings: dict[str, float]) -> Manifest:
    from catdog.manifest import Manifest

    created = datetime.now(UTC)
    version = cfg.version or f"{created:%Y%m%d-%H%M%S}-{cfg.arch.replace('_', '')}-{data.fingerprint[:8]}"
    _, activation, _ = models.output_spec(len(data.labels))
    return Manifest(
        version=version,
        labels=data.labels,
        input_size=cfg.model_input_size,
        arch=cfg.arch if cfg.arch == "seed" else f"mobilenet_v2_{cfg.alpha}",
        output_activation=activation,
        preprocessing=dict(PREPROCESSING_SPEC),
        metrics={k: metrics[k] for k in ("accuracy", "n", "roc_auc", "per_class", "confusion_matrix")},
        data=data.summary(),
        training={**{k: v for k, v in asdict(cfg).items() if k != "publish"},
                  "input_size": list(cfg.input_size or ()), "epochs_run": metrics["epochs_run"], **timings},
        library_versions=library_versions(),
        created_at=created.isoformat(timespec="seconds"),
    )


def _export(cfg: TrainConfig, model: keras.Model, manifest: Manifest, history: dict[str, list[float]],
            metrics: dict[str, Any], data: LoadedData) -> tuple[Path, Manifest]:
    """Every artifact into the output dir (a temp dir first when the output is on S3)."""
    from training_job.export import write_model_files
    from training_job.plots import plot_confusion_matrix, plot_learning_curves

    local = Path(tempfile.mkdtemp(prefix="catdog-model-")) if is_s3(cfg.output) else Path(cfg.output)
    write_model_files(model, local, manifest)
    (local / HISTORY_FILE).write_text(json.dumps(history, indent=2) + "\n")
    summary = {**metrics, "version": manifest.version, "skipped": len(data.skipped),
               "train_count": len(data.train.labels)}
    (local / METRICS_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    plot_learning_curves(history, local / CURVES_FILE)
    plot_confusion_matrix(metrics["confusion_matrix"], data.labels, local / CONFUSION_FILE)
    manifest = write_manifest(local, manifest)  # again, last: its checksums now cover every artifact
    if is_s3(cfg.output):
        upload_dir(local, cfg.output)
    return local, manifest
