"""What `catdog --help` costs, and what importing every command's work up front would add:
`python benchmarks/cli_startup.py`.

The command modules (catdog_cli/commands/) import the module that does a command's work only when
that command runs. This measures why: `catdog --help` as shipped, against the same with every such
work module imported first (what module-level imports in the command modules would cost), and a
bare interpreter, interleaved in one run so that machine load hits all three alike. The work
modules are read from the command modules themselves (their imports inside functions), so the
comparison follows the code. Writes benchmarks/results/cli_startup.md.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = REPO / "catdog_cli" / "commands"
RESULTS = REPO / "benchmarks" / "results" / "cli_startup.md"


def work_modules() -> list[str]:
    """Every module a command handler imports when it runs (imports inside functions)."""
    found: set[str] = set()
    for path in sorted(COMMANDS.glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.module:
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
                elif isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
    return sorted(found)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each, interleaved (default 15)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    modules = work_modules()
    eager = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + \
        "from catdog_cli.main import main\nmain(['--help'])\n"
    cases = {
        "bare interpreter (`python -c pass`)": [sys.executable, "-c", "pass"],
        "`catdog --help` as shipped (work imported when a command runs)": [
            sys.executable, "-m", "catdog_cli.main", "--help"],
        f"`catdog --help` with the {len(modules)} work modules imported first": [
            sys.executable, "-c", eager],
    }
    for command in cases.values():  # warm the file cache; the first runs are not measured
        subprocess.run(command, cwd=REPO, check=False, capture_output=True)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, command in cases.items():
            times[name].append(timed(command))
    rows = [(name, statistics.median(t), sorted(t)[int(0.9 * (len(t) - 1))]) for name, t in times.items()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"`catdog --help` start-up, {args.runs} runs each, interleaved ({platform.machine()}, "
             f"{os.cpu_count()} CPUs, load {load:.2f}, {datetime.now(UTC).isoformat(timespec='seconds')}; "
             "`python benchmarks/cli_startup.py`).", "",
             "| | median s | p90 s |", "| --- | --- | --- |"]
    lines += [f"| {name} | {median:.3f} | {p90:.3f} |" for name, median, p90 in rows]
    shipped, eager_median = rows[1][1], rows[2][1]
    lines += ["", f"Importing the work up front would add {eager_median - shipped:.3f} s "
                  f"({eager_median / shipped:.1f}x) to every `--help`; work modules: "
                  + ", ".join(f"`{m}`" for m in modules) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_save:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
