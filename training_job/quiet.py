"""Training output for people: progress and results, not TensorFlow's internals.

A tiny run used to print ~300 lines: TF's C++ start-up chatter (oneDNN, CPU features, "All log
messages before absl::InitializeLog()"), the converter's SavedModel loader logs, Keras' "saving as
HDF5 is legacy" warning, 264 lines of `TensorSpec(...)` from the export and, on a first run,
matplotlib's "generated new fontManager". None of it is actionable here. `TF_CPP_MIN_LOG_LEVEL=0
catdog train ...` (or --debug) brings the C++ logs back.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
from collections.abc import Iterator

from catdog.native_stderr import native_stderr_without

#: The packages whose INFO lines are meant for people (progress, what was written where).
OURS = ("catdog", "catdog_cli", "catdog_local", "training_job")
#: What TensorFlow's C++ side prints at import, before any log level applies (static initialisers).
_IMPORT_CHATTER = re.compile(r"All log messages before absl::InitializeLog|port\.cc:\d+\] oneDNN|"
                             r"cpu_feature_guard|rebuild TensorFlow with the appropriate compiler flags")


def configure_logging(debug: bool = False) -> None:
    """Log lines for people, as `catdog` and `python -m training_job` print them: this project's
    INFO lines and everyone's warnings; other libraries' INFO (matplotlib building its font cache,
    botocore finding credentials) only with `debug`, which shows everything."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    for name in OURS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)


def quiet_tensorflow() -> None:
    """Before TensorFlow is imported: its C++ INFO/WARNING logs off (unless the user set the level)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("absl", "tensorflow", "h5py"):  # the HDF5 "legacy format" warning goes through absl
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def swallow_stdout() -> Iterator[io.StringIO]:
    """For calls that print what only a TF developer needs (Keras' export lists every TensorSpec)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        yield sink


@contextlib.contextmanager
def without_log_message(logger: str, text: str) -> Iterator[None]:
    """Drop the records of `logger` that contain `text`, and only those, while the block runs."""
    def keep(record: logging.LogRecord) -> bool:
        return text not in record.getMessage()

    target = logging.getLogger(logger)
    target.addFilter(keep)
    try:
        yield
    finally:
        target.removeFilter(keep)


def import_tensorflow_quietly() -> None:
    """`import tensorflow` with its start-up lines filtered out of stderr (they are written by C++
    static initialisers straight to file descriptor 2, before TF_CPP_MIN_LOG_LEVEL applies); any
    other line it writes there is passed on."""
    if "tensorflow" in sys.modules:
        return
    quiet_tensorflow()
    with native_stderr_without(lambda line: bool(_IMPORT_CHATTER.search(line))):
        import tensorflow  # noqa: F401
