"""The docs cannot drift silently: what README.md and docs/*.md name must exist, and the reverse.

Checked: every environment variable the docs name appears in the code or config; every variable
the product code reads is documented in docs/configuration.md; every `catdog …` command line names
real subcommands and flags (checked against the real argument parser); every `make X` is a
Makefile target; every repository path and relative link resolves.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest

from catdog_cli.main import build_parser
from tests.support.paths import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PRODUCT_CODE = ("layers/catdog/catdog", "functions", "catdog_cli", "catdog_local", "training_job",
                "layers/build_layers.py")
#: Where a variable may be "used": code, templates, configs, scripts.
USE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".toml", ".sh", ".cfg", ".txt")
#: Key prefixes in S3 and generated output: named in the docs, never files of the repository.
NOT_IN_TREE = ("uploads/", "models/", "datasets/", "build/", ".venv", ".aws-sam/", "runs/", "data/",
               "python/", "s3:", "http")
ENV_TOKEN = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


@cache
def tracked() -> tuple[str, ...]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return tuple(line for line in out.splitlines() if (REPO / line).exists())


def _text(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def inline_code(text: str) -> list[str]:
    without_blocks = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", without_blocks)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


# ------------------------------------------------------------------------------------------ env vars


def documented_env_vars() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for doc in DOCS:
        text = _text(doc)
        for token in inline_code(text):
            for word in re.split(r"[\s/,=]+", token):
                word = word.strip("$`()")
                if ENV_TOKEN.match(word):
                    found.setdefault(word, []).append(doc.name)
    return found


@cache
def code_text() -> str:
    names = [p for p in tracked() if p.endswith(USE_SUFFIXES) or Path(p).name in ("Makefile", "Dockerfile")
             or p.startswith(".ci/")]
    names = [p for p in names if not p.startswith(("docs/", "benchmarks/results/")) and p != "README.md"]
    return "\n".join((REPO / p).read_text(encoding="utf-8", errors="replace") for p in names)


def test_every_environment_variable_the_docs_name_is_used_somewhere() -> None:
    code = code_text()
    missing = {var: docs for var, docs in documented_env_vars().items()
               if not re.search(rf"\b{re.escape(var)}\b", code)}
    assert not missing, f"documented but used nowhere (drift?): {missing}"


READ_PATTERNS = (
    r"os\.environ(?:\.get)?\(\s*\"([A-Z][A-Z0-9_]+)\"",
    r"os\.environ\[\"([A-Z][A-Z0-9_]+)\"\]",
    r"os\.getenv\(\s*\"([A-Z][A-Z0-9_]+)\"",
    r"environ\.setdefault\(\s*\"([A-Z][A-Z0-9_]+)\"",
    r"\benv(?:iron)?\.get\(\s*\"([A-Z][A-Z0-9_]+)\"",
    r"\benv\[\"([A-Z][A-Z0-9_]+)\"\]",
    r"\benv=\"([A-Z][A-Z0-9_]+)\"",
    r"^[A-Z_]*ENV[A-Z_]* = \"([A-Z][A-Z0-9_]+)\"",
    r"\(\s*env,\s*\"([A-Z][A-Z0-9_]+)\"",
)


def env_vars_read_by_the_product() -> set[str]:
    names: set[str] = set()
    for root in PRODUCT_CODE:
        base = REPO / root
        for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for pattern in READ_PATTERNS:
                names.update(re.findall(pattern, text, flags=re.M))
    template = (REPO / "template.yaml").read_text(encoding="utf-8")
    block = template.split("Variables:", 1)[1].split("Events:", 1)[0]
    names.update(re.findall(r"^\s{10}([A-Z][A-Z0-9_]+):", block, flags=re.M))
    return names


def test_every_environment_variable_the_product_reads_is_documented() -> None:
    configuration = _text(REPO / "docs" / "configuration.md")
    undocumented = sorted(v for v in env_vars_read_by_the_product() if f"`{v}`" not in configuration)
    assert not undocumented, f"read by the code, missing from docs/configuration.md: {undocumented}"


def test_the_env_var_scanner_finds_what_the_code_reads() -> None:
    """Guards the check above: if the scanner stopped matching, the reverse check would pass vacuously."""
    found = env_vars_read_by_the_product()
    assert {"RESULTS_TABLE", "MODEL_BUCKET", "LITERT_THREADS", "CATDOG_STATE_DIR", "DATA_URI",
            "CATDOG_BUCKET", "POWERTOOLS_SERVICE_NAME"} <= found


# ------------------------------------------------------------------------------------------ commands


def catdog_command_lines() -> list[tuple[str, str]]:
    """(doc, command) for every `catdog …` invocation in code blocks and inline code."""
    found = []
    for doc in DOCS:
        text = _text(doc)
        pieces = [line.split(" #", 1)[0] for block in code_blocks(text) for line in block.splitlines()]
        pieces += inline_code(text)
        for piece in pieces:
            for segment in re.split(r"&&|\|\||;|\s\|\s|\$\(|\)", piece.replace("\\|", "|")):
                segment = segment.strip().strip('"')
                if re.match(r"^catdog \S+:", segment):  # an error message quoted in the docs
                    continue
                if segment.startswith("catdog ") or segment == "catdog":
                    found.append((doc.name, segment))
    return found


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def check_command(line: str, root: argparse.ArgumentParser) -> str | None:
    """None when every subcommand and flag of `line` exists, else what is wrong."""
    cleaned = re.sub(r"[\[\]]", " ", line)
    try:
        tokens = shlex.split(cleaned)
    except ValueError:
        tokens = cleaned.split()
    parser, path = root, ["catdog"]
    allowed = _options(root)
    for token in tokens[1:]:
        if token.startswith("--"):
            flag = token.split("=", 1)[0]
            if flag not in allowed | _options(parser):
                return f"{' '.join(path)}: no flag {flag}"
            continue
        subs = _subparsers(parser)
        if subs and re.fullmatch(r"[a-z][a-z0-9-]*", token):
            if token not in subs:
                return f"{' '.join(path)}: no subcommand {token!r}"
            parser, path = subs[token], [*path, token]
    return None


def test_every_catdog_command_in_the_docs_exists_with_its_flags() -> None:
    root = build_parser()
    lines = catdog_command_lines()
    assert len(lines) > 20, "the scanner found too few commands: is it still reading the docs?"
    problems = [f"{doc}: `{line}` → {why}" for doc, line in lines if (why := check_command(line, root))]
    assert not problems, "\n".join(problems)


def command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("catdog",)) -> list[str]:
    """Every command and subcommand of the parser, as typed: `catdog local up`, `catdog models list`..."""
    found = []
    for name, child in _subparsers(parser).items():
        found.append(" ".join((*path, name)))
        found += command_paths(child, (*path, name))
    return found


def test_docs_cli_lists_every_command_and_subcommand() -> None:
    """docs/cli.md's table has a row for each command a user can type, read from the real parser (a
    group such as `catdog local` is listed through its subcommands)."""
    rows = [line for line in _text(REPO / "docs" / "cli.md").splitlines() if line.startswith("| `catdog ")]
    commands = command_paths(build_parser())
    assert len(commands) > 20, f"the walk found too few commands: {commands}"
    leaves = [c for c in commands if not any(other.startswith(c + " ") for other in commands)]
    missing = [c for c in leaves if not any(row.startswith((f"| `{c} ", f"| `{c}`")) for row in rows)]
    assert not missing, f"not in docs/cli.md's table: {missing}"


def test_the_command_checker_catches_a_wrong_subcommand_and_flag() -> None:
    root = build_parser()
    assert check_command("catdog results --label dog --since 1h", root) is None
    assert check_command("catdog local up [--port 5000]", root) is None
    assert "no subcommand 'reslts'" in str(check_command("catdog reslts", root))
    assert "no flag --colour" in str(check_command("catdog results --colour", root))
    assert "no flag --once" in str(check_command("catdog local up --once", root))
    assert check_command("catdog event s3-put KEY --bucket b", root) is None  # digits in a subcommand
    assert "no flag --queue-arn" in str(check_command("catdog event s3-put KEY --queue-arn a", root))


# ---------------------------------------------------------------------------------- make and paths


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.M))


def test_every_make_target_the_docs_name_exists() -> None:
    targets = makefile_targets()
    named = {(doc.name, t) for doc in DOCS
             for code in [*code_blocks(_text(doc)), *inline_code(_text(doc))]
             for t in re.findall(r"\bmake ([a-z][a-z0-9-]+)", code)}
    missing = sorted(f"{doc}: make {t}" for doc, t in named if t not in targets)
    assert not missing, missing


def _exists_in_tree(path: str) -> bool:
    path = path.rstrip("/").removeprefix("./")
    return any(p == path or p.startswith(path + "/") or p.endswith("/" + path) or ("/" + path + "/") in p
               for p in tracked())


def repo_paths() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for token in inline_code(_text(doc)):
            token = token.strip()
            if " " in token or "/" not in token or token.startswith(("~", "$", "-", "<", "/", "..", "(")):
                continue
            if any(ch in token for ch in "*{<>…=@") or "..." in token or token.startswith(NOT_IN_TREE):
                continue
            if "://" in token or re.match(r"^[a-z]+:", token):
                continue
            found.append((doc.name, token))
    return found


def test_every_repository_path_the_docs_name_exists() -> None:
    paths = repo_paths()
    assert len(paths) > 20
    missing = sorted({f"{doc}: {p}" for doc, p in paths if not _exists_in_tree(p)})
    assert not missing, missing


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _text(doc)):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        file = target.split("#", 1)[0]
        if file and not (doc.parent / file).exists():
            broken.append(target)
    assert not broken, f"{doc.name}: broken links {broken}"
