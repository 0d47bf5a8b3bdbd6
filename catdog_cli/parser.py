"""The argparse parser of `catdog` and all its subcommands: a typo gets the nearest right word.

`catdog results --lable dog` used to answer "unrecognized arguments: --lable dog" with the top
level's usage, and `catdog resluts` a list of every command. Python 3.14's argparse suggests
(`suggest_on_error`); the project runs on 3.11, so it is done here, the same way (difflib): an
unknown flag is matched against the options of the subcommand it was given to, whose usage is
shown, and a mistyped subcommand or choice against the valid ones.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Sequence
from typing import Any

#: How alike a typo and a suggestion must be (difflib's ratio): `--lable` → `--label` is 0.86.
CUTOFF = 0.6


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `word`, if any is alike enough. Among equally close ones, one that
    starts like it wins: a typo rarely hits the first letter (`--lable` is as close to `--table` as
    to `--label`)."""
    def initial(text: str) -> str:
        return text.lstrip("-")[:1]

    def rank(candidate: str) -> tuple[bool, float]:
        return initial(candidate) == initial(word), difflib.SequenceMatcher(None, word, candidate).ratio()

    close = difflib.get_close_matches(word, list(candidates), n=5, cutoff=CUTOFF)
    return max(close, key=rank) if close else None


def subcommand_path(parser: argparse.ArgumentParser,
                    args: argparse.Namespace) -> list[tuple[str, argparse.ArgumentParser]]:
    """The subcommands chosen in `args`, outermost first, each with its parser: [("local", …), ("up", …)]."""
    path: list[tuple[str, argparse.ArgumentParser]] = []
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, sub.dest, None) if sub is not None and sub.dest != argparse.SUPPRESS else None
        if sub is None or name not in sub.choices:
            return path
        parser = sub.choices[name]
        path.append((name, parser))


class CatdogParser(argparse.ArgumentParser):
    """argparse's parser (subparsers inherit the class), plus "did you mean ...?"."""

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            path = subcommand_path(self, parsed)
            owner = path[-1][1] if path else self
            owner.error(unrecognized(extras, owner))
        return parsed

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            guess = nearest(str(value), map(str, action.choices or ())) if isinstance(value, str) else None
            if guess is None:
                raise
            raise argparse.ArgumentError(action, f"{exc.message}; did you mean {guess!r}?") from None


def unrecognized(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """argparse's message for arguments no parser took, with the nearest option to each unknown flag."""
    options = [o for o in parser._option_string_actions if o.startswith("--")]
    flags = [word.split("=", 1)[0] for word in extras if word.startswith("--")]
    guesses = {flag: guess for flag in flags if (guess := nearest(flag, options))}
    message = f"unrecognized arguments: {' '.join(extras)}"
    if len(guesses) == 1 and len(flags) == 1:
        return f"{message} (did you mean {next(iter(guesses.values()))}?)"
    if guesses:
        return f"{message} (did you mean {', '.join(f'{g} for {f}' for f, g in guesses.items())}?)"
    return message
