"""What one million images cost: the deployed stack (Lambda arm64/x86_64 at the template's memory, S3,
SQS, DynamoDB, CloudWatch Logs) next to a managed label API, from our measured per-batch time; and
what a shadow model adds while one is set (`shadow_estimate`, from the shadow section of the same
benchmark).

Every input is a named constant below with where it comes from, so the arithmetic is reproducible
and a changed price is a one-line edit. Prints the table and writes benchmarks/results/cost.md.

    .venv/bin/python benchmarks/cost_estimate.py
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from catdog.results import shadow_agreement, to_decimal
from catdog_local.cfn import DEFAULT_TEMPLATE, Resolver, load_template
from training_job.models import DEFAULT_ARCH

RESULTS = Path(__file__).resolve().parent / "results"
IMAGES = 1_000_000
PRICES_CHECKED = "2026-11-27"  # when the list prices below were looked up (us-east-1, USD)

# ------------------------------------------------------------------------------- list prices (USD)
LAMBDA_GB_S = {"arm64": 0.0000133334, "x86_64": 0.0000166667}  # first pricing tier, per GB-second
LAMBDA_PER_REQUEST = 0.20 / 1e6
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST (S3 Standard)
S3_GET = 0.0004 / 1000  # GET, HEAD, SELECT
S3_GB_MONTH = 0.023  # S3 Standard, first 50 TB
SQS_PER_REQUEST = 0.40 / 1e6  # standard queue, each 64 KB chunk of a request
DDB_WRITE_UNIT = 0.625 / 1e6  # on-demand write request unit (since the November 2024 reduction)
DDB_GB_MONTH = 0.25
DDB_PITR_GB_MONTH = 0.20
LOGS_INGEST_GB = 0.50  # CloudWatch Logs, standard ingestion
REKOGNITION_TIERS = [(1_000_000, 0.001), (4_000_000, 0.0008), (30_000_000, 0.0006), (None, 0.00025)]
GOOGLE_VISION_LABEL_TIERS = [(1_000, 0.0), (4_999_000, 1.50 / 1000), (None, 1.00 / 1000)]

# ----------------------------------------------------------------------------- measured and assumed
LAMBDA_BENCH = RESULTS / "lambda.json"
#: Lambda gives a function vCPU in proportion to memory: one full vCPU at 1769 MB.
MB_PER_VCPU = 1769
#: The benchmark machine's cores; decode + LiteRT (threads = one per CPU) may use both, so dividing
#: core-seconds by the Lambda's vCPU share is the pessimistic scaling (single-threaded work would
#: take half of that).
BENCH_CORES = 2
#: Not measured (the benchmark is compute only; moto's latencies say nothing about AWS): typical
#: same-region latencies per image, done one after another by the handler: S3 HEAD + GET of a
#: ~23 KB photo (the data set's mean) and one DynamoDB UpdateItem.
IO_MS_PER_IMAGE = {"s3_head": 10.0, "s3_get": 20.0, "dynamodb_update": 5.0}
MEAN_IMAGE_BYTES = 22_852  # cats_and_dogs_filtered's 3000 JPEGs
ITEM_BYTES = 400  # one results item (image URI, label, confidence, status, times, model, etag, size)
#: GSI keys only some items carry (a sparse index): review-index lists reviewed items only, a few per
#: thousand, so it adds nothing per image; shadow-index only the items a shadow model answered, none
#: while no shadow model is set (its cost while one is: `shadow_estimate`). Every other GSI of the
#: table gets a copy of every answer.
SPARSE_INDEX_KEYS = {"human_label", "shadow_agreement"}
LOG_BYTES_PER_IMAGE = 1_000  # Powertools JSON lines at INFO, per image and invocation share
#: SQS requests per image: S3's SendMessage, plus Lambda's ReceiveMessage and DeleteMessageBatch
#: shared by a batch of BatchSize messages.
SQS_REQUESTS_PER_IMAGE_EXTRA = 2  # receive + delete, per batch


@dataclass(frozen=True)
class Line:
    item: str
    usd: float
    how: str


@dataclass(frozen=True)
class Estimate:
    images: int
    memory_mb: int
    batch: int
    bench_batch_ms: float
    bench_when: str
    compute_ms: float
    io_ms: float
    invocations: int
    gb_s: float
    lambda_lines: dict[str, list[Line]]  # per architecture
    shared: list[Line]  # the same on both architectures
    rekognition: float
    google_vision: float

    @property
    def vcpu(self) -> float:
        return self.memory_mb / MB_PER_VCPU

    @property
    def invocation_ms(self) -> float:
        return self.compute_ms + self.io_ms

    def total(self, arch: str) -> float:
        return sum(x.usd for x in [*self.lambda_lines[arch], *self.shared])


def tiered(units: int, tiers: list[tuple[int | None, float]]) -> float:
    """Price of `units` under (tier size, unit price) tiers, the last size None = the rest."""
    total, left = 0.0, units
    for size, price in tiers:
        take = left if size is None else min(left, size)
        total += take * price
        left -= take
        if left <= 0:
            break
    return total


def template_defaults() -> tuple[int, int]:
    params = load_template(DEFAULT_TEMPLATE)["Parameters"]
    return int(params["MemorySize"]["Default"]), int(params["BatchSize"]["Default"])


def dense_indexes() -> list[str]:
    """The results table's GSIs (at the template's defaults) that every answer is written to."""
    resolver = Resolver(load_template(DEFAULT_TEMPLATE), stack_name="cost", region="us-east-1",
                        account="123456789012", parameters=None, create=lambda name: {})
    table = load_template(DEFAULT_TEMPLATE)["Resources"]["ResultsTable"]["Properties"]
    indexes = resolver.resolve(table["GlobalSecondaryIndexes"])
    return [i["IndexName"] for i in indexes if i["KeySchema"][0]["AttributeName"] not in SPARSE_INDEX_KEYS]


def invocation_ms(batch_compute_ms: float, memory_mb: int, batch: int) -> tuple[float, float, float]:
    """(compute, io, total) ms of one warm invocation of `batch` images on Lambda."""
    vcpu = memory_mb / MB_PER_VCPU
    compute = batch_compute_ms * BENCH_CORES / vcpu
    io = batch * sum(IO_MS_PER_IMAGE.values())
    return compute, io, compute + io


def estimate(images: int = IMAGES) -> Estimate:
    memory_mb, batch = template_defaults()
    bench = json.loads(LAMBDA_BENCH.read_text())
    batch_ms = float(bench["ours"]["warm_per_invocation"]["p50_ms"])
    if int(bench["ours"]["warm_per_invocation"]["images"]) != batch:
        raise SystemExit("benchmarks/results/lambda.json measured another batch size than the template's")
    compute, io, total_ms = invocation_ms(batch_ms, memory_mb, batch)
    invocations = images // batch
    gb_s = invocations * total_ms / 1000 * memory_mb / 1024
    indexes = dense_indexes()
    copies = 1 + len(indexes)  # the table and each dense GSI (projection ALL) hold every item
    shared = [
        Line("S3 PUT (the uploads)", images * S3_PUT, f"{images:,} PUT x ${S3_PUT * 1000:g}/1000"),
        Line("S3 HEAD + GET (the function)", 2 * images * S3_GET,
             f"{2 * images:,} x ${S3_GET * 1000:g}/1000"),
        Line("S3 storage, one month", images * MEAN_IMAGE_BYTES / 1e9 * S3_GB_MONTH,
             f"{images * MEAN_IMAGE_BYTES / 1e9:.1f} GB x ${S3_GB_MONTH}/GB-month"),
        Line("SQS", (images + invocations * SQS_REQUESTS_PER_IMAGE_EXTRA) * SQS_PER_REQUEST,
             f"{images:,} sends + {invocations * SQS_REQUESTS_PER_IMAGE_EXTRA:,} receives/deletes x $0.40/M"),
        Line("DynamoDB writes", copies * images * DDB_WRITE_UNIT,
             f"{images:,} UpdateItem + the same to {', '.join(indexes)} = {copies * images:,} WRU x "
             "$0.625/M"),
        Line("DynamoDB storage + PITR, one month",
             images * ITEM_BYTES * copies / 1e9 * (DDB_GB_MONTH + DDB_PITR_GB_MONTH),
             f"{images * ITEM_BYTES * copies / 1e9:.1f} GB (table + {len(indexes)} GSIs) x "
             f"${DDB_GB_MONTH + DDB_PITR_GB_MONTH}/GB-month"),
        Line("CloudWatch Logs", images * LOG_BYTES_PER_IMAGE / 1e9 * LOGS_INGEST_GB,
             f"~{images * LOG_BYTES_PER_IMAGE / 1e9:.0f} GB ingested x ${LOGS_INGEST_GB}/GB"),
    ]
    lambda_lines = {
        arch: [Line("Lambda duration", gb_s * price, f"{gb_s:,.0f} GB-s x ${price:.10f}".rstrip("0")),
               Line("Lambda requests", invocations * LAMBDA_PER_REQUEST, f"{invocations:,} x $0.20/M")]
        for arch, price in LAMBDA_GB_S.items()
    }
    return Estimate(images=images, memory_mb=memory_mb, batch=batch, bench_batch_ms=batch_ms,
                    bench_when=str(bench["when"]), compute_ms=compute, io_ms=io, invocations=invocations,
                    gb_s=gb_s, lambda_lines=lambda_lines, shared=shared,
                    rekognition=tiered(images, REKOGNITION_TIERS),
                    google_vision=tiered(images, GOOGLE_VISION_LABEL_TIERS))


def table(lambda_lines: dict[str, list[Line]], shared: list[Line]) -> list[str]:
    """The cost table's header and its item rows: the Lambda lines per architecture, then the rest."""
    rows = ["| item | arm64 | x86_64 | how (arm64 / both) |", "| --- | ---: | ---: | --- |"]
    for a, x in zip(lambda_lines["arm64"], lambda_lines["x86_64"], strict=True):
        rows.append(f"| {a.item} | ${a.usd:,.2f} | ${x.usd:,.2f} | {a.how} |")
    rows += [f"| {line.item} | ${line.usd:,.2f} | ${line.usd:,.2f} | {line.how} |" for line in shared]
    return rows


def render(e: Estimate) -> str:
    out = [
        f"What {e.images:,} images cost (us-east-1 list prices checked {PRICES_CHECKED}; "
        "`benchmarks/cost_estimate.py`)",
        "",
        f"One invocation = {e.batch} images at {e.memory_mb} MB ({e.vcpu:.2f} vCPU): compute "
        f"{e.bench_batch_ms:.1f} ms measured on {BENCH_CORES} cores ({e.bench_when}) x {BENCH_CORES} / "
        f"{e.vcpu:.2f} = {e.compute_ms:.0f} ms, plus {e.io_ms:.0f} ms assumed S3/DynamoDB I/O = "
        f"{e.invocation_ms:.0f} ms; {e.invocations:,} invocations, {e.gb_s:,.0f} GB-s.",
        "",
        *table(e.lambda_lines, e.shared),
    ]
    out.append(f"| **total, this stack** | **${e.total('arm64'):,.2f}** | **${e.total('x86_64'):,.2f}** | |")
    out.append(f"| Amazon Rekognition DetectLabels instead | ${e.rekognition:,.2f} | | "
               "tiered: $0.001/image for the first 1M |")
    out.append(f"| Google Cloud Vision LABEL_DETECTION instead | ${e.google_vision:,.2f} | | "
               "first 1,000 units/month free, then $1.50/1000 |")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------- while a shadow model is set

#: The shadow pass's one log line per batch ("shadow model V answered N images beside L: M the same").
SHADOW_LOG_BYTES_PER_BATCH = 250
#: A version as `catdog train` names it with the default arch (UTC time, arch, data fingerprint):
#: what items carry.
TYPICAL_VERSION = f"20261203-174034-{DEFAULT_ARCH.replace('_', '')}-ceb21618"


def attribute_bytes(name: str, value: Any) -> int:
    """One attribute's share of an item's size, by DynamoDB's rules: the name's UTF-8 bytes plus a
    string's UTF-8 bytes, a number's (significant digits / 2, rounded up) + 1, 1 for a boolean or
    null, and 3 + each element (name included) + 1 per element for a map or list."""
    return len(name.encode()) + _value_bytes(value)


def _value_bytes(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        digits = str(Decimal(str(value)).normalize()).lstrip("-").replace(".", "").lstrip("0") or "0"
        return -(-len(digits.split("E")[0]) // 2) + 1
    if isinstance(value, dict):
        return 3 + sum(attribute_bytes(k, v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(_value_bytes(v) + 1 for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


def shadow_fields(version: str = TYPICAL_VERSION) -> dict[str, Any]:
    """What the function's shadow pass adds to an item (`ResultsTable.put_shadow`), for a typical
    version and a disagreement (the longer key)."""
    return {"shadow_label": "cat", "shadow_confidence": to_decimal(0.912345), "shadow_version": version,
            "shadow_agreement": shadow_agreement(version, False)}


@dataclass(frozen=True)
class ShadowEstimate:
    base: Estimate
    compute_ms: float  # the shadow's LiteRT call, per invocation, on Lambda
    io_ms: float  # its UpdateItem per image, per invocation
    item_bytes: int  # what the shadow fields add to an item
    bench_extra_ms: float  # measured: one invocation with the shadow set minus without
    bench_when: str
    peak_memory_mb: dict[str, float]
    lambda_lines: dict[str, list[Line]]
    shared: list[Line]

    def added(self, arch: str) -> float:
        return sum(x.usd for x in [*self.lambda_lines[arch], *self.shared])


def shadow_estimate(images: int = IMAGES) -> ShadowEstimate:
    """What a shadow model adds per `images` while it is set: its LiteRT call (measured, same run as
    the path without it), one UpdateItem per image (its write units: the table, each dense GSI and
    the shadow-index), the bytes it adds to items, and its log line."""
    base = estimate(images)
    bench = json.loads(LAMBDA_BENCH.read_text()).get("shadow")
    if not bench:
        raise SystemExit("benchmarks/results/lambda.json has no shadow figures: run "
                         "`.venv/bin/python benchmarks/lambda_benchmark.py --shadow-only`")
    if int(bench["batch"]) != base.batch:
        raise SystemExit("benchmarks/results/lambda.json measured the shadow at another batch size")
    inv = bench["per_invocation_p50_ms"]
    extra = max(0.0, float(inv["with_shadow"]) - float(inv["without_shadow"]))
    compute = extra * BENCH_CORES / base.vcpu
    io = base.batch * IO_MS_PER_IMAGE["dynamodb_update"]
    gb_s = base.invocations * (compute + io) / 1000 * base.memory_mb / 1024
    added = sum(attribute_bytes(k, v) for k, v in shadow_fields().items())
    if ITEM_BYTES + added > 1024:
        raise SystemExit("a shadowed item is over 1 KB: its writes cost more than one unit each")
    indexes = dense_indexes()
    writes = images * (1 + len(indexes) + 1)  # the table, each dense GSI (projection ALL), shadow-index
    stored = images * (added * (1 + len(indexes)) + (ITEM_BYTES + added)) / 1e9
    lambda_lines = {
        arch: [Line("Lambda duration, the shadow's LiteRT call and its writes",
                    gb_s * price, f"{gb_s:,.0f} GB-s x ${price:.10f}".rstrip("0"))]
        for arch, price in LAMBDA_GB_S.items()
    }
    shared = [
        Line("DynamoDB writes, the shadow answers", writes * DDB_WRITE_UNIT,
             f"{images:,} UpdateItem to the table, {', '.join(indexes)} and shadow-index = {writes:,} WRU x "
             "$0.625/M"),
        Line("DynamoDB storage + PITR, one month", stored * (DDB_GB_MONTH + DDB_PITR_GB_MONTH),
             f"{added} bytes more per item in the table and {len(indexes)} GSIs, and a copy of each item "
             f"(~{ITEM_BYTES + added} bytes) in shadow-index: {stored:.2f} GB x "
             f"${DDB_GB_MONTH + DDB_PITR_GB_MONTH}/GB-month"),
        Line("CloudWatch Logs", base.invocations * SHADOW_LOG_BYTES_PER_BATCH / 1e9 * LOGS_INGEST_GB,
             f"one line per batch, ~{base.invocations * SHADOW_LOG_BYTES_PER_BATCH / 1e9:.3f} GB"),
    ]
    return ShadowEstimate(base=base, compute_ms=compute, io_ms=io, item_bytes=added, bench_extra_ms=extra,
                          bench_when=str(bench["when"]), peak_memory_mb=dict(bench["peak_memory_mb"]),
                          lambda_lines=lambda_lines, shared=shared)


def render_shadow(e: ShadowEstimate) -> str:
    b = e.base
    mem = e.peak_memory_mb
    out = [
        f"While a shadow model is set (`catdog models shadow`): what it adds per {b.images:,} images",
        "",
        f"One invocation = {b.batch} images: the shadow's LiteRT call {e.bench_extra_ms:.1f} ms measured on "
        f"{BENCH_CORES} cores ({e.bench_when}, the same run as the path without it) x {BENCH_CORES} / "
        f"{b.vcpu:.2f} = {e.compute_ms:.0f} ms, plus {e.io_ms:.0f} ms assumed for its {b.batch} UpdateItem = "
        f"{e.compute_ms + e.io_ms:.0f} ms more than {b.invocation_ms:.0f} ms. Peak memory "
        f"{mem['one_model']} → {mem['with_shadow']} MB (MemorySize 1024 unchanged). The shadow fields add "
        f"{e.item_bytes} bytes to an item ({', '.join(shadow_fields())}).",
        "",
        *table(e.lambda_lines, e.shared),
    ]
    out.append(f"| **added while shadowing** | **${e.added('arm64'):,.2f}** | "
               f"**${e.added('x86_64'):,.2f}** | |")
    out.append(f"| **this stack with a shadow model** | **${b.total('arm64') + e.added('arm64'):,.2f}** | "
               f"**${b.total('x86_64') + e.added('x86_64'):,.2f}** | |")
    return "\n".join(out) + "\n"


def report() -> str:
    """benchmarks/results/cost.md: the stack, then what a shadow model adds while it is set."""
    return render(estimate()) + "\n" + render_shadow(shadow_estimate())


def main() -> int:
    text = report()
    print(text)
    (RESULTS / "cost.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
