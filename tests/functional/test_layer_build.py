"""`make layer`'s strip step and size gate, on a fake site-packages (no download)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.paths import REPO


@pytest.fixture(scope="module")
def build_layers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_layers", REPO / "layers" / "build_layers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_layers"] = module
    spec.loader.exec_module(module)
    return module


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


def test_layer_requirements_match_the_pins(build_layers: ModuleType) -> None:
    """The layer installs exactly the constraints.txt versions the tests ran against."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    reqs = [x for x in (REPO / "layers" / "catdog" / "requirements.txt").read_text().splitlines()
            if x and not x.startswith("#")]
    assert reqs, "the layer has requirements"
    for req in reqs:
        name, version = req.split("==")
        assert pins[name.split("[")[0].lower().replace("_", "-")] == version, req
    assert not any(r.lower().startswith(("tensorflow", "keras")) for r in reqs)


def test_target_mode_builds_an_unzipped_tree_for_sam(build_layers: ModuleType, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`--target DIR` (SAM's ARTIFACTS_DIR): python/ with catdog and the requirements, stripped,
    no zip and no build/layers/sizes.json (SAM zips it itself)."""
    def fake_pip_install(site: Path, arch: str, python_version: str, requirements: Path) -> None:
        _touch(site / "numpy" / "__init__.py", 1000)
        _touch(site / "boto3" / "__init__.py")  # the runtime has it: stripped
        _touch(site / "ai_edge_litert" / "libLiteRtWebGpuAccelerator.so")

    monkeypatch.setattr(build_layers, "pip_install", fake_pip_install)
    monkeypatch.setattr(build_layers, "OUT", tmp_path / "out")
    artifacts = tmp_path / "artifacts"

    assert build_layers.main(["--arch", "arm64", "--target", str(artifacts)]) == 0

    site = artifacts / "python"
    assert (site / "catdog" / "pipeline.py").is_file() and (site / "numpy" / "__init__.py").is_file()
    assert not (site / "boto3").exists()
    assert not (site / "ai_edge_litert" / "libLiteRtWebGpuAccelerator.so").exists()
    assert not (tmp_path / "out").exists(), "target mode writes no zip and no sizes.json"


def test_target_mode_builds_one_architecture(build_layers: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        build_layers.main(["--target", str(tmp_path)])  # --arch all with one target dir: refused
