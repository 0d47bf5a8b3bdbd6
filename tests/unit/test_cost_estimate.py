"""benchmarks/cost_estimate.py: the tiers, the CPU scaling, and that docs' figures are its output."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks import cost_estimate as cost
from catdog.results import SHADOW_FIELDS
from training_job.models import DEFAULT_ARCH


def test_tiered_prices_fill_each_tier_in_turn() -> None:
    assert cost.tiered(1_000_000, cost.REKOGNITION_TIERS) == pytest.approx(1000.0)
    assert cost.tiered(1_500_000, cost.REKOGNITION_TIERS) == pytest.approx(1000.0 + 500_000 * 0.0008)
    assert cost.tiered(1_000, cost.GOOGLE_VISION_LABEL_TIERS) == 0.0  # the free units
    assert cost.tiered(2_000, cost.GOOGLE_VISION_LABEL_TIERS) == pytest.approx(1.5)


def test_compute_time_scales_with_the_lambda_vcpu_share() -> None:
    compute, io, total = cost.invocation_ms(43.4, cost.MB_PER_VCPU, 10)  # one full vCPU
    assert compute == pytest.approx(43.4 * cost.BENCH_CORES)
    compute_half, _, _ = cost.invocation_ms(43.4, cost.MB_PER_VCPU // 2, 10)
    assert compute_half == pytest.approx(2 * compute, rel=1e-3)
    assert total == compute + io and io == 10 * sum(cost.IO_MS_PER_IMAGE.values())


def test_arm64_costs_less_than_x86_64_and_both_far_less_than_a_label_api() -> None:
    e = cost.estimate()
    assert e.memory_mb == 1024 and e.batch == 10  # the template's defaults
    assert e.total("arm64") < e.total("x86_64") < e.rekognition / 10


def test_the_saved_table_is_what_the_script_prints() -> None:
    """benchmarks/results/cost.md (quoted by docs/cost.md) must be regenerated when an input changes."""
    assert (cost.RESULTS / "cost.md").read_text() == cost.report()


def test_every_dense_index_of_the_template_is_priced_and_the_sparse_one_is_not() -> None:
    assert cost.dense_indexes() == ["label-index", "status-index", "model-index"]
    e = cost.estimate()
    writes = next(line for line in e.shared if line.item == "DynamoDB writes")
    assert writes.usd == pytest.approx(4 * e.images * cost.DDB_WRITE_UNIT)  # the table + 3 GSIs


def test_item_sizes_follow_dynamodbs_rules() -> None:
    """Names count, strings by UTF-8 bytes, numbers by significant digits (/2, rounded up, + 1)."""
    assert cost.attribute_bytes("label", "dog") == 5 + 3
    assert cost.attribute_bytes("l", "chat noir é") == 1 + 12
    assert cost.attribute_bytes("n", Decimal("0.912345")) == 1 + 4  # 6 digits
    assert cost.attribute_bytes("n", 1000) == 1 + 2  # trailing zeros are not stored
    assert cost.attribute_bytes("m", {"a": 1, "b": None}) == 1 + 3 + (1 + 2 + 1) + (1 + 1 + 1)


def test_what_a_shadow_answer_adds_is_priced_from_the_fields_the_function_writes() -> None:
    assert tuple(cost.shadow_fields()) == SHADOW_FIELDS  # the same four, nothing left out
    assert f"-{DEFAULT_ARCH.replace('_', '')}-" in cost.TYPICAL_VERSION  # versions as the default is named
    e = cost.shadow_estimate()
    assert e.item_bytes == sum(cost.attribute_bytes(k, v) for k, v in cost.shadow_fields().items())
    assert 100 < e.item_bytes < 200 and cost.ITEM_BYTES + e.item_bytes <= 1024
    writes = next(line for line in e.shared if line.item.startswith("DynamoDB writes"))
    # its own UpdateItem: the table, 3 dense GSIs (projection ALL: they copy every change), shadow-index
    assert writes.usd == pytest.approx(5 * e.base.images * cost.DDB_WRITE_UNIT)
    assert e.added("arm64") < e.added("x86_64") and e.compute_ms > 0


def test_without_shadow_figures_the_estimate_says_which_benchmark_to_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: a lambda.json from before the shadow section (or regenerated without it)."""
    bench = json.loads(cost.LAMBDA_BENCH.read_text())
    bench.pop("shadow", None)
    (tmp_path / "lambda.json").write_text(json.dumps(bench))
    monkeypatch.setattr(cost, "LAMBDA_BENCH", tmp_path / "lambda.json")
    with pytest.raises(SystemExit, match="--shadow-only"):
        cost.shadow_estimate()
