"""`catdog upload`: put local photos under the bucket's upload prefix, which triggers classification.

Keys keep each file's path relative to the directory given (as `aws s3 cp --recursive` does), so
folder names such as `cats/` survive into the results table and odd names stay readable.
"""

from __future__ import annotations

import mimetypes
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catdog.config import DEFAULT_UPLOAD_PREFIX
from catdog.plural import plural
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.targets import ENV_BUCKET, client, resolve_name


def run(paths: Sequence[str], *, prefix: str, bucket: str | None, workers: int, progress: bool,
        stack: str | None) -> int:
    """Upload `paths` under `prefix` (every path checked before anything remote); the exit code."""
    items = plan_uploads(paths, prefix)  # fails before resolving anything remote
    if not items:
        raise ValueError(f"nothing to upload in {' '.join(paths)} (no files; hidden ones are skipped)")
    target = resolve_name(bucket, ENV_BUCKET, "bucket", "bucket", stack)
    classified = target.state.upload_prefix if target.state else DEFAULT_UPLOAD_PREFIX
    if note := classified_prefix_note(prefix, classified):
        print(f"catdog upload: {printable(note)}", file=sys.stderr)
    if skipped := hidden_files(paths):
        print(f"catdog upload: skipped {plural(skipped, 'hidden file')} (names starting with '.')",
              file=sys.stderr)
    report = upload_items(client("s3"), target.name, items, workers=workers, progress=progress)
    for key, error in sorted(report.failed.items()):
        print(f"  FAILED {printable(key)}: {printable(error)}", file=sys.stderr)
    where = f"s3://{target.name}/{printable(prefix)}"
    if report.interrupted:
        print(f"catdog upload: interrupted: {len(report.uploaded)} of {plural(len(items), 'file')} "
              f"uploaded to {where}; the other {len(items) - len(report.uploaded)} not sent", file=sys.stderr)
        return exit_codes.INTERRUPTED
    print(f"uploaded {plural(len(report.uploaded), 'file')} ({report.bytes / 1e6:.1f} MB) to {where}")
    return exit_codes.PARTIAL if report.failed else exit_codes.OK


@dataclass(frozen=True)
class UploadItem:
    path: Path
    key: str


@dataclass
class UploadReport:
    uploaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # key -> error
    bytes: int = 0
    interrupted: bool = False  # Ctrl-C: what had not started was not sent


def normalise_prefix(prefix: str) -> str:
    """`uploads` and `/uploads/` both mean `uploads/`; "" means the bucket root."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def _hidden(root: Path, path: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _visible_files(root: Path) -> list[Path]:
    """Every file under `root`, skipping hidden ones (`.DS_Store`, `.git/`) that are never photos."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(root, p))


def hidden_files(paths: Sequence[str | Path]) -> int:
    """How many files `plan_uploads` leaves out as hidden (said, so that nothing vanishes unnoticed)."""
    return sum(1 for raw in paths if Path(raw).is_dir()
               for p in Path(raw).rglob("*") if p.is_file() and _hidden(Path(raw), p))


def classified_prefix_note(prefix: str, classified_prefix: str) -> str | None:
    """A warning when uploads land where the function does not look (it answers for one prefix)."""
    if normalise_prefix(prefix).startswith(classified_prefix):
        return None
    return (f"note: {normalise_prefix(prefix) or 'the bucket root'} is outside {classified_prefix}, the only "
            "prefix the function classifies: these files will get no item in the results table")


def plan_uploads(paths: Sequence[str | Path], prefix: str = DEFAULT_UPLOAD_PREFIX) -> list[UploadItem]:
    """Map local paths to keys before sending anything, so a typo fails before a half-done upload."""
    prefix = normalise_prefix(prefix)
    items: list[UploadItem] = []
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"no such file or directory: {', '.join(missing)}")
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            items.extend(UploadItem(f, prefix + f.relative_to(path).as_posix()) for f in _visible_files(path))
        else:
            items.append(UploadItem(path, prefix + path.name))
    seen: dict[str, Path] = {}
    for item in items:
        if item.key in seen and seen[item.key] != item.path:
            raise ValueError(f"{item.path} and {seen[item.key]} would both be uploaded as {item.key!r}")
        seen[item.key] = item.path
    return list({i.key: i for i in items}.values())


def content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def upload_items(
    s3: Any,
    bucket: str,
    items: Iterable[UploadItem],
    *,
    workers: int = 8,
    progress: bool = True,
    on_done: Callable[[UploadItem], None] | None = None,
) -> UploadReport:
    """Upload in parallel (S3 PUTs are latency-bound) with a tqdm bar; one failure never stops the rest.

    Ctrl-C stops promptly: files not yet started are not sent, the ones in flight finish (a PUT is
    all or nothing), and the report says `interrupted` with exactly what was uploaded.
    """
    todo = list(items)
    report = UploadReport()

    def put(item: UploadItem) -> int:
        data = item.path.read_bytes()
        s3.put_object(Bucket=bucket, Key=item.key, Body=data, ContentType=content_type(item.path))
        return len(data)

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    with tqdm(total=len(todo), unit="file", desc="upload", disable=not progress) as bar:
        futures = {pool.submit(put, item): item for item in todo}
        try:
            for future in as_completed(futures):
                _collect(future, futures[future], report, on_done)
                bar.update(1)
        except KeyboardInterrupt:
            report.interrupted = True
            for future in futures:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            for future, item in futures.items():  # the ones that were in flight when Ctrl-C came
                seen = item.key in report.uploaded or item.key in report.failed
                if future.done() and not future.cancelled() and not seen:
                    _collect(future, item, report, on_done)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return report


def _collect(future: Future[int], item: UploadItem, report: UploadReport,
             on_done: Callable[[UploadItem], None] | None) -> None:
    if isinstance(future.exception(), KeyboardInterrupt):
        return  # interrupted inside the PUT: not uploaded, not a failure to report
    try:
        report.bytes += future.result()
        report.uploaded.append(item.key)
        if on_done:
            on_done(item)
    except Exception as exc:  # keep going; the report names what failed and why
        report.failed[item.key] = f"{type(exc).__name__}: {exc}"
