"""Every subcommand has --help, and user mistakes come back as one line, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catdog_cli.main import build_parser, main

SUBCOMMANDS = [
    ["train"], ["evaluate"], ["predict"], ["publish"], ["local"], ["local", "up"], ["local", "worker"],
    ["local", "env"], ["local", "down"],
    ["upload"], ["invoke"], ["results"], ["backfill"], ["demo"],
    ["event"], ["event", "s3-put"], ["event", "sqs"], ["event", "remove"],
]


@pytest.fixture(autouse=True)
def _no_local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No local stack, no names in the environment: every name must come from flags."""
    monkeypatch.setenv("CATDOG_STATE_DIR", str(tmp_path / "stacks"))
    for var in ("CATDOG_BUCKET", "CATDOG_TABLE", "CATDOG_QUEUE_URL", "CATDOG_DEBUG", "CATDOG_STACK"):
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
    assert f"{bad}: not valid JSON" in err


def test_worker_without_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_error(["local", "worker", "--once"], capsys)
    assert "catdog local up" in err


def test_name_precedence_flag_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from catdog_cli.targets import resolve_name

    monkeypatch.setenv("CATDOG_TABLE", "from-env")
    assert resolve_name("from-flag", "CATDOG_TABLE", "table", "table").name == "from-flag"
    assert resolve_name(None, "CATDOG_TABLE", "table", "table").name == "from-env"


def _state(endpoint: str = "http://127.0.0.1:5999", name: str = "catdog", pid: int | None = None) -> object:
    """A running stack's state (this test process stands in for its server: it is alive)."""
    from catdog_local.state import LocalState

    return LocalState(name=name, endpoint=endpoint, region="eu-west-1", bucket=f"bkt-{name}",
                      queue_url=f"http://q/{name}", queue_arn="arn", dlq_url=f"http://dlq/{name}",
                      table=f"tbl-{name}", max_receive_count=5, visibility_timeout=120,
                      pid=os.getpid() if pid is None else pid)


def test_state_file_names_and_endpoint_are_used_when_nothing_else_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from catdog_cli.targets import resolve_name

    _state().save()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://somewhere-else:1234")
    target = resolve_name(None, "CATDOG_BUCKET", "bucket", "bucket")
    assert target.name == "bkt-catdog"
    # names from the local stack always go with its endpoint: a local upload never reaches elsewhere
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5999"
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_a_name_that_belongs_to_no_local_stack_goes_to_aws_as_configured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from catdog_cli.targets import resolve_name

    _state().save()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1234")
    target = resolve_name("prod-results", "CATDOG_TABLE", "table", "table")
    assert (target.name, target.state) == ("prod-results", None)
    assert os.environ["AWS_ENDPOINT_URL"] == "http://elsewhere:1234"


def test_a_name_of_a_running_stack_means_that_stack_whatever_is_exported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`catdog publish build/model s3://<local bucket>/models/` right after `local up`: no exports needed."""
    from catdog_cli.targets import connect_for_uri, resolve_name

    _state("http://127.0.0.1:5001", "a").save()
    _state("http://127.0.0.1:5002", "b").save()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert resolve_name("tbl-b", "CATDOG_TABLE", "table", "table").state.name == "b"  # type: ignore[union-attr]
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5002"
    connect_for_uri("s3://bkt-a/models/")
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5001"


def test_with_several_stacks_running_a_command_asks_which(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from catdog_cli.targets import resolve_name

    _state("http://127.0.0.1:5001", "a").save()
    _state("http://127.0.0.1:5002", "b").save()
    err = _one_line_error(["results"], capsys)
    assert "several local stacks are running (a, b)" in err and "--stack NAME" in err
    assert resolve_name(None, "CATDOG_TABLE", "table", "table", stack="b").name == "tbl-b"
    monkeypatch.setenv("CATDOG_STACK", "a")
    assert resolve_name(None, "CATDOG_TABLE", "table", "table").name == "tbl-a"
    _state("http://127.0.0.1:5000", "catdog").save()
    monkeypatch.delenv("CATDOG_STACK")
    assert resolve_name(None, "CATDOG_TABLE", "table", "table").name == "tbl-catdog"  # the default name


def test_a_stack_asked_for_by_name_must_be_running(capsys: pytest.CaptureFixture[str]) -> None:
    _state("http://127.0.0.1:5001", "a").save()
    code = main(["results", "--stack", "nope"])
    err = capsys.readouterr().err
    assert code == 3 and "no local stack named 'nope' is running (running: a)" in err


def test_the_state_of_a_stack_whose_process_died_is_ignored_and_removed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from catdog_local.state import state_file

    _state(pid=2**22 + 12345).save()  # no such process
    err = _one_line_error(["results"], capsys)
    assert "no local stack is running" in err
    assert not state_file("catdog").exists()


@pytest.mark.parametrize("content", ["{half", "[]", '"a string"'], ids=["not JSON", "a list", "a string"])
def test_a_corrupt_state_file_is_skipped_not_a_crash(content: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "catdog.json").write_text(content)
    err = _one_line_error(["results"], capsys)
    assert "no local stack is running" in err and "catdog local up" in err


def test_local_up_refuses_a_name_that_is_already_running(capsys: pytest.CaptureFixture[str]) -> None:
    _state("http://127.0.0.1:5123").save()
    code = main(["local", "up", "--port", "0"])
    err = capsys.readouterr().err
    assert code == 3 and "stack 'catdog' is already running on http://127.0.0.1:5123" in err


def test_local_env_prints_exports_for_the_running_stack(capsys: pytest.CaptureFixture[str]) -> None:
    _state("http://127.0.0.1:5123").save()
    assert main(["local", "env"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:5123" in lines
    assert "export CATDOG_BUCKET=bkt-catdog" in lines and "export CATDOG_TABLE=tbl-catdog" in lines
    assert all(line.startswith("export ") for line in lines)  # safe to eval, easy to parse
    # AWS CLI v1 ignores AWS_ENDPOINT_URL for `aws sqs`: the person reads what works instead
    assert '--endpoint-url "$AWS_ENDPOINT_URL"' in out.err


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

    _state(f"http://127.0.0.1:{free_port()}").save()  # a stack whose server does not answer
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert time.monotonic() - started < 10
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("catdog ")
    assert out[1].startswith("model unknown (s3://bkt-catdog/models/latest.json unreachable")
