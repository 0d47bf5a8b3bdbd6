"""What `sam build` ships, measured: the size of both architectures' outputs, and the cold start of
the built x86_64 function + layer under Python 3.12, next to the same handler run from the checkout
under `.venv`'s Python (what the tests run), interleaved in the same run.

- sizes: `sam build --parameter-overrides Architecture=<arch>` for x86_64 and arm64 (the real SAM
  CLI, `.venv/bin/sam`), then the unzipped size of the function dir and of each layer dir (what
  counts against Lambda's 250 MB), and their zipped size (what is uploaded);
- cold start: a `catdog local up` stack with the model published (`--model`, default build/model:
  `catdog train --output build/model --limit 100` makes one) and `--batch` validation photos
  uploaded; each run is a fresh process (tests/support/lambda_artifact.py: `python3.12 -I -S -B`,
  only the build's dirs and a boto3 stand-in on the path, a fresh /tmp) that imports the handler
  (init), classifies the batch (the first invocation: model download, load, decode, one LiteRT call)
  and classifies it again (warm). `--runs` of each, alternating: the artifact as built, the same
  with Python 3.12 bytecode compiled next to it (what shipping .pyc would save), and the baseline.

Results: benchmarks/results/sam_artifact.json and the "What `sam build` ships" section of
benchmarks/results/lambda.md.

    .venv/bin/python -m benchmarks.sam_artifact [--model DIR] [--runs 5] [--batch 10]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
BUILD = REPO / "build" / "sam-artifact"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cats_and_dogs_filtered.zip"
SECTION = "What `sam build` ships"
BEGIN, END = "<!-- begin: benchmarks/sam_artifact.py -->", "<!-- end: benchmarks/sam_artifact.py -->"


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def zipped_bytes(path: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(path))
    return buffer.tell()


def sam_build(arch: str) -> tuple[Path, float]:
    out = BUILD / arch
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON": str(REPO / ".venv" / "bin" / "python")}
    started = time.perf_counter()
    subprocess.run([str(REPO / ".venv" / "bin" / "sam"), "build", "--template", str(REPO / "template.yaml"),
                    "--build-dir", str(out), "--parameter-overrides", f"Architecture={arch}"],
                   cwd=REPO, env=env, check=True, capture_output=True, text=True)
    return out, time.perf_counter() - started


def sizes(build: Path) -> dict[str, Any]:
    parts = {name: build / name for name in ("ClassifyFunction", "CatdogLayer", "XRayLayer")}
    raw = {name: tree_bytes(p) for name, p in parts.items()}
    mb = {name: round(size / 1e6, 2) for name, size in raw.items()}
    zipped = {name: round(zipped_bytes(p) / 1e6, 2) for name, p in parts.items()}
    return {"unzipped_bytes": raw, "unzipped_mb": mb, "zipped_mb": zipped,
            "deployed_unzipped_mb": round(mb["ClassifyFunction"] + mb["CatdogLayer"], 1),
            "with_tracing_unzipped_mb": round(sum(mb.values()), 1)}


def photos(data: Path, count: int) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(data) as zf:
        names = sorted(n for n in zf.namelist() if "/validation/" in n and n.endswith(".jpg"))
        step = max(1, len(names) // count)
        return [(Path(n).name, zf.read(n)) for n in names[::step][:count]]


def sqs_batch(stack: Any, keys: list[str]) -> dict[str, Any]:
    """The event Lambda's SQS event source sends for these objects' notifications."""
    from catdog_local.events import s3_notification, s3_record, to_event

    messages = [{"MessageId": f"bench-{i}", "ReceiptHandle": f"r{i}", "MD5OfBody": "-",
                 "Body": s3_notification(s3_record(stack.bucket, key)),
                 "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}}
                for i, key in enumerate(keys)]
    return to_event(messages, stack.queue_arn)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    from tests.support.lambda_artifact import find_python312, run_artifact, runtime_stand_in
    from tests.support.processes import CATDOG, local_up, user_env

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "build" / "model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=5, help="cold starts of each (artifact, baseline)")
    parser.add_argument("--batch", type=int, default=10, help="photos per invocation (the SQS BatchSize)")
    args = parser.parse_args(argv)
    if not (args.model / "model.tflite").is_file():
        parser.error(f"no model in {args.model}: catdog train --output build/model --limit 100")
    python312 = find_python312()
    if python312 is None:
        parser.error("no Python 3.12 (pyenv install 3.12, or set CATDOG_PYTHON312)")

    builds, build_s = {}, {}
    for arch in ("x86_64", "arm64"):
        print(f"sam build --parameter-overrides Architecture={arch} ...", flush=True)
        builds[arch], build_s[arch] = sam_build(arch)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "load": round(os.getloadavg()[0], 2), "python312": python312,
        "sizes": {arch: sizes(b) for arch, b in builds.items()},
        "sam_build_s": {arch: round(s, 1) for arch, s in build_s.items()},
    }
    print(json.dumps(report["sizes"], indent=2), flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="catdog-sam-artifact-"))
    runtime = runtime_stand_in(tmp / "runtime", python312)
    env = user_env(tmp / "stacks")
    site_packages = Path(sysconfig.get_paths()["purelib"])
    with local_up(env) as stack:
        run = subprocess.run([*CATDOG, "publish", str(args.model), "--min-accuracy", "0"], env=env,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"catdog publish failed: {run.stderr}")
        import boto3

        s3 = boto3.client("s3", endpoint_url=stack.endpoint, region_name=stack.region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        keys = []
        for name, body in photos(args.data, args.batch):
            keys.append(f"uploads/bench/{name}")
            s3.put_object(Bucket=stack.bucket, Key=keys[-1], Body=body)
        event = sqs_batch(stack, keys)
        environment = {**stack.function_environment, "AWS_ENDPOINT_URL": stack.endpoint,
                       "AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region,
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_LAMBDA_FUNCTION_NAME": f"{stack.name}-classify",
                       "POWERTOOLS_LOG_LEVEL": "WARNING"}
        x86 = builds["x86_64"]
        # The same build with Python 3.12 bytecode next to each module: what shipping .pyc would save.
        compiled = tmp / "compiled"
        shutil.copytree(x86, compiled, ignore=shutil.ignore_patterns("XRayLayer"))
        subprocess.run([python312, "-I", "-m", "compileall", "-q", str(compiled)], check=True)
        runs: dict[str, list[Any]] = {"artifact": [], "compiled": [], "baseline": []}
        for i in range(args.runs):
            for kind in runs:
                if kind in ("artifact", "compiled"):
                    build = x86 if kind == "artifact" else compiled
                    result = run_artifact(python312, build / "ClassifyFunction", [build / "CatdogLayer"],
                                          runtime, environment, [event, event])
                else:  # the checkout under .venv's Python: the handler as the tests import it
                    result = run_artifact(sys.executable, REPO / "functions" / "classify", [], runtime,
                                          environment, [event, event],
                                          extra_paths=(REPO / "layers" / "catdog", site_packages))
                responses = result.responses
                assert all(r == {"batchItemFailures": []} for r in responses), responses
                got = result.result
                runs[kind].append({"python": got["python"], "process_s": result.wall_s,
                                   "init_s": got["init_s"], "first_invoke_s": got["invoke_s"][0],
                                   "warm_invoke_s": got["invoke_s"][1]})
                print(f"run {i + 1}/{args.runs} {kind}: init {got['init_s']:.3f} s, first invoke "
                      f"{got['invoke_s'][0]:.3f} s, warm {got['invoke_s'][1]:.3f} s", flush=True)
    report["model"] = json.loads((args.model / "manifest.json").read_text())["version"]
    report["model_tflite_mb"] = round((args.model / "model.tflite").stat().st_size / 1e6, 2)
    report["batch"] = len(keys)
    report["cold_start"] = {kind: {"python": r[0]["python"],
                                   **{k: summary([x[k] for x in r]) for k in
                                      ("init_s", "first_invoke_s", "warm_invoke_s", "process_s")}}
                            for kind, r in runs.items()}
    report["runs"] = runs
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sam_artifact.json").write_text(json.dumps(report, indent=2) + "\n")
    section = render(report)
    replace_section(RESULTS / "lambda.md", section)
    print(section)
    return 0


def render(r: dict[str, Any]) -> str:
    s, c = r["sizes"], r["cold_start"]
    lines = [f"## {SECTION}", "",
             f"`benchmarks/sam_artifact.py`, {r['when']}, {r['cpus']} CPUs (load {r['load']}): `sam build` "
             f"outputs, and the x86_64 one run under Python {c['artifact']['python']} "
             "(`python3.12 -I -S -B`, only the function and layer dirs and a boto3 stand-in on the path) "
             f"against `catdog local up`, {r['batch']} photos per invocation, model `{r['model']}` "
             f"({r['model_tflite_mb']} MB `.tflite`, downloaded at cold start), {len(r['runs']['artifact'])} "
             "fresh processes each, interleaved with the same build given Python 3.12 bytecode "
             "(`compileall`) and with the same handler from the checkout under "
             f"`.venv`'s Python {c['baseline']['python']}. The layer ships no bytecode (pip's would be "
             "the build Python's, so the build strips it, and Lambda's /opt is read-only, so none is "
             "cached): its modules compile at every cold start. The boto3 stand-in is compiled, as the "
             "runtime's own is.", "",
             "| `sam build` output, MB (unzipped / zipped) | x86_64 | arm64 |", "| --- | --- | --- |"]
    lines.append("| function (`app.py` alone), kB unzipped | " + " | ".join(
        f"{s[a]['unzipped_bytes']['ClassifyFunction'] / 1e3:.1f}" for a in ("x86_64", "arm64")) + " |")
    for part, label in (("CatdogLayer", "catdog layer"), ("XRayLayer", "xray layer (`Tracing=Active` only)")):
        lines.append(f"| {label} | " + " | ".join(
            f"{s[a]['unzipped_mb'][part]} / {s[a]['zipped_mb'][part]}" for a in ("x86_64", "arm64")) + " |")
    lines.append("| deployed, default (function + catdog layer), unzipped; Lambda's limit 250 | "
                 + " | ".join(f"**{s[a]['deployed_unzipped_mb']}**" for a in ("x86_64", "arm64")) + " |")
    lines.append("| with `Tracing=Active` (+ xray layer), unzipped | "
                 + " | ".join(str(s[a]["with_tracing_unzipped_mb"]) for a in ("x86_64", "arm64")) + " |")
    lines.append(f"| `sam build` wall time, s | {r['sam_build_s']['x86_64']} | {r['sam_build_s']['arm64']} |")
    lines += ["", "| cold start, median (min-max), s | built x86_64 artifact, Python "
              f"{c['artifact']['python']} | the same with 3.12 bytecode | checkout, `.venv` Python "
              f"{c['baseline']['python']} |", "| --- | --- | --- | --- |"]
    for key, label in (("init_s", "init: import the handler (Powertools, catdog, LiteRT, numpy, boto3)"),
                       ("first_invoke_s", f"first invocation: model download + load, {r['batch']} photos"),
                       ("warm_invoke_s", f"warm invocation, the same {r['batch']} photos"),
                       ("process_s", "whole process, interpreter start to exit")):
        cells = [f"{c[k][key]['median']} ({c[k][key]['min']}-{c[k][key]['max']})"
                 for k in ("artifact", "compiled", "baseline")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def replace_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Put `section` between the markers `begin` and `end` in `path` (appended the first time); the
    rest of the file (the other scripts' sections of lambda.md) is left as it is."""
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{section}{end}\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
