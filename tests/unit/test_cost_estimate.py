"""benchmarks/cost_estimate.py: the tiers, the CPU scaling, and that docs' figures are its output."""

from __future__ import annotations

import pytest

from benchmarks import cost_estimate as cost


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
    assert (cost.RESULTS / "cost.md").read_text() == cost.render(cost.estimate())


def test_every_dense_index_of_the_template_is_priced_and_the_sparse_one_is_not() -> None:
    assert cost.dense_indexes() == ["label-index", "status-index", "model-index"]
    e = cost.estimate()
    writes = next(line for line in e.shared if line.item == "DynamoDB writes")
    assert writes.usd == pytest.approx(4 * e.images * cost.DDB_WRITE_UNIT)  # the table + 3 GSIs
