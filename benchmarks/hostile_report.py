"""The hostile corpus through the real upload path, one case at a time: `python -m benchmarks.hostile_report`.

A `catdog local up` server process (moto, the template's resources), this process as the Lambda
container (the local SQS event source mapping around a freshly imported `functions/classify/app.py`),
and for each case: put_object (or send_message) → S3 notification → SQS → worker → handler → item.
Recorded per case: the item's outcome, the decoder process's CPU seconds and peak memory above its
baseline, the handler process's peak memory above its warm baseline, and the wall time of the
delivery. Checked per case: it ended as promised, within the budgets (2 CPU-seconds, 384 MB), with
nothing retried. Writes `benchmarks/results/hostile.{json,md}`; exits 1 on any miss.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CPU_BUDGET, MEMORY_MB, CPU_SLACK = 2.0, 384, 0.25
_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    return int(match.group(1)) if match else 0


def _reset_peak() -> int:
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")
    return _kb("VmRSS")


def _start_stack(workdir: Path) -> tuple[subprocess.Popen[str], Any]:
    """`catdog local up` on a free port, as a user starts it; returns (process, its LocalState)."""
    from catdog_local.moto_server import free_port
    from catdog_local.state import LocalState

    state_file = workdir / "stacks" / "hostile.json"
    env = {**os.environ, "CATDOG_STATE_DIR": str(state_file.parent)}
    command = [sys.executable, "-m", "catdog_cli.main", "local", "up", "--port", str(free_port()),
               "--stack-name", "hostile"]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            text=True)
    deadline = time.monotonic() + 120
    while not state_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("catdog local up did not start")
        time.sleep(0.2)
    return proc, LocalState.load(state_file)


def run(cases: list[Any], messages_for: Any) -> dict[str, Any]:
    import boto3

    from catdog_local.lambda_runtime import LambdaContext, apply_function_environment, load_module
    from catdog_local.moto_server import apply_endpoint_env
    from catdog_local.worker import worker_for
    from tests.support.images import jpeg_bytes
    from tests.support.model_factory import build_tiny_model_dir
    from training_job.publish import publish_model

    with tempfile.TemporaryDirectory() as tmp:
        server, state = _start_stack(Path(tmp))
        try:
            apply_endpoint_env(state.endpoint, state.region)
            apply_function_environment({**state.function_environment, "MODEL_CACHE_DIR": f"{tmp}/cache",
                                        "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_TRACE_DISABLED": "true"})
            publish_model(build_tiny_model_dir(Path(tmp) / "model", version="hostile-report"),
                          f"s3://{state.bucket}/models/", min_accuracy=0)
            s3, sqs = boto3.client("s3"), boto3.client("sqs")
            table = boto3.resource("dynamodb").Table(state.table)
            app = load_module()
            worker = worker_for(state, handler=app.handler, batch_size=10, retry_delay_s=0, wait_time_s=1)
            worker.context_factory = LambdaContext

            def deliver() -> tuple[Any, float, float]:
                messages: list[dict[str, Any]] = []
                for _ in range(50):
                    messages = worker.receive_batch()
                    if messages:
                        break
                baseline = _reset_peak()
                started = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF metric lines
                    result = worker.process(messages)
                return result, time.perf_counter() - started, max(0, _kb("VmHWM") - baseline) / 1024

            s3.put_object(Bucket=state.bucket, Key="uploads/warm-up.jpg", Body=jpeg_bytes())
            deliver()  # cold start: model load and the decoder's start are not any case's cost
            deliver_all = worker.receive_batch()  # S3's s3:TestEvent, if any is left
            if deliver_all:
                worker.process(deliver_all)
            sandbox = app.processor.runtime.sandbox
            sandbox.measure = True

            rows = []
            for case in cases:
                s3.put_object(Bucket=state.bucket, Key=case.key, Body=case.data, **case.put_args)
                sandbox.last_cost = None  # a case the decoder never sees must not show the last one's cost
                result, wall, handler_mb = deliver()
                item = table.get_item(Key={"image": f"s3://{state.bucket}/{case.key}"}).get("Item") or {}
                cost = sandbox.last_cost
                cpu = cost.cpu_seconds if cost else 0.0
                decoder_mb = cost.peak_mb if cost else 0.0
                status, reason = item.get("status"), item.get("reason")
                ok = (case.accepts(str(status), reason) and result.failed == 0
                      and cpu <= CPU_BUDGET + CPU_SLACK and decoder_mb <= MEMORY_MB)
                rows.append({"case": case.name, "kind": "upload", "what": case.what, "bytes": len(case.data),
                             "expected": _outcome(case.expect, case.reason, case.within_budget),
                             "got": _outcome(status, reason), "decode_cpu_s": round(cpu, 2),
                             "decoder_peak_mb": round(decoder_mb, 1), "handler_peak_mb": round(handler_mb, 1),
                             "wall_s": round(wall, 2), "retried": result.failed, "ok": ok})
            for message in messages_for(state.bucket):
                before = table.scan(Select="COUNT")["Count"]
                sqs.send_message(QueueUrl=state.queue_url, MessageBody=message.body)
                result, wall, handler_mb = deliver()
                written = table.scan(Select="COUNT")["Count"] - before
                ok = result.failed == 0 and written == 0
                rows.append({"case": message.name, "kind": "message", "what": message.what,
                             "bytes": len(message.body), "expected": message.expect,
                             "got": message.expect if written == 0 else f"{written} item(s) written",
                             "decode_cpu_s": 0.0, "decoder_peak_mb": 0.0,
                             "handler_peak_mb": round(handler_mb, 1), "wall_s": round(wall, 2),
                             "retried": result.failed, "ok": ok})
            left = sum(int(v) for url in (state.queue_url, state.dlq_url) for v in sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                              "ApproximateNumberOfMessagesNotVisible"])["Attributes"].values())
            sandbox.close()
        finally:
            server.terminate()
            server.wait(30)
    return {"rows": rows, "messages_left": left}


def _outcome(status: Any, reason: Any, within_budget: bool = False) -> str:
    text = f"{status} ({reason})" if reason else str(status)
    return text + " or a budget" if within_budget else text


def build_report() -> dict[str, Any]:
    from tests.support.hostile_corpus import build_corpus, build_messages

    outcome = run(build_corpus(), build_messages)
    rows = outcome["rows"]
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.hostile_report",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "path": "catdog local up (moto server process) → S3 notification → SQS → local event source "
                "mapping → functions/classify/app.py → results table",
        "budgets": {"decode_cpu_seconds": CPU_BUDGET, "decode_memory_mb": MEMORY_MB},
        "cases": rows,
        "passed": sum(r["ok"] for r in rows),
        "total": len(rows),
        "messages_left_in_queue_and_dlq": outcome["messages_left"],
        "max_decode_cpu_s": max(r["decode_cpu_s"] for r in rows),
        "max_decoder_peak_mb": max(r["decoder_peak_mb"] for r in rows),
        "max_handler_peak_mb": max(r["handler_peak_mb"] for r in rows),
    }


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['passed']}/{report['total']} cases ended as promised, each within the budgets "
        f"({report['budgets']['decode_cpu_seconds']:g} CPU-s, {report['budgets']['decode_memory_mb']} MB "
        f"per image) and with nothing retried (`{report['command']}`, {report['generated_at']}, "
        f"{report['machine']}).",
        "",
        f"Path: {report['path']}. One delivery per case. Largest decode: {report['max_decode_cpu_s']:.2f} "
        f"CPU-s; largest decoder peak: {report['max_decoder_peak_mb']:.0f} MB above its baseline; largest "
        f"handler-process peak: {report['max_handler_peak_mb']:.0f} MB above its warm baseline. Messages "
        f"left in the queue and the DLQ afterwards: {report['messages_left_in_queue_and_dlq']}.",
        "",
        "| case | what (size) | expected | item | decode CPU s | decoder peak MB | handler peak MB "
        "| wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["cases"]:
        mark = "" if r["ok"] else " **MISS**"
        what = r["what"].replace("|", "\\|")
        lines.append(f"| `{r['case']}` | {what} ({r['bytes']:,} B) | {r['expected']} | {r['got']}{mark} | "
                     f"{r['decode_cpu_s']:.2f} | {r['decoder_peak_mb']:.0f} | {r['handler_peak_mb']:.0f} | "
                     f"{r['wall_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    report = build_report()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hostile.json").write_text(json.dumps(report, indent=2, ensure_ascii=True) + "\n")
    markdown = to_markdown(report)
    (args.out / "hostile.md").write_text(markdown)
    print(markdown)
    return 0 if report["passed"] == report["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
