"""`catdog demo` on a small subset, as CI runs it: train, publish, upload, classify, report; then reuse."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PER_CLASS = 3


def _demo(data_zip: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["CATDOG_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "catdog_cli.main", "demo", "--data", str(data_zip), "--limit", str(PER_CLASS),
         "--train-limit", "6", "--epochs", "1"],
        env=env, capture_output=True, text=True, timeout=600,
    )


def test_demo_on_a_small_subset_then_reuses_the_cached_model(data_zip: Path, tmp_path: Path) -> None:
    first = _demo(data_zip, tmp_path / "cache")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    assert "[1/5] model: trained" in out
    images = 2 * PER_CLASS
    assert re.search(rf"images\s+{images}\s+classified {images}\s+failed 0\s+missing 0\s+in DLQ 0", out), out
    counts = [int(n) for n in re.findall(r"label (?:cat|dog|unknown)\s+(\d+)", out)]
    assert sum(counts) == images
    unknown = re.search(r"answered unknown\s+(\d+)", out)
    assert unknown is not None, out
    answered = images - int(unknown[1])
    among = re.search(r"accuracy among answered\s+([0-9.]+)\s+\((\d+)/(\d+)\)", out)
    assert among is not None and int(among[3]) == answered, out
    m = re.search(r"accuracy vs folder labels\s+([0-9.]+)\s+\((\d+)/(\d+)\)", out)
    assert m is not None, out
    assert int(m[3]) == images and float(m[1]) == pytest.approx(int(m[2]) / images, abs=1e-4)
    assert re.search(r"throughput\s+[0-9.]+ images/s", out)
    assert "--index-name label-index" in out

    second = _demo(data_zip, tmp_path / "cache")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "[1/5] model: cached" in second.stdout  # same data + settings: no retraining
