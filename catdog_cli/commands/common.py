"""What several command modules' parsers share: argument types and help texts."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import re

from catdog.errors import CatdogError

BUCKET_HELP = "bucket (default: $CATDOG_BUCKET, else the local stack's)"
TABLE_HELP = "results table (default: $CATDOG_TABLE, else the local stack's)"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


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
