"""Fixtures every test layer shares: where ../shared is, and small generated images."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CATDOG_SHARED", REPO.parent / "shared"))
DATA_ZIP = SHARED / "data" / "cats_and_dogs_filtered.zip"
WEIGHTS_DIR = SHARED / "keras" / "models"


@pytest.fixture(scope="session")
def data_zip() -> Path:
    if not DATA_ZIP.exists():
        pytest.fail(f"the data set is missing: {DATA_ZIP} (see ../shared/README.md)")
    return DATA_ZIP


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()
