"""Read `training_job/Dockerfile` and `.dockerignore` the way Docker does, for what tests can check
without a Docker engine: which files the image gets, and what its build steps install.

Covers the subset the project's files use: continuation lines, ARG defaults, ENV key=value,
COPY src… dest, RUN, WORKDIR, USER, ENTRYPOINT in exec form; .dockerignore patterns with `*`, `**`,
`!` exceptions and last-match-wins, as moby's patternmatcher applies them.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO

DOCKERFILE = REPO / "training_job" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    name: str  # upper case: RUN, COPY...
    args: str
    line: int


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        name, _, args = text.partition(" ")
        out.append(Instruction(name.upper(), args.strip(), start))
    return out


def build_args(instrs: list[Instruction]) -> dict[str, str]:
    return dict(i.args.split("=", 1) for i in instrs if i.name == "ARG" and "=" in i.args)


def env(instrs: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for i in instrs:
        if i.name == "ENV":
            values.update(word.split("=", 1) for word in shlex.split(i.args))  # type: ignore[misc]
    return values


def substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def pip_installs(instrs: list[Instruction], args: dict[str, str] | None = None) -> list[list[str]]:
    """The argument lists of every `pip install` the RUN steps make, build args substituted."""
    variables = {**build_args(instrs), **(args or {})}
    found = []
    for i in instrs:
        if i.name != "RUN":
            continue
        for command in re.split(r"&&|;", substitute(i.args, variables)):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                found.append(words[2:])
    return found


def copies(instrs: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY from the build context (no --from)."""
    out = []
    for i in instrs:
        if i.name == "COPY" and "--from" not in i.args:
            words = [w for w in shlex.split(i.args) if not w.startswith("--")]
            out.append((words[:-1], words[-1]))
    return out


def entrypoint(instrs: list[Instruction]) -> list[str]:
    (last,) = [i for i in instrs if i.name == "ENTRYPOINT"][-1:]
    return list(json.loads(last.args))


# ------------------------------------------------------------------------------------- .dockerignore


def _regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over a slash path (Go's filepath.Match plus `**`)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        ch = pattern[i]
        out += "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
        i += 1
    return re.compile(out + "$")


def ignore_rules(path: Path = DOCKERIGNORE) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, pattern) in file order."""
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        cleaned = line.lstrip("!").strip().strip("/")
        rules.append((exception, _regex(cleaned)))
    return rules


def is_ignored(rel: str, rules: list[tuple[bool, re.Pattern[str]]] | None = None) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent dirs decides."""
    rules = ignore_rules() if rules is None else rules
    parts = rel.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for exception, regex in rules:
        if any(regex.match(c) for c in candidates):
            ignored = not exception
    return ignored


def context_files() -> list[str]:
    """The build context after .dockerignore, over the files git knows (tracked or not ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    rules = ignore_rules()
    return sorted(f for f in listed if (REPO / f).exists() or (REPO / f).is_symlink()
                  if not is_ignored(f, rules))


def copy_image_files(dest: Path, instrs: list[Instruction] | None = None) -> list[str]:
    """Lay out, under `dest`, what the image's COPY steps put in its WORKDIR (symlinks kept, as COPY
    keeps them); returns the relative paths written."""
    instrs = instructions() if instrs is None else instrs
    context = context_files()
    written: list[str] = []
    for sources, target in copies(instrs):
        for source in sources:
            src = source.rstrip("/")
            matched = [f for f in context if f == src or f.startswith(src + "/")]
            if not matched:
                raise FileNotFoundError(f"COPY {source}: nothing in the build context (.dockerignore?)")
            base = dest / target  # "./" is the WORKDIR itself
            for rel in matched:
                if rel == src:  # a file: into a directory target keeps its name, else it is the target
                    out = base / Path(rel).name if target.endswith("/") else base
                else:  # a directory source: its contents go into the target
                    out = base / rel[len(src) + 1:]
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, out, follow_symlinks=False)
                written.append(str(out.relative_to(dest)))
    return written
