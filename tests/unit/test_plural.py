"""Counts read as English: "uploaded 1 file", never "1 files" or "1 file(s)"."""

from __future__ import annotations

import re

import pytest

from catdog.plural import plural
from tests.support.paths import REPO

#: The product's code: what people read comes from here (tests and benchmarks print for developers).
PRODUCT = ("catdog_cli", "catdog_local", "training_job", "layers/catdog/catdog", "functions")
#: A count placeholder (`{n}`, `{len(x)}`, `%d`, `%s`) followed by a noun that spells both numbers.
BOTH_NUMBERS = re.compile(r"(\{[^{}]+\}|%[ds]) [\w -]+\(s\)")


@pytest.mark.parametrize(("count", "noun", "expected"), [
    (1, "file", "1 file"), (0, "file", "0 files"), (2, "file", "2 files"), (-1, "file", "-1 files"),
    (1, "batch", "1 batch"), (3, "batch", "3 batches"), (2, "failed delivery", "2 failed deliveries"),
    (2, "key", "2 keys"), (2, "class", "2 classes"), (2, "hidden file", "2 hidden files"),
])
def test_the_noun_is_plural_unless_the_count_is_one(count: int, noun: str, expected: str) -> None:
    assert plural(count, noun) == expected


def test_an_irregular_plural_is_given_by_the_caller() -> None:
    assert plural(2, "was", "were") == "2 were"
    assert plural(1, "was", "were") == "1 was"


def test_no_message_in_the_product_spells_its_plural_as_s_in_brackets() -> None:
    """The class of "uploaded 8 file(s)": every counted noun goes through `plural`."""
    found = []
    for folder in PRODUCT:
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if BOTH_NUMBERS.search(line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
