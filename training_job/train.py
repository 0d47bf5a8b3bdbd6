"""Train, calibrate, evaluate and export one model: the keras-io recipe, kept short and linear.

`run_training` reads top to bottom as the steps of a run:

1. load the data set; carve `train/` into fit / stop / calib (`splits.py`);
2. features + fit: the frozen backbone (EfficientNet-Lite0 or MobileNetV2) sees each image once (fit
   images also mirrored), its pooled features are cached and only the small head trains on them, early
   stopping on the stop split (`--fine-tune-epochs` then optionally unfreezes the top blocks);
   `--arch seed` is the tutorial, unchanged, its penultimate layer standing in for the features;
3. calibrate: temperature scaling on held-out logits (`calibration.py`);
4. novelty: compare Mahalanobis and kNN on the features, keep the better, calibrate its threshold
   to `--accept-rate` of held-out photos (`novelty.py`);
5. evaluate on `validation/`, once, at the end: the figures the README reports;
6. export ONE model with two outputs (`probability`, `novelty`) as `.h5` + `.tflite`, the plots,
   metrics and the manifest; optionally publish behind the quality gate.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from catdog.manifest import Manifest, ModelPointer
from catdog.model_repo import upload_dir, write_manifest
from catdog.preprocess import PREPROCESSING_SPEC
from catdog.s3uri import is_s3
from training_job import models
from training_job.calibration import as_class_logits, calibration_report, fit_temperature, softmax
from training_job.data import LoadedData, load_data
from training_job.export import build_serving_model, write_model_files
from training_job.features import FeatureExtractor, choose_engine
from training_job.metrics import classification_report
from training_job.novelty import NoveltyFit, fit_novelty, with_mirrors
from training_job.plots import plot_confusion_matrix, plot_learning_curves, plot_reliability
from training_job.publish import publish_model
from training_job.settings import TrainConfig
from training_job.splits import Splits, carve_splits, stratified_folds
from training_job.weights import prepare_keras_home

# Keras and TensorFlow are imported inside the functions that train, never above: Keras reads
# KERAS_HOME once, at its first import, so `prepare_keras_home()` must run first, and importing
# this module (as `catdog evaluate` and the tests do) must not cost TensorFlow's ~2 s.
if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
CURVES_FILE = "learning_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
RELIABILITY_FILE = "reliability.png"
OOF_FOLDS = 5


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


HeadRefit = Callable[[np.ndarray, np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class Trained:
    """A trained network, seen as "features → final Dense": what calibration, novelty and export need."""

    features: keras.Model  # pixels → the final Dense's input (pooled backbone / penultimate Dense)
    extract: Callable[..., np.ndarray]  # images (uint8) [, mirror=True, what=name] → features, the fast way
    kernel: np.ndarray
    bias: np.ndarray
    activation: str
    history: dict[str, list[float]]
    best_epoch: int  # the epoch whose weights were kept (early stopping on the stop split)
    x_fit: np.ndarray
    x_mirror: np.ndarray | None  # features of the mirrored fit images, same order
    x_calib: np.ndarray
    refit: HeadRefit | None = None  # retrain the head on cached features (None: the head is not separable)
    feature_engine: str = "keras"

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ self.kernel + self.bias, dtype=np.float64)


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
    """Append Keras' history; its `val_*` series are the stop split's here, so they are named so."""
    for key, values in more.items():
        name = "stop_" + key[4:] if key.startswith("val_") else key
        history.setdefault(name, []).extend(float(v) for v in values)
    return history


def _train_seed(cfg: TrainConfig, data: LoadedData, splits: Splits) -> Trained:
    """The tutorial: augmentation on the fly, Adam 1e-3, batch 128, 8 steps x 70 epochs, 8 stop-split
    steps (monitoring only: the tutorial keeps its last epoch)."""
    import keras

    batches = _batches_class()
    _, activation, loss = models.output_spec(len(data.labels))
    with _strategy().scope():
        model = models.build_seed(len(data.labels), cfg.model_input_size)
        model.compile(optimizer=keras.optimizers.Adam(cfg.training.learning_rate), loss=loss,
                      metrics=["accuracy"])
    model.summary(print_fn=log.info)
    images, labels = data.train.images, data.train.labels
    train = batches(images[splits.fit], labels[splits.fit], batch_size=cfg.training.batch_size, shuffle=True,
                    augment=models.seed_augmentation(cfg.training.seed), seed=cfg.training.seed)
    # flow_from_directory shuffles the validation files too, so its 8 batches mix both classes
    stop = batches(images[splits.stop], labels[splits.stop], batch_size=cfg.training.validation_batch_size,
                   shuffle=True, seed=cfg.training.seed + 1)
    steps = min(cfg.training.steps_per_epoch or len(train), len(train))
    stop_steps = min(cfg.training.validation_steps or len(stop), len(stop))
    fit = model.fit(train, epochs=cfg.training.epochs, steps_per_epoch=steps, validation_data=stop,
                    validation_steps=stop_steps, verbose=2)
    features = models.seed_features(model)

    def extract(x: np.ndarray, mirror: bool = False, what: str = "images") -> np.ndarray:
        x = x[:, :, ::-1] if mirror else x
        log.info("penultimate-layer features (%s): %d images", what, len(x))
        return np.asarray(features.predict(batches(x, batch_size=64), verbose=0), dtype=np.float32)

    kernel, bias = model.layers[-1].get_weights()
    return Trained(features=features, extract=extract, kernel=kernel, bias=bias, activation=activation,
                   history=_merge({}, fit.history), best_epoch=cfg.training.epochs or 0,
                   x_fit=extract(images[splits.fit], what="fit"), x_mirror=None,
                   x_calib=extract(images[splits.calib], what="calib"))


def _train_transfer(cfg: TrainConfig, data: LoadedData, splits: Splits) -> Trained:
    """Frozen backbone → cached features → head (early stopping on stop); optional fine-tuning."""
    import keras


    n_classes = len(data.labels)
    _, activation, loss = models.output_spec(n_classes)
    with _strategy().scope():
        tm = models.build_transfer(cfg.model.arch, n_classes, input_size=cfg.model_input_size,
                                   alpha=cfg.model.alpha, weights=cfg.model.weights,
                                   dropout=cfg.model.dropout)
    images, labels = data.train.images, data.train.labels
    y_fit, y_stop = labels[splits.fit], labels[splits.stop]
    n_images = len(labels) + (len(splits.fit) if cfg.training.flip else 0) + len(data.validation.labels)
    engine = choose_engine(cfg.training.feature_engine, n_images, cfg.model.arch)
    log.info("computing backbone features once with %s (%d fit%s, %d stop, %d calib images)", engine,
             len(y_fit), " + mirrored" if cfg.training.flip else "", len(y_stop), len(splits.calib))
    extract = FeatureExtractor(tm.features, engine)
    x_fit = extract(images[splits.fit], what="fit")
    x_mirror = extract(images[splits.fit], mirror=True, what="fit") if cfg.training.flip else None
    x_stop = extract(images[splits.stop], what="stop")
    x_train, y_train = with_mirrors(x_fit, y_fit, x_mirror)

    def compile_head(head: keras.Model) -> None:
        head.compile(optimizer=keras.optimizers.Adam(cfg.training.learning_rate), loss=loss,
                     metrics=["accuracy"])

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.training.patience,
                                         restore_best_weights=True)
    compile_head(tm.head)
    fit = tm.head.fit(x_train, y_train.astype(np.float32), batch_size=cfg.training.batch_size,
                      epochs=cfg.training.epochs, validation_data=(x_stop, y_stop.astype(np.float32)),
                      callbacks=[stop], shuffle=True, verbose=2)
    history = _merge({}, fit.history)
    best_epoch = int(stop.best_epoch) + 1

    def refit(x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The same head recipe on other rows, for a fixed number of epochs (no stop split involved)."""
        keras.utils.set_random_seed(seed)
        head = models.build_head(x.shape[1], n_classes, cfg.model.dropout)
        compile_head(head)
        head.fit(x, y.astype(np.float32), batch_size=cfg.training.batch_size, epochs=epochs, shuffle=True,
                 verbose=0)
        kernel, bias = head.get_layer("classifier").get_weights()
        return kernel, bias

    head_refit: HeadRefit | None = refit
    if cfg.training.fine_tune_epochs > 0:
        batches = _batches_class()
        count = models.unfreeze_top(tm.backbone, tm.fine_tune_from)
        log.info("fine-tuning %d backbone layers at lr %g", count, cfg.training.fine_tune_learning_rate)
        tm.model.compile(optimizer=keras.optimizers.Adam(cfg.training.fine_tune_learning_rate), loss=loss,
                         metrics=["accuracy"])
        train = batches(images[splits.fit], y_fit, batch_size=cfg.training.batch_size, shuffle=True,
                        augment=models.finetune_augmentation(cfg.training.seed), seed=cfg.training.seed)
        stop_images = batches(images[splits.stop], y_stop, batch_size=64)
        tune_stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.training.patience,
                                                  restore_best_weights=True)
        tuned = tm.model.fit(train, epochs=cfg.training.fine_tune_epochs, validation_data=stop_images,
                             callbacks=[tune_stop], verbose=2)
        history = _merge(history, tuned.history)
        best_epoch = len(fit.history["loss"]) + int(tune_stop.best_epoch) + 1
        # the backbone changed: features again, from the tuned layers
        extract = FeatureExtractor(tm.features, engine)
        x_fit = extract(images[splits.fit], what="fit, tuned")
        x_mirror = extract(images[splits.fit], mirror=True, what="fit, tuned") if cfg.training.flip else None
        head_refit = None  # the backbone was tuned on every fit image: no out-of-fold head exists
    kernel, bias = tm.head.get_layer("classifier").get_weights()
    return Trained(features=tm.features, extract=extract, kernel=kernel, bias=bias, activation=activation,
                   history=history, best_epoch=best_epoch, x_fit=x_fit, x_mirror=x_mirror,
                   x_calib=extract(images[splits.calib], what="calib"), refit=head_refit,
                   feature_engine=engine)


# ------------------------------------------------------------------------------------ calibration


def _fit_temperature(cfg: TrainConfig, data: LoadedData, splits: Splits,
                     trained: Trained) -> tuple[float, dict[str, Any]]:
    """T by NLL on held-out logits: out-of-fold over fit (head refitted per fold) + calib, or calib alone."""
    y_fit, y_calib = data.train.labels[splits.fit], data.train.labels[splits.calib]
    logits, labels = trained.logits(trained.x_calib), y_calib
    source = f"calib split ({len(y_calib)} images)"
    if trained.refit is not None:
        folds = stratified_folds(y_fit, max(2, min(OOF_FOLDS, len(y_fit))), cfg.training.seed)
        oof = np.empty((len(y_fit), trained.kernel.shape[1]))
        for f in np.unique(folds):
            kept = folds != f
            x, y = with_mirrors(trained.x_fit[kept], y_fit[kept],
                                None if trained.x_mirror is None else trained.x_mirror[kept])
            kernel, bias = trained.refit(x, y, trained.best_epoch, cfg.training.seed + int(f))
            oof[folds == f] = trained.x_fit[folds == f] @ kernel + bias
        logits, labels = np.concatenate([oof, logits]), np.concatenate([y_fit, y_calib])
        source = (f"out-of-fold logits over the fit split ({len(y_fit)} images, {int(folds.max()) + 1} head "
                  f"refits of {trained.best_epoch} epochs) + calib split ({len(y_calib)} images)")
    class_logits = as_class_logits(logits, trained.activation)
    temperature = fit_temperature(class_logits, labels)
    held_out = calibration_report(class_logits, labels, temperature)
    return temperature, {"temperature": round(temperature, 6), "fitted_on": source, "n": len(labels),
                         "held_out_nll_before": held_out["nll_before"],
                         "held_out_nll_after": held_out["nll_after"]}


def _fit_novelty(cfg: TrainConfig, data: LoadedData, splits: Splits, trained: Trained) -> NoveltyFit:
    fitted = fit_novelty(trained.x_fit, data.train.labels[splits.fit], trained.x_mirror, trained.x_calib,
                         data.train.labels[splits.calib], accept_rate=cfg.novelty.accept_rate,
                         min_auroc=cfg.novelty.novelty_min_auroc, seed=cfg.training.seed)
    log.info("novelty: class-holdout AUROC %s -> %s, %s", fitted.holdout_auroc, fitted.method,
             "exported" if fitted.enabled else "NOT exported (never unknown)")
    return fitted


# ------------------------------------------------------------------------------------- validation


def _evaluate_validation(data: LoadedData, trained: Trained, temperature: float,
                         novelty: NoveltyFit) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one look at `validation/`: (metrics, calibration figures). Nothing is chosen from it."""
    x_val = trained.extract(data.validation.images, what="validation")
    y_val = data.validation.labels
    class_logits = as_class_logits(trained.logits(x_val), trained.activation)
    probs = softmax(class_logits / temperature)
    metrics = classification_report(y_val, probs, data.labels)
    metrics["split"] = "validation"
    calibration = calibration_report(class_logits, y_val, temperature)
    metrics.update(ece_before=calibration["ece_before"], ece_after=calibration["ece_after"],
                   temperature=temperature)
    answered = np.ones(len(y_val), dtype=bool)
    if novelty.enabled:
        scores = novelty.normalized(x_val)
        answered = scores <= 1.0
        metrics["novelty_quantiles"] = {q: round(float(np.quantile(scores, float(q))), 4)
                                        for q in ("0.5", "0.9", "0.99")}
    right = probs.argmax(axis=1) == y_val
    metrics.update(
        answered=int(answered.sum()),
        unknown=int((~answered).sum()),
        unknown_rate=round(float((~answered).mean()), 6),
        answered_accuracy=round(float(right[answered].mean()), 6) if answered.any() else None,
    )
    return metrics, calibration


# -------------------------------------------------------------------------------------------- run


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow", "ai-edge-litert"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def run_training(config: TrainConfig) -> TrainResult:
    """Load + split → features + fit → calibrate → novelty → validation (once) → export → publish."""
    prepare_keras_home()  # before the first `import keras`
    import keras

    cfg = config.resolved()
    models.check_weights(cfg.model.arch, cfg.model.weights)  # a wrong file fails now, not after the data
    keras.utils.set_random_seed(cfg.training.seed)
    clock = _Clock()

    data = load_data(cfg.data.sources, cfg.model_input_size, limit=cfg.data.limit,
                     validation_split=cfg.data.validation_split, seed=cfg.training.seed)
    splits = carve_splits(data.train.labels, cfg.data.stop_fraction, cfg.data.calibration_fraction,
                          cfg.training.seed, data.labels)
    clock.lap("data_seconds")
    log.info("data: %s of train/, %d validation images, labels %s, %d skipped", splits.counts(),
             len(data.validation.labels), data.labels, len(data.skipped))

    train = _train_seed if cfg.model.arch == "seed" else _train_transfer
    trained = train(cfg, data, splits)
    clock.lap("train_seconds")

    temperature, calibration = _fit_temperature(cfg, data, splits, trained)
    novelty = _fit_novelty(cfg, data, splits, trained)
    clock.lap("calibrate_seconds")

    metrics, reliability = _evaluate_validation(data, trained, temperature, novelty)
    metrics.update(best_epoch=trained.best_epoch, epochs_run=len(trained.history.get("loss", [])),
                   train_accuracy_last_epoch=trained.history.get("accuracy", [None])[-1],
                   splits=splits.counts(), novelty_method=novelty.method,
                   novelty_enabled=novelty.enabled, holdout_auroc=novelty.holdout_auroc)
    calibration.update(ece_before=reliability["ece_before"], ece_after=reliability["ece_after"],
                       ece_bins=reliability["bins"], measured_on="validation")
    clock.lap("evaluate_seconds")

    serving = build_serving_model(trained.features, (trained.kernel, trained.bias), trained.activation,
                                  temperature, novelty)
    manifest = _manifest(cfg, data, metrics, novelty, calibration, trained, clock.timings)
    local, manifest = _export(cfg, serving, manifest, trained.history, metrics, reliability, data)
    clock.lap("export_seconds")
    log.info("validation accuracy %.4f on %d images (%d answered unknown, %.4f among the answered); "
             "artifacts in %s", metrics["accuracy"], metrics["n"], metrics["unknown"],
             metrics["answered_accuracy"] or 0.0, cfg.publish.output)

    pointer = None
    if cfg.publish.uri:
        pointer = publish_model(local, cfg.publish.uri, cfg.publish.min_accuracy)
    clock.lap("total_seconds", since_start=True)
    return TrainResult(output_dir=local, manifest=manifest, metrics=metrics, history=trained.history,
                       output_uri=cfg.publish.output, wall_seconds=clock.timings["total_seconds"],
                       pointer=pointer, timings=clock.timings)


class _Clock:
    """Wall-time per step, for the manifest (`training.*_seconds`) and the benchmark."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str, since_start: bool = False) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - (self.started if since_start else self.last), 2)
        self.last = now


MANIFEST_METRICS = ("accuracy", "n", "roc_auc", "per_class", "confusion_matrix", "answered_accuracy",
                    "unknown_rate", "ece_before", "ece_after")


def _manifest(cfg: TrainConfig, data: LoadedData, metrics: dict[str, Any], novelty: NoveltyFit,
              calibration: dict[str, Any], trained: Trained, timings: dict[str, float]) -> Manifest:
    created = datetime.now(UTC)
    arch_tag = cfg.model.arch.replace("_", "")
    version = cfg.publish.version or f"{created:%Y%m%d-%H%M%S}-{arch_tag}-{data.fingerprint[:8]}"
    return Manifest(
        version=version,
        labels=data.labels,
        input_size=cfg.model_input_size,
        arch=models.manifest_arch(cfg.model.arch, cfg.model.alpha),
        output_activation=trained.activation,
        preprocessing=dict(PREPROCESSING_SPEC),
        metrics={k: metrics[k] for k in MANIFEST_METRICS},
        data={**data.summary(), "splits": metrics["splits"]},
        training={**{k: v for k, v in cfg.as_dict().items() if k != "publish"},
                  "input_size": list(cfg.model.input_size or ()), "epochs_run": metrics["epochs_run"],
                  "best_epoch": trained.best_epoch, "feature_engine_used": trained.feature_engine, **timings},
        library_versions=library_versions(),
        created_at=created.isoformat(timespec="seconds"),
        novelty=novelty.manifest_block(),
        calibration=calibration,
    )


def _export(cfg: TrainConfig, model: keras.Model, manifest: Manifest, history: dict[str, list[float]],
            metrics: dict[str, Any], reliability: dict[str, Any], data: LoadedData) -> tuple[Path, Manifest]:
    """Every artifact into the output dir (a temp dir first when the output is on S3)."""
    output = cfg.publish.output
    local = Path(tempfile.mkdtemp(prefix="catdog-model-")) if is_s3(output) else Path(output)
    write_model_files(model, local, manifest)
    (local / HISTORY_FILE).write_text(json.dumps(history, indent=2) + "\n")
    summary = {**metrics, "version": manifest.version, "skipped": len(data.skipped),
               "train_count": len(data.train.labels), "calibration": reliability,
               "novelty": manifest.novelty}
    (local / METRICS_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    plot_learning_curves(history, local / CURVES_FILE, best_epoch=metrics["best_epoch"],
                         title=f"model {manifest.version}")
    plot_confusion_matrix(metrics["confusion_matrix"], data.labels, local / CONFUSION_FILE)
    plot_reliability(reliability, local / RELIABILITY_FILE, title=f"model {manifest.version}")
    manifest = write_manifest(local, manifest)  # again, last: its checksums now cover every artifact
    if is_s3(output):
        upload_dir(local, output)
    return local, manifest
