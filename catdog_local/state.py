"""Where `catdog local up` leaves the endpoint and resource names for the other commands.

`worker`, `upload`, `results` and `backfill` read this file so a user types no names or flags;
an explicit flag or environment variable always wins over it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from catdog.errors import CatdogError
from catdog_local.provision import Stack, StackResources

STATE_ENV = "CATDOG_STATE_FILE"


def state_path() -> Path:
    """`$CATDOG_STATE_FILE`, else `$XDG_CACHE_HOME/catdog/local.json` (default `~/.cache/...`)."""
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "catdog" / "local.json"


@dataclass
class LocalState(StackResources):
    """A running `catdog local up`: the stack's resources plus the endpoint and the serving process."""

    endpoint: str = ""
    pid: int = 0

    @classmethod
    def from_stack(cls, stack: StackResources, endpoint: str) -> LocalState:
        return cls(**asdict(stack.resources if isinstance(stack, Stack) else stack),
                   endpoint=endpoint, pid=os.getpid())

    def save(self, path: Path | None = None) -> Path:
        target = path or state_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(target)  # readers never see half a file
        return target

    @classmethod
    def load(cls, path: Path | None = None) -> LocalState:
        source = path or state_path()
        try:
            data: dict[str, Any] = json.loads(source.read_text())
        except FileNotFoundError:
            raise CatdogError(
                f"no local stack found ({source}): start one with `catdog local up`, "
                "or pass the names explicitly"
            ) from None
        except json.JSONDecodeError as exc:
            raise CatdogError(f"{source} is not valid JSON ({exc}); run `catdog local up` again") from exc
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise CatdogError(f"{source} is missing fields ({exc}); run `catdog local up` again") from exc

    @classmethod
    def load_optional(cls, path: Path | None = None) -> LocalState | None:
        try:
            return cls.load(path)
        except CatdogError:
            return None


def clear(path: Path | None = None) -> None:
    (path or state_path()).unlink(missing_ok=True)
