"""The committed layer locks are what `make layer-lock` resolves today from the same inputs.

uv resolves each layer's requirements.txt (with constraints.txt) for Lambda's python3.12 on each
CPU, limited to releases uploaded before the lock's recorded `exclude-newer`, so the answer is
reproducible: a difference means the lock was edited by hand or its inputs changed without
`make layer-lock` (tests/unit/test_layer_locks.py catches the common case offline). Needs PyPI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.layers import build_layers

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
@pytest.mark.parametrize("name", ["catdog", "xray"])
def test_the_lock_is_what_uv_resolves_from_its_inputs(name: str, arch: str, tmp_path: Path) -> None:
    bl = build_layers()
    layer = bl.LAYERS[name]
    committed = layer.lock(arch)
    exclude_newer = bl.lock_header(committed)["exclude-newer"]
    fresh = bl.write_lock(layer, arch, exclude_newer, dest=tmp_path / committed.name)
    assert fresh.read_text() == committed.read_text(), (
        f"{committed} differs from a fresh resolution: run `make layer-lock` and commit the result")
