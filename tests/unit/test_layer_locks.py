"""The committed layer locks are current, complete and agree with what the tests run (no network).

`make layer` and `sam build` install exactly `layers/<layer>/lock-<arch>.txt`; these tests hold the
lock to its sources: the requirements it was resolved from (a stale lock fails the build, and here),
the top-level pins it must satisfy, and constraints.txt, which is what `.venv`, and so every test,
runs. tests/integration/test_layer_locks_resolve.py resolves them again from PyPI.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.layers import build_layers, constraints

ARCHES = ("x86_64", "arm64")


@pytest.fixture(scope="module")
def bl() -> ModuleType:
    return build_layers()


def _requirements(path: Path) -> list[Requirement]:
    lines = [x.split("#", 1)[0].strip() for x in path.read_text().splitlines()]
    return [Requirement(x) for x in lines if x]


def _every_lock(bl: ModuleType) -> list[tuple[object, str]]:
    return [(layer, arch) for layer in bl.LAYERS.values() for arch in ARCHES]


def test_every_layer_has_a_current_lock_for_each_architecture(bl: ModuleType) -> None:
    for layer, arch in _every_lock(bl):
        lock = bl.check_lock(layer, arch, "3.12")  # raises SystemExit on a missing or stale lock
        header = bl.lock_header(lock)
        assert header["platform"] == bl.uv_platform(arch)
        assert header["requirements"] == f"layers/{layer.name}/requirements.txt"


def test_each_lock_satisfies_its_requirements_and_the_project_pins(bl: ModuleType) -> None:
    """The layer gets the versions `.venv` has: the ml_dtypes 0.7.0 a floating build once shipped
    against 0.6.0 in constraints.txt is what this catches."""
    pins_run = constraints()
    for layer, arch in _every_lock(bl):
        pins = {name: version for name, (version, _) in bl.lock_entries(layer.lock(arch)).items()}
        for req in _requirements(layer.requirements):
            name = canonicalize_name(req.name)
            assert name in pins, f"{layer.lock(arch).name}: {req} is not locked"
            assert req.specifier.contains(pins[name]), f"{layer.lock(arch)}: {name}=={pins[name]} vs {req}"
        differ = {n: (v, pins_run[n]) for n, v in pins.items() if n in pins_run and pins_run[n] != v}
        assert differ == {}, f"{layer.name} {arch}: lock vs constraints.txt {differ}"


def test_every_lock_entry_is_pinned_with_hashes(bl: ModuleType) -> None:
    for layer, arch in _every_lock(bl):
        for name, (version, line) in bl.lock_entries(layer.lock(arch)).items():
            assert f"=={version}" in line and "--hash=sha256:" in line, (layer.name, arch, name)


def test_both_architectures_lock_the_same_versions(bl: ModuleType) -> None:
    for layer in bl.LAYERS.values():
        x86, arm = (bl.lock_entries(layer.lock(arch)) for arch in ARCHES)
        assert {n: v for n, (v, _) in x86.items()} == {n: v for n, (v, _) in arm.items()}, layer.name


def test_a_stale_lock_is_refused(bl: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: a lock made from `numpy==2.4.6`, then requirements.txt edited to add `pillow`."""
    monkeypatch.setattr(bl, "REPO", tmp_path)
    layer = bl.Layer("demo")
    layer.src.mkdir(parents=True)
    layer.requirements.write_text("numpy==2.4.6\n")
    digest = bl.requirements_digest(layer.requirements)
    layer.lock("arm64").write_text(f"# requirements-sha256: {digest}\n# python: 3.12\nnumpy==2.4.6 \\\n"
                                   "    --hash=sha256:00\n")
    assert bl.check_lock(layer, "arm64", "3.12") == layer.lock("arm64")
    layer.requirements.write_text("# a comment changes nothing\nnumpy==2.4.6\n")
    assert bl.check_lock(layer, "arm64", "3.12") == layer.lock("arm64")
    layer.requirements.write_text("numpy==2.4.6\npillow==13.0.0\n")
    with pytest.raises(SystemExit, match=r"stale.*make layer-lock"):
        bl.check_lock(layer, "arm64", "3.12")
    with pytest.raises(SystemExit, match=r"no lock for the demo layer on x86_64"):
        bl.check_lock(layer, "x86_64", "3.12")
    with pytest.raises(SystemExit, match=r"for Python 3\.12, not 3\.13"):
        bl.check_lock(layer, "arm64", "3.13")


def test_a_lock_line_that_is_not_an_exact_pin_is_refused(bl: ModuleType, tmp_path: Path) -> None:
    """Input: `numpy>=2` in a lock (what a hand edit might leave)."""
    lock = tmp_path / "lock.txt"
    lock.write_text("pillow==13.0.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n"
                    "    # via x\nnumpy>=2\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        bl.lock_entries(lock)
    lock.write_text("Pillow==13.0.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via x\n")
    assert bl.lock_entries(lock) == {"pillow": ("13.0.0", "Pillow==13.0.0 --hash=sha256:aa --hash=sha256:bb")}


def test_the_two_layers_install_no_distribution_twice(bl: ModuleType) -> None:
    """Lambda merges layers into one /opt/python: a package in both would be whichever came last.
    And the catdog layer carries no X-Ray SDK: that is the xray layer's, for Tracing=Active only."""
    for arch in ARCHES:
        catdog, xray = ({n for n in bl.lock_entries(bl.LAYERS[name].lock(arch))
                         if n not in bl.RUNTIME_PROVIDED_DISTS} for name in ("catdog", "xray"))
        assert catdog & xray == set(), arch
        assert "aws-xray-sdk" in xray and "aws-xray-sdk" not in catdog
