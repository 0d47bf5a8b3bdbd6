"""`sam build` as a user runs it (aws-sam-cli from .venv-sam, no Docker, no local python3.12), for
both values of the template's Architecture: the layer comes out of layers/build_layers.py for the
right CPU, stripped and under the size gate, and the function is the handler file alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.layers import build_layers, installed, unmet_requirements
from tests.support.paths import REPO

pytestmark = pytest.mark.slow

SAM = REPO / ".venv-sam" / "bin" / "sam"
#: e_machine in an ELF header: what CPU a shared library was compiled for.
ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def _tree_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_sam_build_makes_the_stripped_layer_for_the_architecture(arch: str, tmp_path: Path) -> None:
    if not SAM.exists():
        pytest.fail(f"{SAM} is missing: `make install` creates .venv-sam/")
    build_dir = tmp_path / "build"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON": sys.executable}
    run = subprocess.run([str(SAM), "build", "--template", str(REPO / "template.yaml"), "--build-dir",
                          str(build_dir), "--parameter-overrides", f"Architecture={arch}"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    site = build_dir / "CatdogLayer" / "python"
    assert (site / "catdog" / "batch_processor.py").is_file()
    assert (site / "ai_edge_litert").is_dir() and (site / "PIL").is_dir()
    (numpy_core,) = (site / "numpy" / "_core").glob("_multiarray_umath.*.so")
    assert _elf_machine(numpy_core) == ELF_MACHINE[arch]
    assert not (site / "boto3").exists(), "build_layers.py's strip step ran"
    # every distribution in the layer is the locked one, and the lock is the whole layer
    bl = build_layers()
    lock = bl.lock_entries(REPO / "layers" / "catdog" / f"lock-{arch}.txt")
    assert installed(site) == {n: v for n, (v, _) in lock.items() if n not in bl.RUNTIME_PROVIDED_DISTS}
    # and it is complete: what each distribution requires on Lambda is in the layer or the runtime
    assert unmet_requirements(site, arch, set(bl.RUNTIME_PROVIDED_DISTS)) == []
    assert not any(site.glob("tensorflow*"))
    assert _tree_mb(site) < 150, "the project's size target (Lambda's limit is 250 MB)"
    function = build_dir / "ClassifyFunction"
    assert sorted(p.name for p in function.iterdir() if p.name != "__pycache__") == ["app.py"]
    built = (build_dir / "template.yaml").read_text()
    assert f"ContextPath: layers/sam/{arch}" in built
