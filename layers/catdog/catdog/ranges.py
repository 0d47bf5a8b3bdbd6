"""Numbers people type (flags, environment variables), refused outside the range where they mean
something, before any work starts.

`catdog train --limit -5` used to reach the data loader and come back as a complaint about the
data set. A `Range` is the `type=` of an argparse flag (its error is a usage error naming the flag:
exit 2) and the `parse` of a training setting; `check` asks the same of a value built in code.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """Whole numbers (`whole`) or any finite number between `low` and `high` (None: unbounded),
    each end included unless `low_open`/`high_open`."""

    whole: bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def description(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        low, high = (None if b is None else f"{b:g}" for b in (self.low, self.high))
        if low is not None and high is not None:
            return f"{kind} in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if low is not None:
            return f"{kind} {'>' if self.low_open else '≥'} {low}"
        if high is not None:
            return f"{kind} {'<' if self.high_open else '≤'} {high}"
        return kind

    def __call__(self, text: str) -> int | float:
        """`text` as a number in range; argparse.ArgumentTypeError (a usage error) otherwise."""
        try:
            value: int | float = int(text) if self.whole else float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.description}") from None
        if not self.contains(value):
            raise argparse.ArgumentTypeError(f"{text} is not {self.description}")
        return value

    def contains(self, value: float) -> bool:
        if not math.isfinite(value) or (self.whole and value != int(value)):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def check(self, value: float | None, name: str) -> None:
        """A value set in code (None: unset, allowed): ValueError naming `name` when out of range."""
        if value is not None and (isinstance(value, bool) or not self.contains(value)):
            raise ValueError(f"{name} {value!r} is not {self.description}")


def whole(low: int | None = None, high: int | None = None) -> Range:
    return Range(whole=True, low=low, high=high)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Range:
    return Range(whole=False, low=low, high=high, low_open=low_open, high_open=high_open)


#: The ranges most flags need.
POSITIVE = whole(1)  # counts, sizes, epochs
NON_NEGATIVE = whole(0)  # seconds, epochs that may be none
FRACTION = number(0, 1, low_open=True, high_open=True)  # a share carved off: some, never all
PROBABILITY = number(0, 1)  # accuracies and their gates
SHARE = number(0, 1, low_open=True)  # a rate or a threshold that may be 1, never 0
POSITIVE_NUMBER = number(0, low_open=True)  # learning rates, timeouts
PORT = whole(0, 65535)  # 0: any free one
SEED = whole(0, 2**32 - 1)  # what NumPy's and TensorFlow's seeds accept
