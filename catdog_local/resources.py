"""Where the files that define the stack live: the SAM template, the handler file, the sample events.

In a source checkout they are the repository's own files (`template.yaml`,
`functions/classify/app.py`, `events/`), read in place so that what runs locally is exactly what
`sam deploy` ships. An installed wheel has no repository around it: there they come from
`catdog_local/_bundled/`, which in the repository holds symlinks to those same files and which
setuptools copies (links followed) into the wheel, so `catdog local up` and `catdog invoke` work
from any directory after `pip install catdog-*.whl`.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = Path(__file__).resolve().parent / "_bundled"
#: A checkout (editable install or PYTHONPATH): the files next to pyproject.toml win over the copies.
IN_CHECKOUT = (ROOT / "template.yaml").is_file() and (ROOT / "functions" / "classify" / "app.py").is_file()

TEMPLATE = ROOT / "template.yaml" if IN_CHECKOUT else BUNDLED / "template.yaml"
HANDLER_FILE = ROOT / "functions" / "classify" / "app.py" if IN_CHECKOUT else BUNDLED / "app.py"
EVENTS_DIR = ROOT / "events" if IN_CHECKOUT else BUNDLED / "events"


def event_file(path: str | Path) -> Path:
    """`path` as given when it exists; else, for `events/NAME` (or a bare NAME) that is one of the
    shipped sample files, that sample: `catdog invoke -e events/sqs-s3.json` works outside the
    repository too. Anything else is returned unchanged, so the caller's "not found" names it."""
    given = Path(path)
    if given.exists() or given.is_absolute() or given.parent not in (Path("."), Path("events")):
        return given
    shipped = EVENTS_DIR / given.name
    return shipped if shipped.is_file() else given
