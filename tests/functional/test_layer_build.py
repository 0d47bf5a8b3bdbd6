"""`make layer`'s install, strip step and size gate, on a fake site-packages (no download)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import layers
from tests.support.paths import REPO


@pytest.fixture(scope="module")
def build_layers() -> ModuleType:
    return layers.build_layers()


def _touch(path: Path, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_strip_removes_what_the_function_cannot_use_and_keeps_the_rest(build_layers: ModuleType,
                                                                        tmp_path: Path) -> None:
    site = tmp_path / "python"
    keep = [
        "ai_edge_litert/interpreter.py", "ai_edge_litert/libpywrap_litert_common.so",
        "numpy/__init__.py", "numpy/_core/_multiarray_umath.so", "PIL/Image.py",
        "catdog/pipeline.py", "pillow-13.0.0.dist-info/METADATA", "aws_lambda_powertools/__init__.py",
    ]
    drop = [
        "ai_edge_litert/libLiteRtWebGpuAccelerator.so", "ai_edge_litert/vendors/qualcomm/x.so",
        "ai_edge_litert/aot/aot_compile.py", "boto3/__init__.py", "botocore/data/s3.json",
        "boto3-1.0.dist-info/METADATA", "numpy/_core/tests/test_x.py", "numpy/__init__.pyi",
        "numpy/_core/include/numpy/ndarraytypes.h", "PIL/__pycache__/Image.cpython-312.pyc",
        "pillow-13.0.0.dist-info/RECORD",
    ]
    for rel in keep + drop:
        _touch(site / rel)

    removed = build_layers.strip(site)

    assert [rel for rel in keep if not (site / rel).exists()] == []
    assert [rel for rel in drop if (site / rel).exists()] == []
    assert removed["GPU/NPU accelerators"] > 0 and removed["provided by the Lambda runtime"] > 0


@pytest.mark.parametrize("total, ok, words", [(106.2, True, "OK"), (180.0, True, "over the 150 MB target"),
                                              (251.0, False, "LIMIT")])
def test_size_gate(build_layers: ModuleType, total: float, ok: bool, words: str) -> None:
    got_ok, got_words = build_layers.size_verdict(total)
    assert got_ok is ok and words in got_words


def test_tensorflow_in_the_layer_fails_the_build(build_layers: ModuleType, tmp_path: Path) -> None:
    _touch(tmp_path / "numpy" / "__init__.py")
    build_layers.refuse_tensorflow(tmp_path)
    _touch(tmp_path / "tensorflow" / "__init__.py")
    with pytest.raises(SystemExit, match="tensorflow"):
        build_layers.refuse_tensorflow(tmp_path)


def test_layer_requirements_hold_no_tensorflow(build_layers: ModuleType) -> None:
    for layer in build_layers.LAYERS.values():
        for arch in ("x86_64", "arm64"):
            names = list(build_layers.lock_entries(layer.lock(arch)))
            assert names, f"{layer.name}: an empty lock"
            assert not any(n.startswith(("tensorflow", "keras", "tf-keras")) for n in names), names


def test_pip_installs_exactly_the_lock_less_the_runtime_with_hashes(build_layers: ModuleType, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: a lock of pillow, boto3 and six (the last two ship with the Lambda runtime)."""
    lock = tmp_path / "lock.txt"
    lock.write_text("# python: 3.12\nboto3==1.44.8 \\\n    --hash=sha256:b0\npillow==13.0.0 \\\n"
                    "    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via -r requirements.txt\n"
                    "six==1.17.0 \\\n    --hash=sha256:cc\n")
    calls: list[tuple[list[str], str]] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> None:
        calls.append((cmd, Path(cmd[cmd.index("-r") + 1]).read_text()))

    monkeypatch.setattr(subprocess, "run", fake_run)
    build_layers.pip_install(tmp_path / "python", "arm64", "3.12", lock)
    (cmd, requirements), = calls
    assert requirements.splitlines() == ["pillow==13.0.0 --hash=sha256:aa --hash=sha256:bb"]
    assert {"--no-deps", "--require-hashes", "--only-binary=:all:"} <= set(cmd)
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert "manylinux_2_34_aarch64" in cmd and "manylinux_2_34_x86_64" not in cmd


def test_target_mode_builds_an_unzipped_tree_for_sam(build_layers: ModuleType, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`--target DIR` (SAM's ARTIFACTS_DIR): python/ with catdog and the requirements, stripped,
    no zip and no build/layers/sizes.json (SAM zips it itself)."""
    def fake_pip_install(site: Path, arch: str, python_version: str, lock: Path) -> None:
        assert lock == REPO / "layers" / "catdog" / "lock-arm64.txt"
        _touch(site / "numpy" / "__init__.py", 1000)
        _touch(site / "boto3" / "__init__.py")  # the runtime has it: stripped
        _touch(site / "ai_edge_litert" / "libLiteRtWebGpuAccelerator.so")

    monkeypatch.setattr(build_layers, "pip_install", fake_pip_install)
    monkeypatch.setattr(build_layers, "OUT", tmp_path / "out")
    artifacts = tmp_path / "artifacts"

    assert build_layers.main(["--layer", "catdog", "--arch", "arm64", "--target", str(artifacts)]) == 0

    site = artifacts / "python"
    assert (site / "catdog" / "pipeline.py").is_file() and (site / "numpy" / "__init__.py").is_file()
    assert not (site / "boto3").exists()
    assert not (site / "ai_edge_litert" / "libLiteRtWebGpuAccelerator.so").exists()
    assert not (tmp_path / "out").exists(), "target mode writes no zip and no sizes.json"


def test_target_mode_builds_one_layer_for_one_architecture(build_layers: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        build_layers.main(["--layer", "catdog", "--target", str(tmp_path)])  # --arch all: refused
    with pytest.raises(SystemExit):
        build_layers.main(["--arch", "arm64", "--target", str(tmp_path)])  # --layer all: refused
