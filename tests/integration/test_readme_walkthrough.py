"""The README's tour, run as a new user runs it: each line in order, in a subprocess, with a fresh
HOME and no exports, asserting each step's exit code and a line of its output. The README and the
CLI cannot drift apart: change one and this test tells you to change the other.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import DATA_ZIP, REPO

pytestmark = pytest.mark.slow

MARKER = "<!-- walkthrough: tests/integration/test_readme_walkthrough.py runs the lines of the next block -->"
#: What each step must print (stdout or stderr), by the command's first words.
EXPECTED = {
    "catdog local up --detach": r"local stack 'catdog' \(moto\) listening on http://127\.0\.0\.1:\d+",
    "catdog train": r'"accuracy": 0\.\d+',
    "catdog publish": r'"version": "\d{8}-\d{6}-efficientnetlite0-',
    "catdog upload": r"uploaded 8 files",
    # 8 photos, and S3's own s3:TestEvent from setting up the notification
    "catdog local worker --until-empty": r"worker: \d+ batches, 9 messages done, 0 deliveries to retry",
    "catdog results --label dog": r"uploads/dogs/dog\.\d+\.jpg\s+dog",
    "catdog local down": r"local stack 'catdog' stopped",
}
SETUP = ("make install",)  # the environment the test runs in already is that


def walkthrough() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert MARKER in text, "the README lost its walkthrough marker"
    block = re.search(r"```sh\n(.*?)```", text[text.index(MARKER):], flags=re.S)
    assert block is not None
    lines = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_every_walkthrough_step_has_an_expectation() -> None:
    steps = [s for s in walkthrough() if not s.startswith(SETUP)]
    assert [next((k for k in EXPECTED if s.startswith(k)), s) for s in steps] == list(EXPECTED)


def _photos(home: Path) -> None:
    """~/Pictures/pets: 4 cats and 4 dogs from the validation set, as a user's folder would hold them."""
    with zipfile.ZipFile(DATA_ZIP) as zf:
        for folder in ("cats", "dogs"):
            names = sorted(n for n in zf.namelist() if f"/validation/{folder}/" in n and n.endswith(".jpg"))
            for name in names[:4]:
                target = home / "Pictures" / "pets" / folder / Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(name))


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _photos(home)
    work = tmp_path / "work"
    work.mkdir()
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CATDOG_", "KERAS_"))}
    env.update(HOME=str(home), PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
               CATDOG_SHARED=str(DATA_ZIP.parent.parent), XDG_CACHE_HOME=str(home / ".cache"))
    steps = walkthrough()
    assert steps[0].startswith("make install") and "source .venv/bin/activate" in steps[0]
    try:
        for step in steps[1:]:
            run = subprocess.run(["bash", "-c", step], cwd=work, env=env, capture_output=True, text=True,
                                 timeout=900)
            output = run.stdout + run.stderr
            assert run.returncode == 0, f"`{step}` exited {run.returncode}:\n{output[-3000:]}"
            expected = next(v for k, v in EXPECTED.items() if step.startswith(k))
            assert re.search(expected, output), f"`{step}` did not print {expected!r}:\n{output[-3000:]}"
            assert "XNNPACK" not in output and "TensorSpec" not in output, f"`{step}`: internals leaked"
    finally:  # never leave a background stack behind, whatever failed
        subprocess.run(["bash", "-c", "catdog local down"], cwd=work, env=env, capture_output=True,
                       timeout=60)
    assert not list((home / ".cache" / "catdog" / "stacks").glob("*.json")), "local down left a state file"


def test_the_walkthrough_needs_no_exports_and_no_flags_the_user_has_not_seen() -> None:
    for step in walkthrough()[1:]:
        words = shlex.split(step)
        assert words[0] == "catdog", step
        assert not any(w.startswith(("--bucket", "--table", "--queue-url", "--stack")) for w in words), step
