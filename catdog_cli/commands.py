"""`catdog local|upload|invoke|results|backfill|demo`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the local-first work (issue 4)."""
