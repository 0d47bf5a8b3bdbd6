"""How soon `catdog local worker --until-empty` exits once the queue is drained, and how soon it
stops on SIGTERM: `python benchmarks/worker_drain.py` (writes benchmarks/results/worker_drain.md).

The target (issue 20): exit within 3 s of the queue holding nothing visible, in flight or delayed.
The worker is run against a real moto server with the template's queue, on photos uploaded to the
template's bucket (S3 notifies the queue), with a handler that does nothing, so that what is
measured is the worker's own waiting. Side by side, in the same run: the worker as it is, and as
it was before issue 20b (`catdog_local/worker.py` at BEFORE, read from git: one receive of the whole
20 s long poll, the whole 5 s batching window sat out), on the same stack and the same photos.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/worker_drain.py` from a checkout
    sys.path.insert(0, str(REPO))

import boto3  # noqa: E402

from catdog.plural import plural  # noqa: E402
from catdog_local.moto_server import LocalAws, endpoint_env, free_port  # noqa: E402
from catdog_local.provision import Stack, provision  # noqa: E402
from catdog_local.worker import SQS_MAX_WAIT_S, Worker, acknowledge_s3_test_events, worker_for  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "worker_drain.md"
#: The last commit with the worker as issue 20 found it (the baseline).
BEFORE = "2a35b11c48bec18670adb5cf6abb474a82be1a92"
REGION = "us-east-1"


class DeleteClock:
    """The SQS client, noting when the worker last deleted messages: when the queue became empty."""

    def __init__(self, sqs: Any) -> None:
        self.sqs, self.last_delete = sqs, 0.0

    def delete_message_batch(self, **kw: Any) -> Any:
        out = self.sqs.delete_message_batch(**kw)
        self.last_delete = time.perf_counter()
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)


def worker_before() -> ModuleType:
    """`catdog_local/worker.py` as it was at BEFORE, imported from git's copy."""
    source = subprocess.run(["git", "show", f"{BEFORE}:catdog_local/worker.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("worker_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    exec(compile(source, f"{BEFORE}:catdog_local/worker.py", "exec"), module.__dict__)
    return module


def make_worker(stack: Stack, kind: type[Any]) -> tuple[Any, DeleteClock]:
    shipped = worker_for(stack, handler=lambda event, context: None)  # the template's event source
    clock = DeleteClock(shipped.sqs)
    return kind(clock, shipped.mapping, shipped.handler, shipped.context_factory,
                wait_time_s=SQS_MAX_WAIT_S), clock


def drain(stack: Stack, photos: int, kind: type[Any]) -> tuple[float, float]:
    """(seconds from the last delete to the worker's exit, seconds from start to exit)."""
    s3 = boto3.client("s3", region_name=REGION)
    for i in range(photos):
        s3.put_object(Bucket=stack.bucket, Key=f"uploads/bench/{i}.jpg", Body=b"jpeg")
    worker, clock = make_worker(stack, kind)
    started = time.perf_counter()
    stats = worker.run(until_empty=True)
    ended = time.perf_counter()
    assert stats.succeeded == photos, stats
    return ended - clock.last_delete, ended - started


def stop_when_idle(stack: Stack, kind: type[Any], after_s: float = 2.0) -> float:
    """Seconds from `stop()` (what SIGTERM calls) to the exit of a worker waiting on an empty queue."""
    worker, _ = make_worker(stack, kind)
    asked = [0.0]

    def stop() -> None:
        asked[0] = time.perf_counter()
        worker.stop()

    timer = threading.Timer(after_s, stop)
    timer.start()
    worker.run()
    ended = time.perf_counter()
    timer.join()
    return ended - asked[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each case (default 2)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    rows: list[tuple[str, list[float], list[float]]] = []
    kinds = {True: worker_before().Worker, False: Worker}
    with LocalAws(port=free_port()) as aws, endpoint_env(aws.endpoint, REGION):
        stack = provision(region=REGION)
        acknowledge_s3_test_events(boto3.client("sqs", region_name=REGION), stack.queue_url)
        for photos in (1, 8):
            runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            for _ in range(args.runs):
                for before in (True, False):  # interleaved: machine load hits both alike
                    after_empty, in_all = drain(stack, photos, kinds[before])
                    runs[before].append((after_empty, in_all))
                    which = "before" if before else "after"
                    print(f"{plural(photos, 'photo')}, {which}: {after_empty:.2f} s after the last delete, "
                          f"{in_all:.2f} s in all", flush=True)
            case = f"`--until-empty`, {plural(photos, 'photo')}"
            rows.append((f"{case}: exit after the queue is empty", [r[0] for r in runs[True]],
                         [r[0] for r in runs[False]]))
            rows.append((f"{case}: start to exit", [r[1] for r in runs[True]], [r[1] for r in runs[False]]))
        stops = {before: [stop_when_idle(stack, kinds[before]) for _ in range(args.runs)]
                 for before in (True, False)}
        rows.append(("SIGTERM (`stop()`) while idle: exit after it", stops[True], stops[False]))
    lines = [
        "# `catdog local worker`: how soon it notices a drained queue, and a stop",
        "",
        f"Measured by `benchmarks/worker_drain.py`, {datetime.now(UTC).isoformat(timespec='seconds')}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; moto server, the "
        f"template's queue and event source (batches of 10, 5 s window), a handler that does nothing, "
        f"{args.runs} runs each, interleaved. Before: the worker at {BEFORE[:7]} (one receive of the "
        "whole 20 s long poll, the whole batching window); after: one-second receives with the queue's "
        "depth checked between them, a drain that ends the window when nothing else waits and the run "
        "when a batch took the last message. Target: exit within 3 s of the queue being empty.",
        "",
        "| case | before (median, s) | after (median, s) |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {statistics.median(b):.2f} | {statistics.median(a):.2f} |" for name, b, a in rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_save:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
