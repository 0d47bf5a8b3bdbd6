"""What `catdog train` shows a person is progress and results: not matplotlib building its font
cache ("generated new fontManager", on every fresh machine) nor Keras calling the `.h5` the trainer
writes on purpose a legacy format (on every save). tests/integration/test_readme_walkthrough.py
checks the real command's output with a fresh HOME."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.model_factory import build_tiny_model_dir


def test_saving_the_h5_says_nothing_of_a_legacy_format(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """absl at WARNING, as in `catdog demo` and `--debug`, where TensorFlow is not imported quietly."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.WARNING)
    caplog.set_level(logging.WARNING)
    try:
        out = build_tiny_model_dir(tmp_path / "model")
        logging.getLogger("absl").warning("some other warning of the save")
    finally:
        absl.setLevel(level)
    messages = [r.getMessage() for r in caplog.records]
    assert (out / "model.h5").is_file(), "the .h5 export stays"
    assert not [m for m in messages if "HDF5" in m or "legacy" in m], messages
    assert "some other warning of the save" in messages, "only that one message is dropped"


def test_other_libraries_info_lines_are_not_printed_but_ours_and_every_warning_are() -> None:
    script = ("import logging\n"
              "from training_job.quiet import configure_logging\n"
              "configure_logging()\n"
              "logging.getLogger('matplotlib.font_manager').info('generated new fontManager')\n"
              "logging.getLogger('botocore.credentials').info('Found credentials in environment variables')\n"
              "logging.getLogger('training_job.train').info('data: 160 fit images')\n"
              "logging.getLogger('catdog.model_repo').info('uploaded 8 files')\n"
              "logging.getLogger('urllib3').warning('a warning from anyone')\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         check=True)
    assert run.stderr.splitlines() == ["data: 160 fit images", "uploaded 8 files", "a warning from anyone"]
