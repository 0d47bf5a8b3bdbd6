"""What `catdog local up` tells the user and the environment it sets for boto3."""

from __future__ import annotations

import json
from pathlib import Path

from catdog_local.moto_server import apply_endpoint_env, endpoint_url, export_lines
from catdog_local.state import LocalState


def test_a_wildcard_bind_is_reached_through_loopback() -> None:
    assert endpoint_url(5000) == "http://127.0.0.1:5000"
    assert endpoint_url(5001, "0.0.0.0") == "http://127.0.0.1:5001"
    assert endpoint_url(5002, "192.168.1.20") == "http://192.168.1.20:5002"


def test_export_lines_are_what_a_shell_needs() -> None:
    lines = export_lines("http://127.0.0.1:5000", "eu-west-1")
    assert lines[0] == "export AWS_ENDPOINT_URL=http://127.0.0.1:5000"
    assert "export AWS_DEFAULT_REGION=eu-west-1" in lines
    assert any(line.startswith("export AWS_ACCESS_KEY_ID=") for line in lines)


def test_endpoint_env_keeps_credentials_the_user_already_has() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_SECRET_ACCESS_KEY": "real-secret"}
    changes = apply_endpoint_env("http://127.0.0.1:5000", "us-east-1", environ=env)
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAREAL" and "AWS_ACCESS_KEY_ID" not in changes
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"


def test_endpoint_env_fills_in_dummy_credentials_when_there_are_none() -> None:
    env: dict[str, str] = {}
    apply_endpoint_env("http://127.0.0.1:5000", "us-east-1", environ=env)
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_state_round_trips_and_ignores_fields_from_newer_versions(tmp_path: Path) -> None:
    state = LocalState(name="catdog", endpoint="http://127.0.0.1:5000", region="us-east-1", bucket="b",
                       queue_url="q", queue_arn="arn", dlq_url="d", table="t", max_receive_count=5,
                       visibility_timeout=720,
                       function_environment={"RESULTS_TABLE": "t"}, batch_size=10, batching_window_s=5.0)
    path = state.save(tmp_path / "nested" / "local.json")
    data = json.loads(path.read_text())
    data["added_later"] = "ignored"
    path.write_text(json.dumps(data))
    assert LocalState.load(path) == state
