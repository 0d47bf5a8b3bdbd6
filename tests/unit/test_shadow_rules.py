"""The rules a shadow model is held to, without I/O: where its pointer is, which candidates can
answer beside the live model, and how an answer is filed for the `shadow-index`."""

from __future__ import annotations

import pytest

from catdog.config import Settings
from catdog.manifest import Manifest
from catdog.results import shadow_agreement
from catdog.shadow import incompatibility


def _manifest(version: str, labels: list[str], size: tuple[int, int] = (224, 224)) -> Manifest:
    return Manifest(version=version, labels=labels, input_size=size, arch="t", output_activation="softmax")


@pytest.mark.parametrize(("model_key", "shadow_key"), [
    ("models/latest.json", "models/shadow.json"),
    ("models/prod/latest.json", "models/prod/shadow.json"),
    ("latest.json", "shadow.json"),
])
def test_the_shadow_pointer_lies_beside_the_live_one(model_key: str, shadow_key: str) -> None:
    """Moving MODEL_KEY moves both: `catdog models shadow` writes where the function reads."""
    assert Settings.from_env({"RESULTS_TABLE": "t", "MODEL_BUCKET": "b", "MODEL_KEY": model_key}).shadow_key \
        == shadow_key


def test_a_candidate_with_the_live_labels_in_any_order_can_answer_beside_it() -> None:
    assert incompatibility(_manifest("v1", ["cat", "dog"]), _manifest("v2", ["dog", "cat"])) is None


@pytest.mark.parametrize(("candidate", "why"), [
    (_manifest("v2", ["cat", "dog", "bird"]), "differ from the live model v1's"),
    (_manifest("v2", ["cat", "fox"]), "differ from the live model v1's"),
    (_manifest("v2", ["cat", "dog"], (160, 160)), "takes 160x160 images but the live model v1 takes 224x224"),
])
def test_a_candidate_that_could_not_be_compared_is_refused_with_the_reason(candidate: Manifest,
                                                                           why: str) -> None:
    found = incompatibility(_manifest("v1", ["cat", "dog"]), candidate)
    assert found is not None and why in found


def test_an_answer_is_filed_under_its_version_and_whether_it_agreed() -> None:
    assert shadow_agreement("20261203-mobilenetv2-ab12", True) == "20261203-mobilenetv2-ab12:agree"
    assert shadow_agreement("v2", False) == "v2:disagree"
    assert shadow_agreement("v2", True) != shadow_agreement("v2", False)
