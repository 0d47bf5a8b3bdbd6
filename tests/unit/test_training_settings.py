"""Flags, env vars and per-arch defaults: how a container or a person configures a run."""

from __future__ import annotations

import argparse

import pytest

from catdog_cli.commands.training import register
from training_job import models
from training_job.data import singularize
from training_job.settings import (
    GROUPS,
    TrainConfig,
    add_train_arguments,
    all_settings,
    config_from_args,
    default_data,
    setting_name,
)


def _parse(argv: list[str], env: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser, env)
    return parser.parse_args(argv)


def test_env_vars_configure_a_container_run() -> None:
    env = {
        "DATA_URI": "s3://b/data/",
        "OUTPUT_URI": "s3://b/out/",
        "PUBLISH_URI": "s3://b/models/",
        "MIN_ACCURACY": "0.95",
        "ARCH": "seed",
        "EPOCHS": "3",
    }
    cfg = config_from_args(_parse([], env))
    assert (cfg.data.sources, cfg.publish.output, cfg.publish.uri, cfg.publish.min_accuracy, cfg.model.arch,
            cfg.training.epochs) == (["s3://b/data/"], "s3://b/out/", "s3://b/models/", 0.95, "seed", 3)


def test_flags_win_over_env_vars() -> None:
    env = {"DATA_URI": "s3://b/data/", "EPOCHS": "3", "ARCH": "seed"}
    cfg = config_from_args(_parse(["--data", "local.zip", "--epochs", "7", "--arch", "mobilenet_v2"], env))
    assert (cfg.data.sources, cfg.training.epochs, cfg.model.arch) == (["local.zip"], 7, "mobilenet_v2")


def test_data_may_be_given_several_times_to_merge_data_sets() -> None:
    cfg = config_from_args(_parse(["--data", "a.zip", "--data", "s3://b/d/"], {"DATA_URI": "env.zip"}))
    assert cfg.data.sources == ["a.zip", "s3://b/d/"], "the flags replace the variable, then accumulate"
    assert config_from_args(_parse([], {"DATA_URI": "x.zip,s3://b/y/"})).data.sources == ["x.zip", "s3://b/y/"]


def test_every_setting_is_a_flag_whose_help_names_its_env_var_and_default() -> None:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser, {})
    by_dest = {a.dest: a for a in parser._actions}
    settings = list(all_settings())
    assert len(settings) == 28, "a setting was lost or added without a group"
    for _, f in settings:
        assert setting_name(f) in by_dest, f"{f.name} has no flag"
        if f.metadata["env"]:
            assert f"env {f.metadata['env']}" in by_dest[setting_name(f)].help
    assert "default 0.9" in by_dest["min_accuracy"].help
    batch_help = by_dest["batch_size"].help
    assert "default 32 for efficientnet_lite0, 32 for mobilenet_v2, 128 for seed" in batch_help


def test_help_shows_one_section_per_group() -> None:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser, {})
    text = parser.format_help()
    positions = [text.index(f"{group} settings:") for group in GROUPS]
    assert positions == sorted(positions), "the sections come in the order of GROUPS"
    data_section = text[positions[0]:positions[1]]
    assert "--data SRC" in data_section and "--limit N" in data_section and "--epochs" not in data_section


def test_the_flat_names_are_the_flags_and_the_manifest_keys() -> None:
    """`training` in the manifest stays flat, keyed as before the settings were grouped."""
    values = TrainConfig.of(data=["x.zip"], publish="s3://b/models/", epochs=3).as_dict()
    assert values["data"] == ["x.zip"] and values["publish"] == "s3://b/models/" and values["epochs"] == 3
    assert set(values) == {setting_name(f) for _, f in all_settings()}
    assert TrainConfig.of(**values) == TrainConfig.of(data=["x.zip"], publish="s3://b/models/", epochs=3)
    with pytest.raises(TypeError, match="no such training setting: epoch"):
        TrainConfig.of(epoch=3)  # a typo is refused, not ignored


def test_defaults_without_env() -> None:
    cfg = config_from_args(_parse([], {}))
    assert cfg.data.sources == [] and cfg.model.arch == "efficientnet_lite0" and cfg.publish.uri is None
    assert cfg.resolved().data.sources == [default_data()]  # ../shared's copy when present, else the URL
    assert cfg.model.weights == "imagenet"
    assert config_from_args(_parse(["--weights", "none"], {})).model.weights is None


def test_input_size_flag() -> None:
    assert _parse(["--input-size", "100x120"], {}).input_size == (100, 120)
    assert _parse(["--input-size", "96"], {}).input_size == (96, 96)
    with pytest.raises(SystemExit):
        _parse(["--input-size", "big"], {})


def test_seed_defaults_are_the_tutorials_schedule() -> None:
    c = TrainConfig.of(arch="seed").resolved()
    t = c.training
    assert (t.epochs, t.batch_size, t.steps_per_epoch, t.validation_steps, t.validation_batch_size) == (
        70, 128, 8, 8, 32)
    assert c.model.input_size == (300, 300) and t.learning_rate == 1e-3


def test_mobilenet_defaults() -> None:
    c = TrainConfig.of(arch="mobilenet_v2").resolved()
    assert c.model.input_size == (224, 224) and c.training.steps_per_epoch is None
    assert c.training.fine_tune_epochs == 0 and c.model.alpha == 0.35


def test_efficientnet_lite0_is_the_default_arch_with_its_defaults_and_manifest_name() -> None:
    assert TrainConfig().model.arch == "efficientnet_lite0" == models.DEFAULT_ARCH
    c = config_from_args(_parse(["--arch", "efficientnet_lite0"], {})).resolved()
    assert c.model.arch == "efficientnet_lite0" and c.model.input_size == (256, 256)
    assert (c.training.epochs, c.training.batch_size) == (30, 32) and c.model.weights == "imagenet"
    assert models.manifest_arch("efficientnet_lite0", c.model.alpha) == "efficientnet_lite0"
    assert models.manifest_arch("mobilenet_v2", 0.5) == "mobilenet_v2_0.5", "MobileNetV2 keeps its width"
    assert models.manifest_arch("seed", 0.35) == "seed"


def test_unknown_arch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="resnet"):
        TrainConfig.of(arch="resnet").resolved()


def test_every_subcommand_is_registered_with_help() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    register(sub)
    assert set(sub.choices) == {"train", "evaluate", "predict", "publish"}
    for name, sp in sub.choices.items():
        assert sp.format_help(), name
        assert callable(sp.get_default("func"))


@pytest.mark.parametrize(
    ("folders", "labels"),
    [
        (["cats", "dogs"], ["cat", "dog"]),
        (["puppies", "kitties"], ["puppy", "kitty"]),
        (["cat", "dog"], ["cat", "dog"]),  # already singular: untouched
        (["bus", "glass"], ["bus", "glass"]),  # "glass" is not a plural: leave all alone
        (["cats", "cat"], ["cats", "cat"]),  # would collide
    ],
)
def test_labels_are_singular_folder_names(folders: list[str], labels: list[str]) -> None:
    assert singularize(folders) == labels


def test_novelty_and_split_settings_are_flags_with_their_defaults() -> None:
    cfg = config_from_args(_parse([], {}))
    assert (cfg.novelty.accept_rate, cfg.data.stop_fraction, cfg.data.calibration_fraction,
            cfg.novelty.novelty_min_auroc) == (0.99, 0.1, 0.1, 0.9)
    assert cfg.training.feature_engine == "auto"
    cfg = config_from_args(_parse(["--accept-rate", "0.95", "--novelty-min-auroc", "0",
                                   "--feature-engine", "keras"], {}))
    assert (cfg.novelty.accept_rate, cfg.novelty.novelty_min_auroc, cfg.training.feature_engine) == (
        0.95, 0.0, "keras")


def test_an_accept_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"--accept-rate 1\.5"):
        TrainConfig.of(accept_rate=1.5).resolved()
