"""Every numeric flag is checked when the command line is parsed (issue 19, finding 6).

`report --thumb-size 0/-1/5000` exited 0 with every tile "corrupt" (and cached that verdict);
`report --threshold 5` was accepted and `nan` ended in exit 70. A value out of range, `nan` or
`inf` is now a usage error (exit 2) naming the flag, before anything is read or written.
(That no flag is left without a range: test_number_flags.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from catdog_cli.exit_codes import USAGE
from catdog_cli.main import build_parser

#: One command line per row: each has one number out of its flag's range.
BAD = [line.split() for line in """
report -o r.html --thumb-size 0
report -o r.html --thumb-size -1
report -o r.html --thumb-size 5000
report -o r.html --threshold 5
report -o r.html --threshold nan
report -o r.html --threshold 0
report -o r.html --limit -1
review --page-size 0
review --page-size 201
review --threshold inf
review --port 70000
backfill s3://b/ --changed-only --timeout nan
backfill s3://b/ --changed-only --timeout 0
dataset export out --include-confident 0
dataset export out --include-confident nan
dataset export out --include-confident 1.5
dataset export out --validation-split 1
dataset export out --validation-split -0.1
dataset export out --seed -1
models promote v1 --min-accuracy nan
models promote v1 --min-accuracy 1.01
publish build/m --min-accuracy nan
evaluate --model m --data d --batch-size 0
evaluate --model m --data d --limit 0
upload x.jpg --workers 0
local up --port -1
local up --visibility-timeout -5
local worker --wait 21
local worker --batch-size 0
local worker --batch-window nan
local worker --retry-delay -1
demo --epochs 0
demo --workers 0
demo --min-accuracy -0.5
demo --limit -3
""".strip().splitlines()]


@pytest.mark.parametrize("argv", BAD, ids=" ".join)
def test_an_out_of_range_number_is_a_usage_error_naming_the_flag(argv: list[str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == USAGE
    flag = next(a for a in reversed(argv) if a.startswith("--"))
    assert f"argument {flag}" in capsys.readouterr().err


def test_values_in_range_are_taken_as_numbers() -> None:
    args = build_parser().parse_args(["report", "-o", "r.html", "--thumb-size", "64", "--threshold", "0.5",
                                      "--limit", "0"])
    assert (args.thumb_size, args.threshold, args.limit, args.output) == (64, 0.5, 0, Path("r.html"))
    args = build_parser().parse_args(["dataset", "export", "o", "--include-confident", "1",
                                      "--validation-split", "0"])
    assert (args.include_confident, args.validation_split) == (1.0, 0.0)
