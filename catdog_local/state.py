"""The running local stacks: what each `catdog local up` (or `demo --keep-running`) leaves for the
other commands, one state file per stack name, and THE rule for which stack a command means.

Several stacks may run side by side, each under its own name (`local up --stack-name`): a second
`local up` of a running name is refused, and stopping one removes only its own file. A command
finds its stack by, in order: `--stack NAME` / `$CATDOG_STACK`; else the names it was given (a bucket,
table or queue that belongs to a running stack means that stack); else the only running stack, or
the one named `catdog` when several run. Files of stacks whose process is gone are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from catdog.errors import CatdogError
from catdog.json_text import json_object
from catdog_local.provision import Stack, StackResources

STATE_DIR_ENV = "CATDOG_STATE_DIR"
STACK_ENV = "CATDOG_STACK"
DEFAULT_STACK = "catdog"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")


class StackError(CatdogError):
    """No local stack (or not the one asked for) is running: the command cannot reach AWS locally."""


def state_dir() -> Path:
    """`$CATDOG_STATE_DIR`, else `$XDG_CACHE_HOME/catdog/stacks` (default `~/.cache/catdog/stacks`)."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "catdog" / "stacks"


def check_stack_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"stack name {name!r}: use letters, digits and '-', starting with a letter")
    return name


def state_file(name: str) -> Path:
    return state_dir() / f"{check_stack_name(name)}.json"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


@dataclass
class LocalState(StackResources):
    """A running local stack: its resources plus the endpoint and the process serving it."""

    endpoint: str = ""
    pid: int = 0
    log_file: str = ""  # where a detached `local up` writes its output

    @classmethod
    def from_stack(cls, stack: StackResources, endpoint: str) -> LocalState:
        return cls(**asdict(stack.resources if isinstance(stack, Stack) else stack),
                   endpoint=endpoint, pid=os.getpid())

    @property
    def path(self) -> Path:
        return state_file(self.name)

    @property
    def alive(self) -> bool:
        return _alive(self.pid)

    def owns(self, *, bucket: str | None = None, table: str | None = None,
             queue_url: str | None = None) -> bool:
        return bool((bucket and bucket == self.bucket) or (table and table == self.table)
                    or (queue_url and queue_url in (self.queue_url, self.dlq_url)))

    def save(self, path: Path | None = None) -> Path:
        target = path or self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(target)  # readers never see half a file
        return target

    @classmethod
    def load(cls, path: Path) -> LocalState:
        try:
            data = json_object(path.read_text(), str(path), error=StackError)
        except FileNotFoundError:
            raise StackError(f"no local stack state at {path}: start one with `catdog local up`") from None
        except StackError as exc:  # not JSON, or JSON but not an object
            raise StackError(f"{exc}; run `catdog local up` again") from None
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise StackError(f"{path} is missing fields ({exc}); run `catdog local up` again") from exc


def running_stacks() -> list[LocalState]:
    """Every stack whose serving process is alive, by name; the files of dead ones are removed."""
    found = []
    for path in sorted(state_dir().glob("*.json")) if state_dir().is_dir() else []:
        try:
            state = LocalState.load(path)
        except StackError:
            continue
        if state.alive:
            found.append(state)
        else:
            with contextlib.suppress(OSError):
                path.unlink()  # left behind by a process that was killed
    return found


def find_stack(name: str | None = None) -> LocalState:
    """The stack a command means when it was given no names (see the module docstring)."""
    name = name or os.environ.get(STACK_ENV) or None
    stacks = running_stacks()
    if name:
        for state in stacks:
            if state.name == name:
                return state
        running = ", ".join(s.name for s in stacks) or "none"
        raise StackError(f"no local stack named {name!r} is running (running: {running}); "
                         f"start it with `catdog local up --stack-name {name}`")
    if not stacks:
        raise StackError("no local stack is running: start one with `catdog local up` "
                         "(or pass the names of a deployed stack)")
    if len(stacks) == 1:
        return stacks[0]
    for state in stacks:
        if state.name == DEFAULT_STACK:
            return state
    raise StackError(f"several local stacks are running ({', '.join(s.name for s in stacks)}): "
                     f"say which with --stack NAME or ${STACK_ENV}")


def stack_owning(*, bucket: str | None = None, table: str | None = None,
                 queue_url: str | None = None) -> LocalState | None:
    """The running stack that has this bucket, table or queue, if any."""
    stacks = running_stacks()
    return next((s for s in stacks if s.owns(bucket=bucket, table=table, queue_url=queue_url)), None)


def clear(state: LocalState) -> None:
    """Remove the state file of `state`, unless another process has taken the name since."""
    try:
        current = LocalState.load(state.path)
    except StackError:
        return
    if current.pid == state.pid and current.endpoint == state.endpoint:
        state.path.unlink(missing_ok=True)
