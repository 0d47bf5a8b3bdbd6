"""Flags, env vars and per-arch defaults: how a container or a person configures a run."""

from __future__ import annotations

import argparse

import pytest

from catdog_cli.commands.training import register
from training_job.data import singularize
from training_job.settings import add_train_arguments, config_from_args, default_data
from training_job.train import TrainConfig


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
    assert (cfg.data, cfg.output, cfg.publish, cfg.min_accuracy, cfg.arch, cfg.epochs) == (
        ["s3://b/data/"],
        "s3://b/out/",
        "s3://b/models/",
        0.95,
        "seed",
        3,
    )


def test_flags_win_over_env_vars() -> None:
    env = {"DATA_URI": "s3://b/data/", "EPOCHS": "3", "ARCH": "seed"}
    cfg = config_from_args(_parse(["--data", "local.zip", "--epochs", "7", "--arch", "mobilenet_v2"], env))
    assert (cfg.data, cfg.epochs, cfg.arch) == (["local.zip"], 7, "mobilenet_v2")


def test_data_may_be_given_several_times_to_merge_data_sets() -> None:
    cfg = config_from_args(_parse(["--data", "a.zip", "--data", "s3://b/d/"], {"DATA_URI": "env.zip"}))
    assert cfg.data == ["a.zip", "s3://b/d/"], "the flags replace the variable, then accumulate"
    assert config_from_args(_parse([], {"DATA_URI": "x.zip,s3://b/y/"})).data == ["x.zip", "s3://b/y/"]


def test_every_setting_is_a_flag_whose_help_names_its_env_var_and_default() -> None:
    from dataclasses import fields

    from training_job.settings import TrainConfig

    parser = argparse.ArgumentParser()
    add_train_arguments(parser, {})
    by_dest = {a.dest: a for a in parser._actions}
    for f in fields(TrainConfig):
        assert f.name in by_dest, f"{f.name} has no flag"
        if f.metadata["env"]:
            assert f"env {f.metadata['env']}" in by_dest[f.name].help
    assert "default 0.9" in by_dest["min_accuracy"].help
    assert "default 32 for mobilenet_v2, 128 for seed" in by_dest["batch_size"].help


def test_defaults_without_env() -> None:
    cfg = config_from_args(_parse([], {}))
    assert cfg.data == [] and cfg.arch == "mobilenet_v2" and cfg.publish is None
    assert cfg.resolved().data == [default_data()]  # ../shared's copy when present, else the URL
    assert cfg.weights == "imagenet"
    assert config_from_args(_parse(["--weights", "none"], {})).weights is None


def test_input_size_flag() -> None:
    assert _parse(["--input-size", "100x120"], {}).input_size == (100, 120)
    assert _parse(["--input-size", "96"], {}).input_size == (96, 96)
    with pytest.raises(SystemExit):
        _parse(["--input-size", "big"], {})


def test_seed_defaults_are_the_tutorials_schedule() -> None:
    c = TrainConfig(arch="seed").resolved()
    assert (c.epochs, c.batch_size, c.steps_per_epoch, c.validation_steps, c.validation_batch_size) == (
        70,
        128,
        8,
        8,
        32,
    )
    assert c.input_size == (300, 300) and c.learning_rate == 1e-3


def test_mobilenet_defaults() -> None:
    c = TrainConfig().resolved()
    assert c.input_size == (224, 224) and c.steps_per_epoch is None and c.fine_tune_epochs == 0


def test_unknown_arch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="resnet"):
        TrainConfig(arch="resnet").resolved()


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
    assert (cfg.accept_rate, cfg.stop_fraction, cfg.calibration_fraction, cfg.novelty_min_auroc) == (
        0.99, 0.1, 0.1, 0.9)
    assert cfg.feature_engine == "auto"
    cfg = config_from_args(_parse(["--accept-rate", "0.95", "--novelty-min-auroc", "0",
                                   "--feature-engine", "keras"], {}))
    assert (cfg.accept_rate, cfg.novelty_min_auroc, cfg.feature_engine) == (0.95, 0.0, "keras")


def test_an_accept_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"--accept-rate 1\.5"):
        TrainConfig(accept_rate=1.5).resolved()
