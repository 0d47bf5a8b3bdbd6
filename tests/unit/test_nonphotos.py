"""The generated non-photos the tests and the benchmark share: seeded, every kind, decodable."""

from __future__ import annotations

from catdog.preprocess import preprocess_image
from tests.support.nonphotos import KINDS, nonphotos


def test_every_kind_is_generated_decodes_and_is_reproducible() -> None:
    first = list(nonphotos(per_kind=2))
    assert [n.split("-")[0] for n, _ in first] == [k for k in KINDS for _ in range(2)]
    assert first == list(nonphotos(per_kind=2))
    assert first != list(nonphotos(per_kind=2, seed=8))
    for name, data in first:
        assert preprocess_image(data, (64, 64)).pixels.shape == (64, 64, 3), name
