"""Every `catdog` subcommand's arguments: one module per group, registered in the order of `REGISTRARS`.

A command module parses and nothing else: each handler turns its `argparse.Namespace` into typed
values (paths, numbers, the names given, which may still be None) and hands them to the module that
does the work, so no Namespace travels further than this package.

Each handler imports its work module when the command runs: the one import kept inside functions
on purpose. The work modules import boto3, Pillow, LiteRT, tqdm and Jinja2 at their top, and
loading all of them for every `catdog --help` would make it about 4x slower (0.11 s -> 0.46 s,
`benchmarks/cli_startup.py`, results in benchmarks/results/cli_startup.md);
tests/integration/test_cli_startup.py checks what building the parser imports. The parsers
themselves import only constants.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from catdog_cli.commands import (
    backfill,
    dataset,
    demo,
    event,
    invoke,
    local,
    models,
    report,
    results,
    review,
    training,
    upload,
)

Register = Callable[[argparse._SubParsersAction], None]

#: In the order `catdog --help` lists the commands.
REGISTRARS: tuple[Register, ...] = (
    training.register, local.register, upload.register, invoke.register, event.register, results.register,
    backfill.register, demo.register, review.register, report.register, dataset.register, models.register,
)
