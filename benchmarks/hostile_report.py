"""Re-run the hostile corpus and write the README table: `python -m benchmarks.hostile_report`.

For each case: the verdict `preprocess_image` gives (with its wall time and peak added memory)
and the item the handler wrote after the upload went through S3 → SQS → worker → handler in moto.
Writes `benchmarks/results/hostile.json` and `hostile.md`; exits 1 if any case missed its promise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catdog.errors import BadInputError
from catdog.preprocess import DEFAULT_MAX_PIXELS, preprocess_image
from tests.support.hostile_corpus import CLASSIFIED, FAILED, HostileCase, build_corpus
from tests.support.measure import measure

REPO = Path(__file__).resolve().parents[1]
SIZE = (224, 224)


def _preprocess_row(case: HostileCase) -> dict[str, Any]:
    run = measure(lambda: preprocess_image(case.data, SIZE))
    if isinstance(run.error, BadInputError):
        verdict, reason = FAILED, run.error.reason
    elif run.error is not None:
        verdict, reason = "crashed", f"{type(run.error).__name__}: {run.error}"
    else:
        verdict, reason = CLASSIFIED, None
    return {"verdict": verdict, "reason": reason, "ms": round(run.seconds * 1000, 1),
            "peak_mb": round(run.peak_mb, 1), "memory_method": run.method}


def _handler_items(cases: list[HostileCase]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    from tests.support.model_factory import build_tiny_model_dir
    from tests.support.pipeline import moto_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model_dir(Path(tmp) / "model", version="hostile-report")
        with moto_pipeline(Path(tmp) / "cache") as p:
            p.publish(model)
            for case in cases:
                p.put(case.key, case.data)
            with contextlib.redirect_stdout(io.StringIO()):  # the handler's metric lines (EMF on stdout)
                run = measure(p.drain)
            if run.error:
                raise run.error
            items = p.items()
            by_case = {c.name: items.get(p.uri(c.key), {}) for c in cases}
            summary = {"seconds": round(run.seconds, 2), "peak_mb": round(run.peak_mb, 1),
                       "retried_deliveries": run.result.failed, "handler_errors": run.result.handler_errors,
                       "items": len(items), "queue_left": p.queue_depth(),
                       "dlq": p.queue_depth(p.stack.dlq_url)}
    return by_case, summary


def _outcome(status: str | None, reason: str | None) -> str:
    return f"{status} ({reason})" if reason else str(status)


def build_report(with_handler: bool = True) -> dict[str, Any]:
    cases = build_corpus()
    rows = []
    items, summary = _handler_items(cases) if with_handler else ({}, {})
    for case in cases:
        pre = _preprocess_row(case)
        item = items.get(case.name)
        ok = (pre["verdict"], pre["reason"]) == (case.expect, case.reason)
        if with_handler:
            got = (item.get("status"), item.get("reason")) if item else None
            ok = ok and got == (case.expect, case.reason)
        rows.append({
            "case": case.name, "what": case.what, "key": case.key, "bytes": len(case.data),
            "expected": _outcome(case.expect, case.reason),
            "preprocess": {**pre, "outcome": _outcome(pre["verdict"], pre["reason"])},
            "handler": ({"status": item.get("status"), "reason": item.get("reason"),
                         "label": item.get("label"), "error": item.get("error")} if item else None),
            "ok": ok,
        })
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.hostile_report",
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "max_image_pixels": DEFAULT_MAX_PIXELS,
        "model_input": list(SIZE),
        "cases": rows,
        "passed": sum(r["ok"] for r in rows),
        "total": len(rows),
        "handler_run": summary,
    }


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['passed']}/{report['total']} cases ended as promised "
        f"(`{report['command']}`, {report['generated_at']}).",
        "",
        "| case | upload | expected | preprocess (ms, peak MB) | handler item |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in report["cases"]:
        pre = r["preprocess"]
        handler = r["handler"]
        item = _outcome(handler["status"], handler["reason"]) if handler else "—"
        mark = "" if r["ok"] else " **MISMATCH**"
        what = _short(r["what"], 80).replace("|", "\\|")
        lines.append(f"| `{r['case']}` | {what} ({r['bytes']:,} B) | {r['expected']} | "
                     f"{pre['outcome']} ({pre['ms']:.0f} ms, {pre['peak_mb']:.0f} MB) | {item}{mark} |")
    h = report["handler_run"]
    if h:
        n = report["total"]
        lines += ["", (
            f"Handler run: all {n} uploads in {h['seconds']} s, peak +{h['peak_mb']:.0f} MB RSS, "
            f"{h['items']} items, {h['retried_deliveries']} retried deliveries, "
            f"{h['handler_errors']} handler errors, {h['queue_left']} messages left, {h['dlq']} in the DLQ.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--no-handler", action="store_true", help="preprocessing only (no moto, no model)")
    args = parser.parse_args(argv)
    report = build_report(with_handler=not args.no_handler)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hostile.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    markdown = to_markdown(report)
    (args.out / "hostile.md").write_text(markdown)
    print(markdown)
    return 0 if report["passed"] == report["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
