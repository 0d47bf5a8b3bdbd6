"""Make `weights="imagenet"` work offline by pointing Keras' own cache at weights we already have.

Keras reads `KERAS_HOME` once, at import time, so this must run before the first `import keras`.
The weights file is looked up in `CATDOG_WEIGHTS_DIR`, then `../shared/keras/models/` next to the
checkout; with neither, Keras downloads as usual (on a machine with internet).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from catdog.errors import CatdogError

log = logging.getLogger(__name__)

_REPO = Path(__file__).resolve().parent.parent


class WeightsFileError(CatdogError, ValueError):
    """A `--weights` file that cannot be loaded into the network; the message names the file."""


def weight_sources() -> list[Path]:
    dirs = []
    if os.environ.get("CATDOG_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["CATDOG_WEIGHTS_DIR"]))
    dirs.append(_REPO.parent / "shared" / "keras" / "models")
    return [d for d in dirs if d.is_dir()]


def _home_in_use() -> Path | None:
    """Keras' cache dir if keras is already imported (it no longer looks at KERAS_HOME then)."""
    if "keras" not in sys.modules:
        return None
    try:
        from keras.src.backend.config import keras_home  # private, but the only way to ask

        return Path(keras_home())
    except ImportError:  # pragma: no cover - a future Keras without it
        return None


def prepare_keras_home() -> Path:
    """Point Keras' cache at a writable dir whose `models/` links the known weight files.

    Sets `KERAS_HOME` (if unset) before the first `import keras`; if keras is already imported
    (tests, notebooks), links the files into the cache dir it actually uses instead.
    """
    default = Path(os.environ.get("CATDOG_CACHE", Path.home() / ".cache" / "catdog")) / "keras"
    home = _home_in_use() or Path(os.environ.setdefault("KERAS_HOME", str(default)))
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for src_dir in weight_sources():
        for src in src_dir.glob("*.h5"):
            dest = models / src.name
            if not dest.exists():
                try:
                    dest.symlink_to(src.resolve())
                except OSError:  # e.g. a filesystem without symlinks
                    dest.write_bytes(src.read_bytes())
    log.debug("keras cache: %s", models)
    return home
