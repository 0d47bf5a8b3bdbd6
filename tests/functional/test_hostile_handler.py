"""The hostile corpus through the real path: put_object → S3 notification → SQS → worker → handler
→ results table (moto in-process, resources from template.yaml).

Each upload must end as exactly one item with the promised status and reason, with no message
retried or dead-lettered: a bad image is the image's fault, and retrying it cannot help.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hostile_corpus import CLASSIFIED, FAILED, build_corpus
from tests.support.measure import measure
from tests.support.model_factory import build_tiny_model_dir
from tests.support.pipeline import moto_pipeline

CASES = build_corpus()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("model"), version="hostile-v1")


def test_every_hostile_upload_becomes_one_item_with_its_verdict_and_nothing_is_retried(
    tmp_path: Path, tiny_model: Path
) -> None:
    with moto_pipeline(tmp_path / "cache") as p:
        p.publish(tiny_model)
        for case in CASES:
            p.put(case.key, case.data, **case.put_args)
        run = measure(p.drain)
        assert run.error is None, run.error
        stats = run.result
        items = p.items()

        assert set(items) == {p.uri(c.key) for c in CASES}, "one item per upload, keys decoded exactly"
        wrong = []
        for case in CASES:
            item = items[p.uri(case.key)]
            got = (item["status"], item.get("reason"))
            if not case.accepts(*got):
                wrong.append(f"{case.name}: want {(case.expect, case.reason)}, got {got} {item.get('error')}")
            elif item["status"] == FAILED:
                assert item["error"] and "label" not in item, case.name
            else:
                assert item["label"] in ("cat", "dog") and item["model_version"] == "hostile-v1", case.name
                if case.shown_size:
                    assert (item["width"], item["height"]) == case.shown_size, case.name
        assert wrong == []
        assert stats.failed == 0 and stats.handler_errors == 0, f"bad input must never be retried: {stats}"
        assert p.queue_depth() == 0 and p.queue_depth(p.stack.dlq_url) == 0
    # The whole corpus, CPU and memory bombs included, in bounded time; the handler's own process
    # never holds a decoded image (the decoder process does, within its budget).
    assert run.seconds < 120, f"{run.seconds:.1f} s"
    assert run.peak_mb < 200, f"{run.peak_mb:.0f} MB"


def test_the_corpus_has_both_outcomes_in_numbers() -> None:
    """Guards the test above against a corpus edit that leaves one side empty."""
    assert sum(c.expect == CLASSIFIED for c in CASES) >= 10
    assert sum(c.expect == FAILED for c in CASES) >= 10
