"""Every subcommand has --help, and user mistakes come back as one line, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catdog_cli.main import build_parser, main

SUBCOMMANDS = [
    ["train"], ["evaluate"], ["predict"], ["publish"], ["local"], ["local", "up"], ["local", "worker"],
    ["local", "env"],
    ["upload"], ["invoke"], ["results"], ["backfill"], ["demo"],
    ["event"], ["event", "s3-put"], ["event", "sqs"], ["event", "remove"],
]


@pytest.fixture(autouse=True)
def _no_local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No state file, no names in the environment: every name must come from flags."""
    monkeypatch.setenv("CATDOG_STATE_FILE", str(tmp_path / "absent.json"))
    for var in ("CATDOG_BUCKET", "CATDOG_TABLE", "CATDOG_QUEUE_URL", "CATDOG_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    # commands may point boto3 at a state file's endpoint: make sure that is undone after each test
    for var in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY"):
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])  # recorded, so restored afterwards
        else:
            monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: catdog " + " ".join(argv) in capsys.readouterr().out


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_upload_of_a_missing_path_fails_before_uploading(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["upload", "/no/such/photo.jpg", "--bucket", "b"], capsys)
    assert err == "catdog upload: error: no such file or directory: /no/such/photo.jpg"


def test_results_without_a_stack_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["results"], capsys)
    assert "$CATDOG_TABLE" in err and "catdog local up" in err


def test_backfill_rejects_a_non_s3_uri(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["backfill", "/tmp/photos"], capsys)
    assert "not an s3:// URI: '/tmp/photos'" in err


def test_results_rejects_a_bad_since(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["results", "--since", "last tuesday", "--table", "t"], capsys)
    assert "--since 'last tuesday'" in err


def test_invoke_with_a_missing_event_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["invoke", "--event", str(tmp_path / "nope.json"), "--no-local"], capsys)
    assert "nope.json" in err


def test_invoke_with_an_event_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    err = _one_line_error(["invoke", "--event", str(bad), "--no-local"], capsys)
    assert f"{bad}: not a JSON event" in err


def test_worker_without_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["local", "worker", "--once"], capsys)
    assert "catdog local up" in err


def test_name_precedence_flag_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from catdog_cli.targets import resolve_name

    monkeypatch.setenv("CATDOG_TABLE", "from-env")
    assert resolve_name("from-flag", "CATDOG_TABLE", "table", "table").name == "from-flag"
    assert resolve_name(None, "CATDOG_TABLE", "table", "table").name == "from-env"


def _state(endpoint: str = "http://127.0.0.1:5999") -> object:
    from catdog_local.state import LocalState

    return LocalState(name="catdog", endpoint=endpoint, region="eu-west-1", bucket="bkt", queue_url="http://q",
                      queue_arn="arn", dlq_url="http://dlq", table="tbl", max_receive_count=5,
                      visibility_timeout=720)


def test_state_file_names_and_endpoint_are_used_when_nothing_else_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from catdog_cli.targets import resolve_name

    _state().save()  # to $CATDOG_STATE_FILE (the fixture's tmp path)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    target = resolve_name(None, "CATDOG_BUCKET", "bucket", "bucket")
    assert target.name == "bkt"
    # a forgotten `export AWS_ENDPOINT_URL` must not send a local upload to real AWS
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5999"
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_an_exported_endpoint_wins_over_the_state_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from catdog_cli.targets import resolve_name

    _state().save()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1234")
    assert resolve_name(None, "CATDOG_TABLE", "table", "table").name == "tbl"
    assert os.environ["AWS_ENDPOINT_URL"] == "http://elsewhere:1234"


def test_a_corrupt_state_file_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path(tmp_path / "absent.json").write_text("{half")
    err = _one_line_error(["results"], capsys)
    assert "not valid JSON" in err and "catdog local up" in err


def test_local_env_prints_exports_for_the_running_stack(capsys: pytest.CaptureFixture[str]) -> None:
    _state("http://127.0.0.1:5123").save()
    assert main(["local", "env"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:5123" in lines
    assert "export CATDOG_BUCKET=bkt" in lines and "export CATDOG_TABLE=tbl" in lines
    assert all(line.startswith("export ") for line in lines)  # safe to eval


# ---------------------------------------------------------------------- --debug, --status, --version


@pytest.mark.parametrize("argv", [["--debug", "local", "up"], ["local", "up", "--debug"],
                                  ["local", "--debug", "up"], ["results", "--debug", "--limit", "3"]],
                         ids=" ".join)
def test_debug_is_accepted_before_and_after_the_subcommand(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).debug is True


def test_debug_defaults_to_off_at_every_level() -> None:
    assert build_parser().parse_args(["local", "up"]).debug is False


def test_debug_after_the_subcommand_shows_the_traceback() -> None:
    argv = ["results", "--since", "last tuesday", "--table", "t"]
    assert main(argv) == 2  # one line without it
    with pytest.raises(ValueError, match="last tuesday"):
        main([*argv, "--debug"])


def test_results_status_offers_the_real_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    from catdog.status import Status

    for status in Status:
        assert build_parser().parse_args(["results", "--status", str(status)]).status == str(status)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["results", "--status", "ok"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'ok'" in capsys.readouterr().err


def test_version_without_a_stack_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.splitlines() == [f"catdog {version('catdog')}"]


def test_version_with_a_dead_local_stack_answers_quickly(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from catdog_local.moto_server import free_port

    _state(f"http://127.0.0.1:{free_port()}").save()  # a state file left behind, nothing listening
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert time.monotonic() - started < 10
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("catdog ")
    assert out[1].startswith("model unknown (s3://bkt/models/latest.json unreachable")
