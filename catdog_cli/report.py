"""`catdog report --output report.html`: the review page's gallery as one static, read-only file.

For sharing with someone who has no AWS access: the summary (counts per label, unknown, failed,
low confidence, reviewed; a confidence histogram per model label; the reviewed accuracy per model
version; while a shadow model is set, its comparison with the live one and the promote gate's
verdict, as `catdog models compare` gives them) over the whole table, and the newest `--limit`
photos as tiles whose thumbnails are embedded as `data:` URIs. The file loads nothing from anywhere
(its Content-Security-Policy allows only inline styles and `data:` images) and has no script: it
cannot write, and it cannot leak.
Thumbnails come from the same decoder sandbox and disk cache as the page.
"""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from catdog.model_repo import ModelRepo
from catdog_cli import exit_codes
from catdog_cli.commands.common import DEFAULT_REQUIRE_SHADOW
from catdog_cli.display import printable
from catdog_cli.output_files import write_file
from catdog_cli.review import DEFAULT_THRESHOLD, stats
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.preflight import preflight
from catdog_cli.review.shadow import Verdict, compare, judge
from catdog_cli.review.templates import render
from catdog_cli.review.thumbnails import Thumbnailer, placeholder
from catdog_cli.review.views import MAX_PAGE_SIZE, View, fetch_page
from catdog_cli.targets import table_and_bucket
from training_job.settings import DEFAULT_MIN_ACCURACY

DEFAULT_LIMIT = 500


def run(output: Path, *, limit: int, threshold: float, thumb_size: int, table: str | None, bucket: str | None,
        stack: str | None, require_shadow: int = DEFAULT_REQUIRE_SHADOW,
        min_accuracy: float = DEFAULT_MIN_ACCURACY) -> int:
    """`catdog report`: build the page from the table and write it whole; the exit code."""
    if limit < 0:
        raise ValueError(f"--limit {limit}: give 0 (no tiles, the summary only) or more")
    table_name, bucket_name = table_and_bucket(table, bucket, stack)
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    preflight(ddb, s3, table_name, bucket_name)
    thumbnailer = Thumbnailer(s3, bucket_name, side=thumb_size)
    catalog = Catalog(ModelRepo(s3, bucket_name), warn=_warn)
    try:
        html = build_report(ddb, table_name, bucket_name, catalog, thumbnailer, limit=limit,
                            threshold=threshold, require_shadow=require_shadow, min_accuracy=min_accuracy)
    finally:
        thumbnailer.close()
    images = html.count('<figure class="tile')
    size = write_report(output, html)
    print(f"wrote {printable(output)}: {images} images ({size / 1e6:.1f} MB, self-contained, read-only) "
          f"from table {printable(table_name)}")
    refused = catalog.live_refused()
    if refused:  # the figures stand, but the live model's own files are not what was published
        print(f"catdog report: the live model's manifest was not used ({printable(refused)}); the "
              "report says so at the top", file=sys.stderr)
        return exit_codes.PARTIAL
    return exit_codes.OK


def _warn(message: str) -> None:
    print(f"catdog report: warning: {printable(message)}", file=sys.stderr)


def newest(ddb: Any, table: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` classified or failed items, through the page's own paging."""
    streams = View("all").streams([])
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(items) < limit:
        page = fetch_page(ddb, table, streams, cursor, min(MAX_PAGE_SIZE, limit - len(items)))
        items += page.items
        cursor = page.cursor
        if cursor is None:
            break
    return items


def shadow_verdict(ddb: Any, table: str, catalog: Catalog, require: int,
                   min_accuracy: float) -> Verdict | None:
    """The shadow model's comparison with the live one, judged as `catdog models compare` judges it;
    None while no shadow model is set."""
    pointer = catalog.shadow()
    if pointer is None:
        return None
    c = compare(ddb, table, pointer.version, catalog.trained_on())
    return judge(c, catalog.manifest(pointer.version), require, min_accuracy)


def data_uri(body: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(body).decode()}"


def build_report(ddb: Any, table: str, bucket: str, catalog: Catalog, thumbnailer: Thumbnailer, *,
                 limit: int = DEFAULT_LIMIT, threshold: float = DEFAULT_THRESHOLD,
                 require_shadow: int = DEFAULT_REQUIRE_SHADOW,
                 min_accuracy: float = DEFAULT_MIN_ACCURACY) -> str:
    labels = catalog.all_labels()
    counts = stats.counts(ddb, table, labels, threshold)
    items = newest(ddb, table, limit)
    tiles = []
    for item in items:
        etag = str(item.get("etag") or "")
        if etag:
            thumb = thumbnailer.get(str(item["image"]), etag)
        else:  # failed before the object was read: there is no version to show
            thumb = placeholder("no etag", thumbnailer.side)
        tiles.append((item, data_uri(thumb.body, thumb.content_type)))
    bins = stats.HISTOGRAM_BINS
    return render("report", table=table, bucket=bucket, live=catalog.live(), counts=counts,
                  shadow=shadow_verdict(ddb, table, catalog, require_shadow, min_accuracy),
                  accuracy=stats.reviewed_accuracy(ddb, table, labels, catalog.trained_on()),
                  histograms=stats.confidence_histograms(ddb, table, bins),
                  edges=[f"{i / bins:.1f}–{(i + 1) / bins:.1f}" for i in range(bins)],
                  items=items, tiles=tiles, more=counts.total > len(items), warnings=catalog.warnings(),
                  made_at=datetime.now(UTC).isoformat(timespec="seconds"))


def write_report(output: Path, html: str) -> int:
    """Write the file whole (never half a report, never through a planted name); its size in bytes."""
    return write_file(output, html)
