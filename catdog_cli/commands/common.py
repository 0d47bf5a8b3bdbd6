"""What several command modules' parsers share: argument types and help texts."""

from __future__ import annotations

import importlib.util

from catdog.errors import CatdogError

BUCKET_HELP = "bucket (default: $CATDOG_BUCKET, else the local stack's)"
TABLE_HELP = "results table (default: $CATDOG_TABLE, else the local stack's)"


def require_review_extra(command: str) -> None:
    """The page and the report need Flask (and its Jinja2): a wheel installed without them says how,
    before their modules fail to import."""
    if importlib.util.find_spec("flask") is None or importlib.util.find_spec("jinja2") is None:
        raise CatdogError(f"catdog {command} needs Flask: pip install 'catdog[review]' (or make install)")
