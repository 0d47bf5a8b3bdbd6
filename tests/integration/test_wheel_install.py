"""The package as a user gets it: a wheel installed into a fresh venv, run from outside the repository.

Only an editable install used to work (the CLI found template.yaml and the handler through the
source tree). Here nothing of the checkout is on the path: `catdog local up` must provision from the
template inside the wheel, `catdog invoke` must load the handler inside the wheel, and the sample
events must be found by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from catdog_local.state import LocalState
from tests.support.fresh_venv import build_wheel, create_venv, install
from tests.support.images import jpeg_bytes
from tests.support.paths import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = create_venv(tmp_path_factory.mktemp("venv") / "v")
    install(python, f"{wheel}[local]")
    return python.parent


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A shell far from the checkout: no AWS settings, no PYTHONPATH, its own state file."""
    dropped = ("AWS_", "CATDOG_", "PYTHON", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["CATDOG_STATE_DIR"] = str(tmp_path_factory.mktemp("stacks"))
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elsewhere")  # the working directory: not the repository


@pytest.fixture(scope="module")
def stack(venv: Path, user_env: dict[str, str], elsewhere: Path) -> Iterator[LocalState]:
    state_file = Path(user_env["CATDOG_STATE_DIR"]) / "catdog.json"
    proc = subprocess.Popen([str(venv / "catdog"), "local", "up", "--port", "0"], cwd=elsewhere, env=user_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            output = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"catdog local up from the wheel did not start: {output}")
        time.sleep(0.2)
    yield LocalState.load(state_file)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out


def _catdog(venv: Path, env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "catdog"), *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=180)


def test_the_wheel_carries_the_template_the_handler_and_the_events(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = "catdog_local/_bundled/"
    assert {f"{bundled}template.yaml", f"{bundled}app.py", f"{bundled}events/s3-put.json",
            f"{bundled}events/sqs-s3.json", f"{bundled}events/env.json"} <= names
    shipped = zipfile.ZipFile(wheel).read(f"{bundled}template.yaml")
    assert shipped == (REPO / "template.yaml").read_bytes(), "a copy of the file, not a dangling link"


def test_installed_package_reads_its_own_copies(venv: Path, user_env: dict[str, str],
                                                elsewhere: Path) -> None:
    code = ("import catdog_local.resources as r; "
            "print(r.IN_CHECKOUT, r.TEMPLATE.is_file(), r.HANDLER_FILE.is_file(), r.TEMPLATE)")
    run = subprocess.run([str(venv / "python"), "-c", code], cwd=elsewhere, env=user_env, capture_output=True,
                         text=True, timeout=60)
    in_checkout, template_ok, handler_ok, template = run.stdout.split()
    assert (in_checkout, template_ok, handler_ok) == ("False", "True", "True"), run.stderr
    assert template.startswith(str(venv.parent)), template


def test_local_up_event_and_invoke_work_from_the_wheel(stack: LocalState, venv: Path,
                                                        user_env: dict[str, str], elsewhere: Path,
                                                        tmp_path: Path) -> None:
    from tests.support.model_factory import build_tiny_model_dir

    model = build_tiny_model_dir(tmp_path / "model")  # built here (TensorFlow); published by the wheel's CLI
    exports = _catdog(venv, user_env, elsewhere, "local", "env").stdout  # eval "$(catdog local env)"
    shell = {**user_env, **dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines())}
    published = _catdog(venv, shell, elsewhere, "publish", str(model), f"s3://{shell['CATDOG_BUCKET']}/models/",
                        "--min-accuracy", "0")
    assert published.returncode == 0, published.stderr
    photo = elsewhere / "red cat.jpg"
    photo.write_bytes(jpeg_bytes(color=(230, 10, 10)))
    assert _catdog(venv, user_env, elsewhere, "upload", str(photo), "--quiet").returncode == 0

    event = _catdog(venv, user_env, elsewhere, "event", "s3-put", "uploads/red cat.jpg")
    assert event.returncode == 0, event.stderr
    run = _catdog(venv, user_env, elsewhere, "invoke", "-e", "-", stdin=event.stdout)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"model_version": "test-v1", "classified": 1}

    sample = _catdog(venv, user_env, elsewhere, "invoke", "-e", "events/s3-put.json")  # the shipped sample
    assert sample.returncode == 0, sample.stderr
    assert json.loads(sample.stdout) == {"model_version": "test-v1", "gone": 1}  # its key was never uploaded

    version = _catdog(venv, user_env, elsewhere, "--version")
    assert version.stdout.splitlines() == ["catdog 0.1.0",
                                           f"model test-v1 (s3://{stack.bucket}/models/latest.json)"]
