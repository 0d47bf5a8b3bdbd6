"""Load test: thousands of photos through the local endpoint, the queue, several workers and the handler.

    .venv/bin/python benchmarks/load_test.py [--images 2000] [--workers 3] [--reupload 200] [--model DIR]

What it does, all against a moto server on a free local port (the `catdog local up` endpoint):
1. provisions the template's bucket/queue/DLQ/table (catdog_local.provision) and publishes a model
   (the default model `make benchmark-train` trains into build/ when there is one, else the tiny test
   model; the report says which);
2. starts `--workers` worker PROCESSES, each the local SQS event source mapping
   (catdog_local.worker.Worker) calling a freshly imported `functions/classify/app.py`;
3. uploads `--images` photos of the data set under distinct keys, and midway re-uploads
   `--reupload` already-uploaded cat keys with a DOG photo (new content, same key);
4. waits until the queue and DLQ are empty, then checks the table: one item per key, none lost, every
   item's etag == the object's final ETag (the newest upload won), every re-uploaded key says dog
   when the model says so for that photo; and reports images/s and upload→item latency percentiles.
A baseline run with ONE worker over `--baseline-images` photos goes first, in the same run.
Results: benchmarks/results/load.json + load.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/load_test.py` from a checkout
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cats_and_dogs_filtered.zip"
MODEL_CANDIDATES = (REPO / "build" / "model", REPO / "build" / "bench" / "efficientnet_lite0")
REGION = "us-east-1"


# ------------------------------------------------------------------------------------------ data


def load_photos(data_zip: Path) -> dict[str, list[bytes]]:
    """The training photos by class, read once into memory (~45 MB for 2000 JPEGs)."""
    photos: dict[str, list[bytes]] = {"cat": [], "dog": []}
    with zipfile.ZipFile(data_zip) as zf:
        for name in sorted(zf.namelist()):
            if "/train/" in name and name.endswith(".jpg"):
                photos["cat" if "/cats/" in name else "dog"].append(zf.read(name))
    return photos


def pick_model(explicit: Path | None, workdir: Path) -> tuple[Path, str]:
    if explicit:
        return explicit, f"{explicit} (given)"
    for cand in MODEL_CANDIDATES:
        if (cand / "model.tflite").is_file() and (cand / "manifest.json").is_file():
            return cand, f"{cand.relative_to(REPO)} (trained)"
    from tests.support.model_factory import build_tiny_model_dir

    return build_tiny_model_dir(workdir / "tiny"), "tiny test model (no trained model in build/)"


# --------------------------------------------------------------------------------------- workers


def worker_main(index: int, env: dict[str, str], queue_url: str, queue_arn: str, batch_size: int,
                stop: Any, out: Any) -> None:
    """One worker process: a cold "container" polling the queue until told to stop."""
    os.environ.update(env)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the handler's EMF metric lines)
    import boto3

    from catdog_local.lambda_runtime import LambdaContext, load_module
    from catdog_local.worker import EventSourceMapping, Worker, WorkerStats

    app = load_module()
    done: list[tuple[str, float]] = []  # (key, when its message was answered), every delivery

    def handler(event: dict[str, Any], context: Any) -> Any:
        """The real handler, plus a note of which keys it answered and when (for latency)."""
        response = app.handler(event, context)
        failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        now = time.time()
        for record in event["Records"]:
            if record["messageId"] not in failed:
                for s3_record in json.loads(record["body"]).get("Records", []):
                    done.append((unquote_plus(s3_record["s3"]["object"]["key"]), now))
        return response

    out.put((index, "ready"))
    worker = Worker(boto3.client("sqs", region_name=REGION),
                    EventSourceMapping(queue_url, queue_arn, batch_size=batch_size), handler,
                    LambdaContext, retry_delay_s=1, wait_time_s=1)
    stats = WorkerStats()
    started = time.perf_counter()
    while not stop.is_set():
        messages = worker.receive_batch()
        if messages:
            stats.add(worker.process(messages))
    stats.seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put((index, {**asdict(stats), "done": done, "cpu_s": usage.ru_utime + usage.ru_stime}))


# ------------------------------------------------------------------------------------------ a run


@dataclass
class Upload:
    key: str
    body: bytes
    truth: str
    reupload: bool = False


@dataclass
class RunResult:
    name: str
    workers: int
    images: int
    reuploads: int
    seconds: float = 0.0
    images_per_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]

    return {"p50": round(pct(50), 1), "p95": round(pct(95), 1), "p99": round(pct(99), 1),
            "max": round(values[-1], 1), "mean": round(statistics.fmean(values), 1)}


def plan_uploads(photos: dict[str, list[bytes]], n: int, reupload: int, prefix: str) -> list[Upload]:
    """n distinct keys alternating cat/dog (photos reused when n > 2000), with `reupload` cat keys
    from the first third re-uploaded as dogs once 60% of the originals are on their way."""
    originals = []
    for i in range(n):
        truth = "cat" if i % 2 == 0 else "dog"
        pool = photos[truth]
        originals.append(Upload(f"{prefix}{i:05d}-{truth}.jpg", pool[(i // 2) % len(pool)], truth))
    cats_early = [u for u in originals[: n // 3] if u.truth == "cat"][:reupload]
    dogs = photos["dog"]
    replacements = [Upload(u.key, dogs[-1 - (j % len(dogs))], "dog", reupload=True)
                    for j, u in enumerate(cats_early)]
    cut = int(n * 0.6)
    return originals[:cut] + replacements + originals[cut:]


def run_once(name: str, endpoint: str, photos: dict[str, list[bytes]], model_dir: Path, *, n: int,
             workers: int, reupload: int, batch_size: int, upload_threads: int, timeout_s: float,
             visibility_timeout: int, workdir: Path) -> RunResult:
    import boto3
    from tqdm import tqdm

    from catdog.manifest import MANIFEST_FILE, TFLITE_FILE, ModelPointer
    from catdog_local.provision import provision
    from tests.support.aws import scan_all

    stack = provision(stack_name=f"load-{name}", region=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    # A receive whose response is lost (a client-side timeout + retry under load) leaves its messages
    # in flight until the visibility timeout; the template's 720 s is sized for Lambda, so the run
    # shortens it to see those messages come back and be processed again within the run.
    sqs.set_queue_attributes(QueueUrl=stack.queue_url,
                             Attributes={"VisibilityTimeout": str(visibility_timeout)})
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    pointer = ModelPointer.for_version("models/", manifest["version"])
    s3.upload_file(str(model_dir / MANIFEST_FILE), stack.bucket, pointer.manifest_key)
    s3.upload_file(str(model_dir / TFLITE_FILE), stack.bucket, pointer.model_key)
    s3.put_object(Bucket=stack.bucket, Key="models/latest.json", Body=pointer.to_json().encode())

    env = {**stack.function_environment, "AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_LOG_LEVEL": "WARNING",
           "POWERTOOLS_TRACE_DISABLED": "true", "LITERT_THREADS": "1"}
    ctx = mp.get_context("spawn")  # never fork a process that runs the moto server's threads
    stop, out = ctx.Event(), ctx.Queue()
    procs = []
    for i in range(workers):
        wenv = {**env, "MODEL_CACHE_DIR": str(workdir / f"{name}-cache-{i}")}
        p = ctx.Process(target=worker_main, args=(i, wenv, stack.queue_url, stack.queue_arn, batch_size, stop,
                                                  out), daemon=True)
        p.start()
        procs.append(p)
    for _ in procs:  # imports done in every worker before the clock starts (the model loads on batch 1)
        out.get(timeout=180)

    plan = plan_uploads(photos, n, reupload, "uploads/load/")
    last_upload: dict[str, float] = {}
    final_etag: dict[str, str] = {}
    lock = threading.Lock()

    def put(u: Upload) -> None:
        resp = s3.put_object(Bucket=stack.bucket, Key=u.key, Body=u.body, ContentType="image/jpeg")
        done = time.time()
        with lock:
            last_upload[u.key] = done
            final_etag[u.key] = resp["ETag"].strip('"')

    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    started = time.time()
    with ThreadPoolExecutor(upload_threads) as pool, tqdm(total=len(plan), desc=f"{name}: upload",
                                                         unit="img") as bar:
        for _ in pool.map(put, plan):  # map keeps the order, so each re-upload follows its original
            bar.update()

    def depth(url: str) -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in attrs.values())

    keys = set(last_upload)
    deadline = time.time() + timeout_s
    with tqdm(total=len(plan) + 1, desc=f"{name}: queue drained", unit="msg") as bar:
        quiet = 0
        while time.time() < deadline:
            left = depth(stack.queue_url)
            bar.n = max(0, len(plan) + 1 - left)
            bar.refresh()
            quiet = quiet + 1 if left == 0 else 0
            if quiet >= 3:  # empty on three polls in a row: nothing in flight either
                break
            time.sleep(0.5)
    stop.set()
    deliveries: dict[str, int] = {"received": 0, "succeeded": 0, "failed": 0, "handler_errors": 0}
    answered: dict[str, list[float]] = {}
    worker_cpu_s = 0.0
    for _ in procs:
        _, stats = out.get(timeout=60)
        for k in deliveries:
            deliveries[k] += int(stats[k])
        worker_cpu_s += float(stats["cpu_s"])
        for key, when in stats["done"]:
            answered.setdefault(key, []).append(when)
    for p in procs:
        p.join(30)

    items = scan_all(table)
    prefix = f"s3://{stack.bucket}/"
    by_key: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_key.setdefault(item["image"].removeprefix(prefix), []).append(item)
    missing = sorted(keys - set(by_key))
    duplicated = sorted(k for k, v in by_key.items() if len(v) > 1)
    unexpected = sorted(set(by_key) - keys)
    stale = sorted(k for k in keys & set(by_key) if by_key[k][0].get("etag") != final_etag[k])
    not_classified = sorted(k for k in keys & set(by_key) if by_key[k][0]["status"] != "classified")
    truth = {u.key: u.truth for u in plan}  # the last entry per key is the final content
    reuploaded = {u.key for u in plan if u.reupload}
    correct = sum(by_key[k][0].get("label") == truth[k] for k in keys & set(by_key))
    re_dog = sum(by_key[k][0].get("label") == "dog" for k in reuploaded & set(by_key))
    # Latency: last upload of a key → the first answer after it. A message answered again later (a
    # receive whose response was lost comes back after the visibility timeout) is counted apart.
    first_final = {k: min((t for t in answered.get(k, []) if t >= last_upload[k]), default=None)
                   for k in keys}
    latencies = [(t - last_upload[k]) * 1000 for k, t in first_final.items() if t is not None]
    finished = max((t for t in first_final.values() if t is not None), default=started)
    seconds = finished - started
    result = RunResult(name, workers, len(keys), len(reuploaded), round(seconds, 2),
                       round(len(plan) / seconds, 1) if seconds > 0 else 0.0, _percentiles(latencies))
    deliveries["events"] = len(plan)  # the worker counts S3's s3:TestEvent apart, not as received
    deliveries["redelivered"] = deliveries["received"] - deliveries["failed"] - deliveries["events"]
    deliveries["keys_without_answer"] = sum(t is None for t in first_final.values())
    result.deliveries = deliveries
    mine = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu = {
        "workers_s": round(worker_cpu_s, 1),
        "worker_ms_per_image": round(worker_cpu_s * 1000 / max(1, deliveries["succeeded"]), 1),
        # this process = the moto server (S3, SQS, DynamoDB for every call) + the uploads, since start
        "moto_and_uploads_s_cumulative": round(mine.ru_utime + mine.ru_stime, 1),
    }
    result.checks = {
        "uploads": len(plan), "distinct_keys": len(keys), "items": len(items),
        "missing": len(missing), "duplicated": len(duplicated), "unexpected": len(unexpected),
        "stale_etag": len(stale), "not_classified": len(not_classified),
        "dlq": depth(stack.dlq_url), "queue_left": depth(stack.queue_url),
        "labels_match_the_photo": correct,
        "reuploaded_now_dog": re_dog,
        "examples": {"missing": missing[:5], "stale": stale[:5], "not_classified": not_classified[:5]},
    }
    result.checks["ok"] = deliveries["keys_without_answer"] == 0 and all(result.checks[k] == 0 for k in (
        "missing", "duplicated", "unexpected", "stale_etag", "not_classified", "dlq", "queue_left"))
    return result


# --------------------------------------------------------------------------------------- reporting


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Load test ({report['generated_at']}, {report['machine']}; model: {report['model']}).",
        f"Command: `{report['command']}`",
        "",
        "| run | workers | uploads (re-uploads) | images/s | latency p50 / p95 / p99 / max (ms) | "
        "items | lost | duplicated | stale | DLQ | retried / redelivered | worker CPU ms/image |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["runs"]:
        lat, c, d = r["latency_ms"], r["checks"], r["deliveries"]
        lines.append(
            f"| {r['name']} | {r['workers']} | {c['uploads']} ({r['reuploads']}) | {r['images_per_s']} | "
            f"{lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')} / {lat.get('max')} | {c['items']} | "
            f"{c['missing']} | {c['duplicated']} | {c['stale_etag']} | {c['dlq']} | "
            f"{d['failed']} / {d['redelivered']} | {r['cpu']['worker_ms_per_image']} |")
    last = report["runs"][-1]
    c = last["checks"]
    verdict = "passed" if report["ok"] else "FAILED"
    lines += ["", (f"Main run: {c['labels_match_the_photo']}/{c['distinct_keys']} labels match the photo's "
                   f"class; {c['reuploaded_now_dog']}/{last['reuploads']} re-uploaded cat→dog keys now say "
                   f"dog. CPU: the workers (handler, incl. cold starts) {last['cpu']['workers_s']} s, this "
                   f"process (moto server for every S3/SQS/DynamoDB call + uploads, both runs) "
                   f"{last['cpu']['moto_and_uploads_s_cumulative']} s. All checks {verdict}.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="distinct keys in the main run")
    parser.add_argument("--workers", type=int, default=3, help="worker processes in the main run")
    parser.add_argument("--reupload", type=int, default=200, help="cat keys re-uploaded as dogs mid-run")
    parser.add_argument("--baseline-images", type=int, default=300,
                        help="photos for the 1-worker baseline (0: skip)")
    parser.add_argument("--batch-size", type=int, default=10, help="SQS batch size (template's BatchSize)")
    parser.add_argument("--upload-threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait for the queue to drain")
    parser.add_argument("--visibility-timeout", type=int, default=60,
                        help="queue visibility timeout for the run (the template's is 720 s)")
    parser.add_argument("--model", type=Path,
                        help="model directory (default: the trained model in build/, else a tiny one)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from catdog_local.moto_server import LocalAws, apply_endpoint_env, free_port

    photos = load_photos(args.data)
    load_before = os.getloadavg()[0]  # the 2 cores are shared: a busy machine makes every figure worse
    with tempfile.TemporaryDirectory() as tmp, LocalAws(port=free_port()) as aws:
        apply_endpoint_env(aws.endpoint, REGION)
        os.environ.pop("AWS_PROFILE", None)
        model_dir, model_desc = pick_model(args.model, Path(tmp))
        runs = []
        common = dict(batch_size=args.batch_size, upload_threads=args.upload_threads, timeout_s=args.timeout,
                      visibility_timeout=args.visibility_timeout, workdir=Path(tmp))
        if args.baseline_images:
            runs.append(run_once("baseline", aws.endpoint, photos, model_dir, n=args.baseline_images,
                                 workers=1, reupload=0, **common))  # type: ignore[arg-type]
        runs.append(run_once("main", aws.endpoint, photos, model_dir, n=args.images, workers=args.workers,
                             reupload=args.reupload, **common))  # type: ignore[arg-type]
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/load_test.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"1-min load {load_before:.2f} before and {os.getloadavg()[0]:.2f} after",
        "model": model_desc,
        "endpoint": "moto server (catdog_local.moto_server.LocalAws) on localhost",
        "runs": [asdict(r) for r in runs],
        "ok": all(r.checks["ok"] for r in runs),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (args.out / "load.md").write_text(markdown)
    print(markdown)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
