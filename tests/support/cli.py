"""The real `catdog` parser walked the way tests need it: every command a user can type, and an
argv that parses for each (a value for every required argument)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from catdog_cli.main import build_parser


def children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command that runs something: ("train",), ("local", "up"), ... (groups are not)."""
    below = children(parser)
    if not below:
        yield path
    for name, child in below.items():
        yield from leaf_commands(child, (*path, name))


def parser_of(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = build_parser()
    for name in path:
        parser = children(parser)[name]
    return parser


def minimal_argv(path: tuple[str, ...]) -> list[str]:
    """The command with a value for each of its required arguments (`1`, or its first choice)."""
    argv = list(path)
    for action in parser_of(path)._actions:
        value = str(next(iter(action.choices))) if action.choices else "1"
        if not action.option_strings and action.nargs not in ("?", "*", argparse.SUPPRESS):
            argv.append(value)
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], value]
    return argv


COMMANDS = list(leaf_commands(build_parser()))
