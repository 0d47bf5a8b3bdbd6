"""`python -m training_job`: the container's entry point (training_job/Dockerfile).

The same run as `catdog train`, configured by flags or environment variables, without the rest of
the `catdog` command: this package imports nothing from `catdog_cli`.
"""

from __future__ import annotations

import argparse
import json
import sys

from catdog.errors import CatdogError
from training_job.job import run_job, summary
from training_job.quiet import configure_logging
from training_job.settings import ENV_HELP, add_train_arguments, config_from_args

#: The exit code of a run refused for its input, as `catdog` uses it (catdog_cli/exit_codes.py).
BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training_job",
        description="The catdog trainer (what training_job/Dockerfile runs). " + ENV_HELP,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.debug)
    try:
        result = run_job(config_from_args(args), debug=args.debug)
    except (CatdogError, ValueError, FileNotFoundError, PermissionError) as exc:
        if args.debug:
            raise
        print(f"training_job: error: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(json.dumps(summary(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
