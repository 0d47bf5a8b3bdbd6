"""Run what `sam build` made under Python 3.12, as Lambda would: for the tests and the benchmark.

A `sam build` output is a function dir (`app.py`) and a dir per layer (`python/...`); Lambda adds
its runtime (Python 3.12 with boto3 and its dependencies) and the function's environment. Here a
local Python 3.12 (pyenv's, usually) runs `tests/support/lambda_bootstrap.py` isolated (`-I -S -B`, no
site-packages, a clean environment), with only those dirs on its path, and a dir holding the
boto3 set that `constraints.txt` pins standing in for the runtime's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.layers import build_layers, constraints

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
#: Points at a Python 3.12 when none of the usual places has one.
PYTHON312_ENV = "CATDOG_PYTHON312"


def _version(python: str) -> str | None:
    try:
        out = subprocess.run([python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def python312_candidates() -> list[str]:
    """Where a Python 3.12 may be: $CATDOG_PYTHON312, the PATH, pyenv's versions, the usual prefixes."""
    found: list[str] = []
    if os.environ.get(PYTHON312_ENV):
        found.append(os.environ[PYTHON312_ENV])
    if on_path := shutil.which("python3.12"):
        found.append(on_path)  # may be a pyenv shim that refuses until 3.12 is selected: checked below
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    if pyenv := shutil.which("pyenv"):
        out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
        roots.insert(0, out.stdout.strip())
    for root in filter(None, roots):
        found += [str(p) for p in sorted(Path(root, "versions").glob("3.12*/bin/python3.12"), reverse=True)]
    found += ["/usr/bin/python3.12", "/usr/local/bin/python3.12", "/opt/homebrew/bin/python3.12"]
    return list(dict.fromkeys(found))


def find_python312() -> str | None:
    return next((p for p in python312_candidates() if _version(p) == "3.12"), None)


def require_python312() -> str:
    """A Python 3.12, or a failure in CI (CI=true, as .ci/run sets it) and a skip elsewhere, naming
    where it looked: Lambda runs 3.12, so its artifact is never tested on another version."""
    python = find_python312()
    if python is not None:
        return python
    why = (f"no Python 3.12 found (looked at {', '.join(python312_candidates())}); "
           f"install one (pyenv install 3.12) or set {PYTHON312_ENV}")
    if os.environ.get("CI"):
        pytest.fail(f"the Lambda artifact must run under Python 3.12 in CI: {why}")
    pytest.skip(why)


def runtime_stand_in(dest: Path, python312: str | None = None) -> Path:
    """boto3 and its dependencies at constraints.txt's versions: what Lambda's runtime provides and
    the layers leave out (layers/build_layers.py RUNTIME_PROVIDED_DISTS). Pure Python, any CPU.
    Given `python312`, compiled to its bytecode, as the runtime's own copy is (the function's code
    and layers are not: /var/task and /opt are read-only, so they compile at every cold start)."""
    pins = constraints()
    wanted = [f"{name}=={pins[name]}" for name in sorted(build_layers().RUNTIME_PROVIDED_DISTS)]
    if not (dest / "boto3").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--target", str(dest), "--only-binary=:all:", *wanted], check=True,
                       timeout=600)
    if python312 is not None:
        subprocess.run([python312, "-I", "-m", "compileall", "-q", str(dest)], check=True, timeout=600)
    return dest


#: What every Lambda python3.12 execution environment has, before the function's own variables.
LAMBDA_BASE_ENV = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12", "LANG": "en_US.UTF-8", "TZ": ":UTC",
    "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64",
}


@dataclass
class ArtifactRun:
    """What the bootstrap reported, and the process's own output (the function's logs and EMF)."""

    result: dict[str, Any]
    stdout: str
    stderr: str
    wall_s: float

    @property
    def responses(self) -> list[Any]:
        assert "error" not in self.result, self.result["error"] + self.stderr[-3000:]
        return list(self.result["responses"])


def run_artifact(python: str, function_dir: Path, layer_dirs: list[Path], runtime: Path,
                 environment: dict[str, str], events: list[Any], *, handler: str = "app.handler",
                 timeout_s: float = 60, memory_mb: int = 1024, extra_paths: tuple[Path, ...] = ()
                 ) -> ArtifactRun:
    """Run `handler` from `function_dir` + `layer_dirs` on `events` under `python` (3.12), isolated,
    with `environment` (plus Lambda's base variables and LAMBDA_TASK_ROOT) as its only environment."""
    with tempfile.TemporaryDirectory(prefix="lambda-run-") as tmp:
        spec = {"task_root": str(function_dir), "layers": [str(d) for d in layer_dirs],
                "runtime": str(runtime), "handler": handler, "events": events, "timeout_s": timeout_s,
                "memory_mb": memory_mb, "out": str(Path(tmp) / "result.json"),
                "paths": [str(p) for p in extra_paths]}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        # The container's /tmp is its own: the model cache (default /tmp/catdog-models) goes in a
        # fresh dir, so every run is a cold start that downloads the model, as on Lambda.
        env = {**LAMBDA_BASE_ENV, "LAMBDA_TASK_ROOT": str(function_dir), "LAMBDA_RUNTIME_DIR": str(runtime),
               "HOME": tmp, "MODEL_CACHE_DIR": str(Path(tmp) / "tmp" / "catdog-models"), **environment}
        started = time.perf_counter()
        # -B: /var/task and /opt are read-only on Lambda, so no __pycache__ is written next to the code
        proc = subprocess.run([python, "-I", "-S", "-B", str(BOOTSTRAP), str(Path(tmp) / "spec.json")],
                              env=env, cwd=tmp, capture_output=True, text=True,
                              timeout=timeout_s * (len(events) + 2))
        wall = time.perf_counter() - started
        out = Path(spec["out"])
        assert out.exists(), f"the bootstrap died (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        return ArtifactRun(json.loads(out.read_text()), proc.stdout, proc.stderr, wall)
