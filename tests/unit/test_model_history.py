"""Rollback is the live pointer's predecessor in the history, replayed like a stack."""

from __future__ import annotations

import pytest

from catdog.errors import CatdogError, ManifestError
from catdog.manifest import ModelPointer
from catdog.model_history import PointerChange, live_stack, rollback_target


def _pointer(version: str) -> ModelPointer:
    return ModelPointer.for_version("models/", version, accuracy=0.9, model_sha256="a" * 64)


def _history(*steps: str) -> list[PointerChange]:
    """`"publish v1"`, `"rollback v1"`...: one change per step, in order."""
    changes = []
    for i, step in enumerate(steps):
        action, version = step.split()
        changes.append(PointerChange(at=f"2026-01-01T00:00:{i:02d}.000000Z", action=action,
                                     pointer=_pointer(version)))
    return changes


def test_a_rollback_returns_to_the_version_live_before() -> None:
    assert rollback_target(_history("publish v1", "publish v2"), _pointer("v2")).version == "v1"


def test_rolling_back_twice_goes_back_twice_not_back_and_forth() -> None:
    history = _history("publish v1", "publish v2", "publish v3", "rollback v2")
    assert [p.version for p in live_stack(history)] == ["v1", "v2"]
    assert rollback_target(history, _pointer("v2")).version == "v1"


def test_a_promote_is_a_change_like_a_publish() -> None:
    history = _history("publish v1", "publish v2", "promote v1")
    assert rollback_target(history, _pointer("v1")).version == "v2"


def test_the_restored_pointer_is_the_one_recorded_byte_for_byte() -> None:
    history = _history("publish v1", "publish v2")
    assert rollback_target(history, _pointer("v2")) == history[0].pointer


def test_a_live_version_set_outside_catdog_rolls_back_to_the_last_one_recorded() -> None:
    assert rollback_target(_history("publish v1", "publish v2"), _pointer("hand-made")).version == "v2"


@pytest.mark.parametrize(("steps", "live"), [((), "v1"), (("publish v1",), "v1")])
def test_with_nothing_before_the_live_version_rollback_says_how_to_recover(steps: tuple[str, ...],
                                                                            live: str) -> None:
    with pytest.raises(CatdogError, match="catdog models promote VERSION"):
        rollback_target(_history(*steps), _pointer(live))


def test_nothing_live_is_nothing_to_roll_back() -> None:
    with pytest.raises(CatdogError, match="no model is live"):
        rollback_target(_history("publish v1"), None)


def test_a_change_round_trips_and_garbage_is_refused() -> None:
    change = _history("publish v1")[0]
    again = PointerChange.from_json(change.to_json(), where="k")
    assert (again.at, again.action, again.pointer) == (change.at, change.action, change.pointer)
    with pytest.raises(ManifestError):
        PointerChange.from_json(b'{"action": "delete-everything", "at": "x", "pointer": {}}', where="k")
