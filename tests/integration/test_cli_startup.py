"""`catdog --help` loads none of the heavy libraries: the work a command does is imported when it runs.

Asked of a fresh interpreter (the test process has long imported everything). The time this saves
is measured by benchmarks/cli_startup.py, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.paths import REPO

HEAVY = ("boto3", "numpy", "tensorflow", "keras", "moto", "flask", "jinja2", "ai_edge_litert", "PIL",
         "tqdm", "matplotlib")
SCRIPT = f"""
import json, sys
from catdog_cli.main import build_parser
parser = build_parser()
print(json.dumps({{"heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
                  "commands": sorted(parser._subparsers._group_actions[0].choices)}}))
"""


def test_building_the_parser_imports_no_heavy_library() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(found["commands"]) > 10, found  # the parser was really built
    assert found["heavy"] == []


def test_help_runs_and_lists_the_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "catdog_cli.main", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True)
    assert "usage: catdog" in out.stdout and "train" in out.stdout and "review" in out.stdout
