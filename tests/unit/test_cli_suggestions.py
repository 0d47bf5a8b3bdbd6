"""A mistyped flag, subcommand or choice gets the nearest right one ("did you mean --label?"), for
every flag of every command, with the usage of the subcommand it was given to."""

from __future__ import annotations

import pytest

from catdog_cli.main import main
from tests.support.cli import COMMANDS, minimal_argv, parser_of


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2, "a usage error"
    return capsys.readouterr().err


def test_results_lable_suggests_label(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's own example: `--lable` is as alike to `--table` as to `--label` (difflib's ratio)."""
    err = _error(["results", "--lable", "dog"], capsys)
    assert err.splitlines()[0].startswith("usage: catdog results ")
    assert err.splitlines()[-1] == ("catdog results: error: unrecognized arguments: --lable dog "
                                    "(did you mean --label?)")


def test_each_unknown_flag_gets_its_own_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["results", "--lable=dog", "--snice", "1h"], capsys)
    assert "(did you mean --label for --lable, --since for --snice?)" in err


@pytest.mark.parametrize(("argv", "expected"), [
    (["resluts"], "did you mean 'results'?"),
    (["local", "wroker"], "did you mean 'worker'?"),
    (["models", "rolback"], "did you mean 'rollback'?"),
    (["results", "--format", "jsno"], "did you mean 'json'?"),
    (["results", "--status", "faild"], "did you mean 'failed'?"),
])
def test_a_mistyped_subcommand_or_choice_is_named(argv: list[str], expected: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert expected in _error(argv, capsys)


def test_nothing_alike_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["results", "--xyzzy"], capsys)
    assert err.splitlines()[-1] == "catdog results: error: unrecognized arguments: --xyzzy"
    assert "did you mean" not in _error(["qqqq"], capsys)


def _swap_two_letters(flag: str) -> str:
    body = flag[2:]
    i = len(body) // 2
    return "--" + body[: i - 1] + body[i] + body[i - 1] + body[i + 1:]


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_flag_of_every_command_is_suggested_for_its_typo(path: tuple[str, ...],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    flags = [f for f in parser_of(path)._option_string_actions if f.startswith("--") and len(f) >= 6]
    assert flags  # --debug and --stack at least
    for flag in flags:
        typo = _swap_two_letters(flag)
        if typo == flag:
            continue
        err = _error([*minimal_argv(path), typo, "1"], capsys)
        assert f"did you mean {flag}?" in err, err
