"""tests/unit promises no I/O and seconds: nothing here may load TensorFlow, Keras or moto.

A unit test that does fails, naming what it loaded. The check sees what a test loads first, so it
bites where the unit layer runs in a process of its own: `make test-unit`, and `make test`, which
runs tests/unit before the other layers. Tests that need them belong in tests/functional.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

HEAVY = ("tensorflow", "keras", "moto")


@pytest.fixture(autouse=True)
def _no_heavy_libraries(request: pytest.FixtureRequest) -> Iterator[None]:
    already = {name for name in HEAVY if name in sys.modules}
    yield
    loaded = [name for name in HEAVY if name in sys.modules and name not in already]
    if loaded:
        pytest.fail(f"{request.node.nodeid} loaded {', '.join(loaded)}: tests/unit runs without them "
                    "(move the test to tests/functional)", pytrace=False)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Importing the unit test modules themselves must not load them either."""
    unit_only = all("tests/unit/" in item.nodeid for item in session.items)
    loaded = [name for name in HEAVY if name in sys.modules]
    if unit_only and session.items and loaded:
        raise pytest.UsageError(f"collecting tests/unit loaded {', '.join(loaded)}: a unit test module "
                                "imports them (move it to tests/functional)")
