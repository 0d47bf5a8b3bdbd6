"""The packages depend one way: catdog_cli -> training_job, catdog_local -> catdog, and never back.

`training_job` once registered its own `catdog` subcommands and imported `catdog_cli` while
`catdog_cli` imported it: a cycle that made the trainer's container carry the whole command line.
Read from the source (every `import`, at any depth, `TYPE_CHECKING` blocks included), so that a
lazy import inside a function cannot hide an arrow either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO

PACKAGES = {
    "catdog": REPO / "layers" / "catdog" / "catdog",
    "training_job": REPO / "training_job",
    "catdog_local": REPO / "catdog_local",
    "catdog_cli": REPO / "catdog_cli",
}
#: What each package may never import (what sits above it).
FORBIDDEN = {
    "catdog": {"training_job", "catdog_local", "catdog_cli"},
    "training_job": {"catdog_local", "catdog_cli"},
    "catdog_local": {"training_job", "catdog_cli"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level names every import statement of a file names (relative imports excluded)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_never_imports_the_ones_above_it(package: str) -> None:
    files = sorted(PACKAGES[package].rglob("*.py"))
    assert len(files) >= 3, f"scanned only {len(files)} files of {package}: is the path still right?"
    upward = {f"{path.relative_to(REPO)} imports {name}" for path in files
              for name in imported_packages(path) & FORBIDDEN[package]}
    assert not upward, sorted(upward)


def test_the_scan_sees_an_upward_import(tmp_path: Path) -> None:
    """Guards the scan above: an import inside a function is found, and so is `import a.b`."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from catdog_cli.targets import connect\n    import catdog_local.state\n")
    assert imported_packages(source) == {"catdog_cli", "catdog_local"}


def test_the_training_container_runs_without_the_command_line() -> None:
    """`python -m training_job` (the Dockerfile's ENTRYPOINT) is a module of training_job itself."""
    main = REPO / "training_job" / "__main__.py"
    assert main.is_file() and "catdog_cli" not in imported_packages(main)
