"""A handler invocation in a fresh interpreter, for what only a clean process can show (what the
Lambda path imports, a missing optional SDK): a tiny model and a cat photo are made, SCRIPT runs
with them (`sys.argv[1:]`) in the environment given; (its JSON report, the last line of its stdout,
and its stderr)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.aws import FAKE_CREDENTIALS
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.paths import REPO


def run_handler_script(script: str, tmp_path: Path, **env: str) -> tuple[dict[str, Any], str]:
    model_dir = build_tiny_model_dir(tmp_path / "model")
    image = tmp_path / "cat.jpg"
    image.write_bytes(jpeg_bytes(color=(220, 30, 30)))
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **FAKE_CREDENTIALS,
                   "AWS_DEFAULT_REGION": "us-east-1", "MODEL_CACHE_DIR": str(tmp_path / "cache"),
                   "PYTHONPATH": str(REPO), **env}
    proc = subprocess.run([sys.executable, "-c", script, str(model_dir), str(image)], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report, proc.stderr
