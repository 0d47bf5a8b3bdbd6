"""The rules a shadow model is held to, without I/O: where its pointer is, which candidates can
answer beside the live model, how an answer is filed for the `shadow-index`, and how a comparison
counts (catdog_cli.review.shadow)."""

from __future__ import annotations

import pytest

from catdog.config import Settings
from catdog.manifest import Manifest, image_id
from catdog.results import shadow_agreement
from catdog.shadow import incompatibility
from catdog_cli.review.shadow import gate_failures, tally


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


def _item(name: str, live: str, shadow: str, human: str | None = None, **extra: str) -> dict[str, str]:
    item = {"image": f"s3://b/{name}", "etag": "e", "status": "classified", "model_label": live,
            "model_version": "v1", "shadow_label": shadow, "shadow_version": "v2", **extra}
    if human:
        item["human_label"] = human
    return item


def test_the_same_reviewed_accuracy_is_no_drop_and_one_photo_less_is() -> None:
    """Input: two reviewed photos, each model right on one (equal: passes); then the shadow wrong on
    a third the live model got right (a drop: refused, with both figures)."""
    even = [_item("a", "cat", "dog", "cat"), _item("b", "cat", "dog", "dog")]
    assert gate_failures(tally(even, "v2"), required=2) == []
    worse = tally([*even, _item("c", "dog", "cat", "dog")], "v2")
    assert (worse.live_right, worse.shadow_right, worse.reviewed) == (2, 1, 3)
    (why,) = gate_failures(worse, required=3)
    assert "drops: 33.3% (1 of 3) against the live model's 66.7% (2 of 3)" in why


def test_what_is_not_a_shadow_answer_of_that_version_is_not_counted() -> None:
    """Input: a failed item and another version's shadow answer among the items read."""
    c = tally([_item("a", "cat", "cat"), _item("b", "cat", "dog", status="failed"),
               _item("c", "cat", "dog", shadow_version="v3")], "v2")
    assert (c.shadowed, c.agreed, dict(c.changes)) == (1, 1, {})


def test_photos_either_model_learned_are_left_out_of_both_accuracies() -> None:
    learned = {"v2": frozenset({image_id("s3://b/a", "e")}), "v1": frozenset({image_id("s3://b/b", "e")})}
    items = [_item("a", "cat", "cat", "cat"), _item("b", "dog", "dog", "dog"),
             _item("c", "cat", "dog", "dog")]
    c = tally(items, "v2", learned)
    assert (c.reviewed, c.excluded, c.live_right, c.shadow_right) == (1, 2, 0, 1)


def test_with_nothing_reviewed_the_gate_cannot_say_there_was_no_drop() -> None:
    (why,) = gate_failures(tally([_item("a", "cat", "cat")], "v2"), required=0)
    assert "none of them is reviewed" in why


def test_a_comparison_names_every_live_version_it_was_given_beside() -> None:
    """The live model changed while the candidate was shadowing: both live versions are named."""
    items = [_item("a", "cat", "cat"), _item("b", "cat", "dog"), _item("c", "dog", "dog", model_version="v0")]
    assert tally(items, "v2").live_label == "v1 (2), v0 (1)"
    assert tally(items[:2], "v2").live_label == "v1"
