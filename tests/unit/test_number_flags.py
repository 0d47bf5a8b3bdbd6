"""Numbers are checked where they are typed: `train --limit -5` used to reach the data loader and
blame the data set. Every numeric flag of every command has a range, refused at parse time as a
usage error (exit 2) naming the flag, its environment variable when that is where it came from:
values below and above the range, `nan` and `inf` alike (issue 19, finding 6)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from catdog.ranges import FRACTION, POSITIVE, PROBABILITY, SHARE, Range, number, whole
from catdog_cli.main import build_parser, main
from tests.support.cli import COMMANDS, minimal_argv, parser_of
from training_job.settings import TrainConfig


def _range(action: argparse.Action) -> Range | None:
    kind = getattr(action.type, "parse", action.type)  # a training setting's flag wraps its parse
    return kind if isinstance(kind, Range) else None


def _outside(r: Range) -> list[str]:
    """Values just outside the range at each end it has, and `nan` and `inf` for a real number
    (`nan` compares false with every bound: a check written as `not x < low` lets it through)."""
    out = []
    if r.low is not None:
        out.append(str(int(r.low) - 1 if r.whole else r.low - (0 if r.low_open else 0.5)))
    if r.high is not None:
        out.append(str(int(r.high) + 1 if r.whole else r.high + (0 if r.high_open else 0.5)))
    if not r.whole:
        out += ["nan", "inf"]  # never a setting: a timeout or a rate of inf is a typo
    return out


NUMERIC = [(path, action) for path in COMMANDS for action in parser_of(path)._actions
           if action.option_strings and action.type is not None]


def test_no_flag_takes_a_number_without_a_range() -> None:
    plain = [f"catdog {' '.join(path)} {action.option_strings[0]}" for path, action in NUMERIC
             if getattr(action.type, "parse", action.type) in (int, float)]
    assert not plain, f"type=int/float accepts -5: {plain}"
    assert sum(_range(action) is not None for _, action in NUMERIC) > 40, "the walk found the flags"


OUT_OF_RANGE = [pytest.param(path, action, bad, id=f"{' '.join(path)} {action.option_strings[0]}={bad}")
                for path, action in NUMERIC if (r := _range(action)) for bad in _outside(r)]


@pytest.mark.parametrize(("path", "action", "bad"), OUT_OF_RANGE)
def test_every_numeric_flag_refuses_a_value_outside_its_range(
        path: tuple[str, ...], action: argparse.Action, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Input: each end's first value outside the flag's range, and `nan` and `inf` for a real: e.g.
    `report --thumb-size 5000` exited 0 with every tile "corrupt", `report --threshold nan` exit 70."""
    r = _range(action)
    assert r is not None
    flag = action.option_strings[0]
    with pytest.raises(SystemExit) as exit_info:
        main([*minimal_argv(path), f"{flag}={bad}"])
    assert exit_info.value.code == 2
    assert f"error: argument {flag}: {bad} is not {r.description}" in capsys.readouterr().err


def test_values_in_range_are_taken_as_numbers() -> None:
    args = build_parser().parse_args(["report", "-o", "r.html", "--thumb-size", "64", "--threshold", "0.5",
                                      "--limit", "0"])
    assert (args.thumb_size, args.threshold, args.limit, args.output) == (64, 0.5, 0, Path("r.html"))
    args = build_parser().parse_args(["dataset", "export", "o", "--include-confident", "1",
                                      "--validation-split", "0"])
    assert (args.include_confident, args.validation_split) == (1.0, 0.0)


def test_train_limit_minus_five_is_a_usage_error_about_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--limit", "-5"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: catdog train")
    assert err[-1] == "catdog train: error: argument --limit: -5 is not a whole number ≥ 1"


def test_a_bad_environment_variable_names_itself_and_spares_other_commands(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EPOCHS", "-1")
    monkeypatch.setenv("MIN_ACCURACY", "high")
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])
    assert exit_info.value.code == 2
    assert "argument --epochs: $EPOCHS='-1': -1 is not a whole number ≥ 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["publish", "build/model"])
    assert "$MIN_ACCURACY='high': 'high' is not a number in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])  # building the parser reads them, and must not trip over them
    assert exit_info.value.code == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "2", "--min-accuracy", "0.5", "--help"])
    assert exit_info.value.code == 0


def test_settings_set_in_code_are_held_to_the_same_ranges() -> None:
    """The demo and benchmarks build a TrainConfig without flags."""
    with pytest.raises(ValueError, match=r"--limit -5 is not a whole number ≥ 1"):
        TrainConfig.of(limit=-5).resolved()
    with pytest.raises(ValueError, match=r"--stop-fraction 0 is not a number in \(0, 1\)"):
        TrainConfig.of(stop_fraction=0).resolved()
    assert TrainConfig.of(limit=5, stop_fraction=0.5).resolved().data.limit == 5


@pytest.mark.parametrize(("r", "good", "bad"), [
    (POSITIVE, ["1", "250"], ["0", "-5", "1.5", "abc", "", "nan"]),
    (FRACTION, ["0.5", "1e-3"], ["0", "1", "-0.1", "inf", "nan"]),
    (PROBABILITY, ["0", "1", "0.9"], ["1.01", "-0.5", "nan"]),
    (SHARE, ["1", "0.99"], ["0", "1.5"]),
    (whole(0, 20), ["0", "20"], ["21", "-1"]),
    (number(0, 300), ["0", "300", "2.5"], ["300.5", "-1"]),
])
def test_ranges_include_and_exclude_their_ends(r: Range, good: list[str], bad: list[str]) -> None:
    for text in good:
        assert math.isfinite(r(text))
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="is not "):
            r(text)
    with pytest.raises(ValueError, match="--x True is not"):
        r.check(True, "--x")  # a bool is no count
