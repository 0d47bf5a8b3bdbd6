"""The layer builder as a module, and what a built layer holds: shared by the lock and build tests."""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import REPO

#: `platform_machine` of each template Architecture, for evaluating requirement markers.
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}


@cache
def build_layers() -> ModuleType:
    """layers/build_layers.py (a script, not a package) imported once under its own name."""
    spec = importlib.util.spec_from_file_location("build_layers", REPO / "layers" / "build_layers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_layers"] = module
    spec.loader.exec_module(module)
    return module


def constraints() -> dict[str, str]:
    """{canonical name: version} of constraints.txt: what `.venv`, and so every test, runs."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def installed(site: Path) -> dict[str, str]:
    """{canonical name: version} of every distribution in a layer's `python/` dir (its dist-info)."""
    found = {}
    for info in site.glob("*.dist-info"):
        meta = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        name = re.search(r"^Name: (.+)$", meta, flags=re.M)
        version = re.search(r"^Version: (.+)$", meta, flags=re.M)
        assert name and version, f"{info}: METADATA without Name/Version"
        found[canonicalize_name(name[1].strip())] = version[1].strip()
    return found


def lambda_environment(arch: str) -> dict[str, str]:
    """PEP 508 marker values of Lambda's python3.12 on `arch` (Amazon Linux 2023)."""
    env = dict(default_environment())
    env.update(python_version="3.12", python_full_version="3.12.0", implementation_name="cpython",
               platform_python_implementation="CPython", sys_platform="linux", os_name="posix",
               platform_system="Linux", platform_machine=MACHINE[arch])
    return env


def unmet_requirements(site: Path, arch: str, provided: set[str]) -> list[str]:
    """Every `Requires-Dist` of the layer's distributions, for Lambda on `arch`, that neither the
    layer nor `provided` (the Lambda runtime's own packages) satisfies: what would fail at import."""
    have = installed(site)
    env = lambda_environment(arch)
    unmet = []
    for info in site.glob("*.dist-info"):
        meta = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        for line in re.findall(r"^Requires-Dist: (.+)$", meta, flags=re.M):
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            name = canonicalize_name(req.name)
            if name in provided:
                continue
            if name not in have or not req.specifier.contains(have[name], prereleases=True):
                unmet.append(f"{info.name} needs {line} (layer has {have.get(name, 'nothing')})")
    return unmet
