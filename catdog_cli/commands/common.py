"""What several command modules' parsers share: help texts and the host-name type.

Numeric flags take their ranges from `catdog.ranges`: a value out of range (or `nan`, `inf`) is a
usage error (exit 2, catdog_cli/exit_codes.py) naming the flag, before any work starts.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import re

from catdog.errors import CatdogError
from catdog.ranges import NON_NEGATIVE
from training_job.settings import DEFAULT_MIN_ACCURACY, ENV_VARS, env_default, setting_type

#: `catdog models compare`'s (and the report's) verdict is that of `promote --require-shadow` this many.
DEFAULT_REQUIRE_SHADOW = 100

BUCKET_HELP = "bucket (default: $CATDOG_BUCKET, else the local stack's)"
TABLE_HELP = "results table (default: $CATDOG_TABLE, else the local stack's)"


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


def gate_flag(parser: argparse.ArgumentParser) -> None:
    """`--min-accuracy`: the quality gate every pointer move (and a shadow) goes through."""
    parser.add_argument("--min-accuracy", type=setting_type("min_accuracy"),
                        default=env_default("min_accuracy"),
                        help=f"the quality gate [env {ENV_VARS['min_accuracy']}; "
                             f"default {DEFAULT_MIN_ACCURACY}]")


def require_shadow_flag(parser: argparse.ArgumentParser, default: int | None, help: str) -> None:
    parser.add_argument("--require-shadow", metavar="N", type=NON_NEGATIVE, default=default,
                        help=help + (f" (default {default})" if default is not None else ""))
