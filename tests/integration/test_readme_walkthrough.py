"""The README's tour, run as a new user runs it: each line in order, in a subprocess, with a fresh
HOME and no exports, asserting each step's exit code and a line of its output. The README and the
CLI cannot drift apart: change one and this test tells you to change the other.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
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
    # 8 photos: S3's own s3:TestEvent from setting up the notification is no message of the user's
    "catdog local worker --until-empty": r"worker: \d+ batch(es)?, 8 messages done, 0 deliveries to retry",
    "catdog results --label dog": r"uploads/dogs/dog\.\d+\.jpg\s+dog",
    # it says what it discards: the stack lives in memory
    "catdog local down": r"local stack 'catdog' stopped .*\n  discarded with it \(it lived in memory\): "
                         r"8 uploads, 1 model version, 8 results, 0 messages queued, 0 in the DLQ",
}
SETUP = ("make install",)  # the environment the test runs in already is that
#: What no step may print: LiteRT's and the TF export's chatter, matplotlib building its font cache
#: (this HOME is fresh), Keras calling the .h5 export legacy.
INTERNALS = ("XNNPACK", "TensorSpec", "fontManager", "font cache", "HDF5")


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
    """Whatever listens on 5000 (macOS's AirPlay receiver does): the port `local up` tries first is
    held by this test, so the tour must run on whichever port the stack takes instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        _run_the_tour(tmp_path, taken_port=taken.getsockname()[1])


def _run_the_tour(tmp_path: Path, taken_port: int) -> None:
    home = tmp_path / "home"
    _photos(home)
    work = tmp_path / "work"
    work.mkdir()
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CATDOG_", "KERAS_"))}
    env.update(HOME=str(home), PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
               CATDOG_SHARED=str(DATA_ZIP.parent.parent), XDG_CACHE_HOME=str(home / ".cache"),
               CATDOG_LOCAL_PORT=str(taken_port))
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
            if step.startswith("catdog local up"):
                assert f"port {taken_port} is taken" in output, "it says why the port is not the usual one"
            leaked = [w for w in INTERNALS if w in output]
            assert not leaked, f"`{step}`: internals leaked: {leaked}\n{output[-3000:]}"
    finally:  # never leave a background stack behind, whatever failed
        subprocess.run(["bash", "-c", "catdog local down"], cwd=work, env=env, capture_output=True,
                       timeout=60)
    assert not list((home / ".cache" / "catdog" / "stacks").glob("*.json")), "local down left a state file"


def test_the_walkthrough_needs_no_exports_and_no_flags_the_user_has_not_seen() -> None:
    for step in walkthrough()[1:]:
        words = shlex.split(step)
        assert words[0] == "catdog", step
        assert not any(w.startswith(("--bucket", "--table", "--queue-url", "--stack")) for w in words), step
