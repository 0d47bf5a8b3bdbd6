"""Writing a file for the user: whole or not at all, and never through a name someone planted.

`report` wrote `OUTPUT.tmp` and renamed it: a predictable name in a folder others may write to
(a shared `build/`, `/tmp`), so a symlink planted there sent the report, or anything, wherever it
pointed. `write_file` creates its temporary file with `mkstemp` in the target's own folder (a
random name, `O_CREAT | O_EXCL`, so an existing name, a symlink included, is never opened or
followed), writes and syncs it, gives it the mode a new file would get (umask), and renames it
over the target: readers see the old file or the new one, never half of one. A symlink at the
target itself is replaced, not followed. Every command that writes files for the user (the
report, a local dataset export, the thumbnail cache) writes them here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    current = os.umask(0o077)
    os.umask(current)
    return current


#: Read once, at import (one thread): reading it means setting it, and the review server writes its
#: thumbnail cache from several threads, any of which may be creating a folder at that moment.
UMASK = _read_umask()


def write_file(path: str | Path, data: bytes | str, *, durable: bool = True) -> int:
    """Write `data` (str as UTF-8) to `path` through a new temporary file; returns the size written.
    `durable=False` skips the fsync: a cache that can be rebuilt needs no disk flush per file."""
    target = Path(path)
    body = data.encode("utf-8") if isinstance(data, str) else data
    if target.is_dir() and not target.is_symlink():
        raise IsADirectoryError(f"{target} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:64]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return len(body)
