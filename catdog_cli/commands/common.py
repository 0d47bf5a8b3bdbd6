"""What several command modules' parsers share: argument types and help texts.

Every numeric flag is checked here, when the command line is parsed: a value out of range (or
`nan`, `inf`) is a usage error (exit 2, catdog_cli/exit_codes.py) naming the flag, before any
work starts or anything is written.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import math
import re
from collections.abc import Callable

from catdog.errors import CatdogError

BUCKET_HELP = "bucket (default: $CATDOG_BUCKET, else the local stack's)"
TABLE_HELP = "results table (default: $CATDOG_TABLE, else the local stack's)"


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high] (no upper bound when `high` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}" if high is not None
                                             else f"{value} is not at least {low}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its message
    return parse


def number(low: float, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in the range (each end open or closed; no upper bound when
    `high` is None). `nan` and `inf` are refused: every comparison with nan is false, so a nan
    threshold or quality gate would let everything through."""
    shown = f"{'(' if low_open else '['}{low:g}, {'∞)' if high is None else f'{high:g}'}" + (
        "" if high is None else (")" if high_open else "]"))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = math.isfinite(value) and (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
        if not inside:
            raise argparse.ArgumentTypeError(f"{text} is not a number in {shown}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = whole(1)
non_negative_int = whole(0)
#: A TCP port; 0 asks for a free one.
port_number = whole(0, 65535)
#: A probability that something is so: a threshold, a confidence (0 would take everything).
probability = number(0.0, 1.0, low_open=True)
#: A share of the images, a quality gate: anything in [0, 1].
share = number(0.0, 1.0)
#: A duration in seconds, more than 0.
seconds = number(0.0, low_open=True)


_HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def host_name(text: str) -> str:
    """A DNS name or an IP address (IPv6 with or without brackets), without a port."""
    bare = text.strip()
    try:
        return str(ipaddress.ip_address(bare.strip("[]")))
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(bare):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or an IP address (no port, no scheme)")
    return bare.lower()


def require_review_extra(command: str) -> None:
    """The page and the report need Flask (and its Jinja2): a wheel installed without them says how,
    before their modules fail to import."""
    if importlib.util.find_spec("flask") is None or importlib.util.find_spec("jinja2") is None:
        raise CatdogError(f"catdog {command} needs Flask: pip install 'catdog[review]' (or make install)")
