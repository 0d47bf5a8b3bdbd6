"""One exit-code policy for every command, and the docs' table says exactly that."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from catdog_cli import exit_codes
from catdog_cli.main import main
from catdog_local.state import StackError
from tests.support.paths import REPO
from training_job.publish import QualityGateError


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATDOG_STATE_DIR", str(tmp_path / "stacks"))
    for var in ("CATDOG_BUCKET", "CATDOG_TABLE", "CATDOG_QUEUE_URL", "CATDOG_STACK", "CATDOG_DEBUG"):
        monkeypatch.delenv(var, raising=False)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "msg", "BucketName": "bkt"}}, "HeadBucket")


@pytest.mark.parametrize(("exc", "code"), [
    (StackError("no local stack is running"), 3),
    (NoCredentialsError(), 3),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), 3),
    (_client_error("NoSuchBucket"), 3),
    (_client_error("AccessDenied"), 3),
    (_client_error("ResourceNotFoundException"), 3),
    (_client_error("InternalError"), 70),
    (QualityGateError("validation accuracy 0.6 is below 0.9"), 4),
    (ValueError("bad --since"), 2),
    (FileNotFoundError("no such file"), 2),
    (KeyboardInterrupt(), 130),
    (RuntimeError("boom"), 70),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_every_way_a_command_can_end_has_its_code(exc: BaseException, code: int) -> None:
    assert exit_codes.classify(exc)[0] == code


@pytest.mark.parametrize(("raised", "code", "words"), [
    (StackError("no local stack is running"), 3, "no local stack is running"),
    (QualityGateError("below the bar"), 4, "below the bar"),
    (RuntimeError("boom"), 70, "a bug? run again with --debug"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_main_prints_one_line_and_returns_the_code(raised: BaseException, code: int, words: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import catdog_cli.commands.results as commands

    def fail(_: object) -> int:
        raise raised

    monkeypatch.setattr(commands, "cmd_results", fail)
    assert main(["results", "--table", "t"]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_a_command_without_a_stack_or_names_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results"]) == 3
    assert main(["upload", __file__]) == 3
    assert main(["local", "env"]) == 3
    assert "catdog local up" in capsys.readouterr().err


def test_usage_errors_are_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["results", "--limit", "0"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["results", "--limit", "-1"])
    assert info.value.code == 2
    assert main(["upload", "/no/such/file.jpg", "--bucket", "b"]) == 2


def test_the_docs_table_is_the_policy() -> None:
    table = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## Errors and exit codes", 1)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    in_code = {v for k, v in vars(exit_codes).items() if k.isupper() and isinstance(v, int)}
    assert documented == in_code
    assert in_code == {0, 1, 2, 3, 4, 70, 130}
