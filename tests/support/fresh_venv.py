"""Fresh virtual environments for the tests that install the project as a user or an image would.

uv (a dev dependency) creates them and installs from its cache, so a re-run costs seconds, not the
minutes pip spends unpacking TensorFlow. The pins are `constraints.txt`, as everywhere else.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

UV = Path(sys.executable).parent / "uv"
CONSTRAINTS = REPO / "constraints.txt"


def uv(*args: str, cwd: Path | None = None, timeout: float = 900) -> str:
    if not UV.exists():
        raise RuntimeError(f"{UV} is missing: `make install` installs uv (the dev extra)")
    run = subprocess.run([str(UV), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"uv {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run.stdout


def create_venv(path: Path, python: str = f"{sys.version_info.major}.{sys.version_info.minor}") -> Path:
    """A new venv at `path` (no access to this one's packages); returns its python."""
    uv("venv", "--quiet", "--python", python, str(path))
    return path / "bin" / "python"


def install(python: Path, *requirements: str, constraints: Path = CONSTRAINTS, no_deps: bool = False) -> None:
    args = ["pip", "install", "--quiet", "--python", str(python), "--constraint", str(constraints)]
    uv(*args, *(["--no-deps"] if no_deps else []), *requirements)


def build_wheel(out_dir: Path, source: Path = REPO) -> Path:
    """`catdog-<version>-py3-none-any.whl` built from `source` (as `pip wheel .` would)."""
    uv("build", "--quiet", "--wheel", "--out-dir", str(out_dir), str(source))
    (wheel,) = out_dir.glob("catdog-*.whl")
    return wheel
