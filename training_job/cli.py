"""`catdog train|evaluate|predict|publish`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the training job work (issue 2)."""
