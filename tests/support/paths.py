"""Where the repository and the shared data live (`CATDOG_SHARED` moves the latter, as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SHARED = Path(os.environ.get("CATDOG_SHARED", REPO.parent / "shared"))
DATA_ZIP = SHARED / "data" / "cats_and_dogs_filtered.zip"
OOD_ZIP = SHARED / "data" / "ood_flowers.zip"
WEIGHTS_DIR = SHARED / "keras" / "models"
