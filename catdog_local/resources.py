"""Where the files that define the stack live: the SAM template, the handler file, the sample events.

They are the repository's own files (`template.yaml`, `functions/classify/app.py`, `events/`), read
in place so that what runs locally is exactly what `sam deploy` ships.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
HANDLER_FILE = ROOT / "functions" / "classify" / "app.py"
EVENTS_DIR = ROOT / "events"
