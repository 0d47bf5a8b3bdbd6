"""`catdog dataset export DEST`: a training data set from the people's corrections.

What goes in: every reviewed image under its human label (through the sparse `review-index`), and
with `--include-confident P` the images nobody reviewed that the model labelled with confidence
≥ P (through `status-index`). Images reviewed as `unknown` (none of the labels) go to `_unknown/`,
which the trainer never reads as a class, so they can be used to check the unknown threshold.
Copies of one photo (the same ETag under several keys) go in once: a copy in train and another
in validation would make the validation accuracy a memory test.

The layout is the trainer's own (`{train,validation}/<folder>/`), the folders named as the live
model's data set named them (`cats/` for `cat`) when that name is a safe one, else a cleaned,
unique form of the label (`catdog.labels`): a label can never name a path outside the export.
So `catdog train --data DEST` takes it as is and `--data ORIGINAL --data DEST` merges it with the
original data set into the same classes. The split is per label, seeded, and the same for the
same images and seed. Each file is the object version that was labelled (GET or server-side COPY
with If-Match on the recorded etag): a photo re-uploaded since is left out and listed, never
exported under the old label. `catdog-dataset.json` is written last and lists every image, where
it went and why; the trainer reads it to record in the model's manifest which reviewed photos it
learned from (`data.trained_on`), so that their reviews never count towards its accuracy.

A destination on S3 must be one the pipeline does not read: not under a prefix whose uploads the
function is notified of (the copies would be classified again, as new photos, and a later export
would take them twice), and not under the model store's `models/`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from catdog.aws_errors import error_code, is_not_found, is_precondition_failed
from catdog.config import DEFAULT_UPLOAD_PREFIX
from catdog.errors import CatdogError
from catdog.labels import folder_name, unique_folders
from catdog.manifest import DATASET_RECORD_FILE
from catdog.model_repo import ModelRepo
from catdog.plural import plural
from catdog.results import UNKNOWN_LABEL
from catdog.s3uri import S3Uri, is_s3
from catdog.status import Status
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.output_files import write_file
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.preflight import preflight
from catdog_cli.review.stats import query_all
from catdog_cli.review.views import STATUS_INDEX, Stream, reviewed_streams
from catdog_cli.targets import table_and_bucket
from catdog_local.state import stack_owning

MANIFEST = DATASET_RECORD_FILE
#: Where the photos reviewed as `unknown` go: a `_` folder is never a class to the trainer.
UNKNOWN_FOLDER = "_unknown"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PROJECTION = ("image", "etag", "status", "human_label", "model_label", "confidence", "model_version")


def run_export(dest: str, *, include_confident: float | None, validation_split: float, seed: int,
               progress: bool, table: str | None, bucket: str | None, stack: str | None) -> int:
    """`catdog dataset export`: plan the split, write every image and the manifest; the exit code."""
    table_name, bucket_name = table_and_bucket(table, bucket, stack)
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    preflight(ddb, s3, table_name, bucket_name)
    repo = ModelRepo(s3, bucket_name)
    check_destination(s3, dest, repo, upload_prefix(bucket_name))
    check_empty(s3, dest)
    catalog = Catalog(repo, warn=_warn)
    live = catalog.live()
    manifest = catalog.manifest(live.version) if live else None
    labels = catalog.all_labels()
    folders = export_folders(labels, model_folders(manifest))
    collected, copies = without_copies(collect(ddb, table_name, labels, include_confident))
    chosen = plan(collected, folders, validation_split, seed)
    if not chosen:
        raise ValueError("nothing to export: no reviewed images"
                         + ("" if include_confident else " (add --include-confident P to take the "
                                                         "model's confident answers too)"))
    header = manifest_header(table_name, bucket_name, seed, validation_split, include_confident, folders)
    header["copies_left_out"] = [{"image": image, "copy_of": kept} for image, kept in sorted(copies.items())]
    with tqdm(total=len(chosen), unit="image", desc="export", disable=not progress) as bar:
        report = export(s3, bucket_name, dest, chosen, header, progress=bar.update)
    written = len(chosen) - len(report.skipped)
    parts = [f"{split} " + ", ".join(f"{label} {n}" for label, n in sorted(c.items()))
             for split, c in sorted(report.counts().items())]
    print(f"exported {plural(written, 'image')} to {printable(dest)}: {'; '.join(parts)} "
          f"(manifest {MANIFEST})")
    if copies:
        print(f"  left out {plural(len(copies), 'copy', 'copies')} of photos already in the set (same ETag; "
              f"listed in {MANIFEST})", file=sys.stderr)
    for image, why in sorted(report.skipped.items()):
        print(f"  SKIPPED {printable(image)}: {printable(why)}", file=sys.stderr)
    return exit_codes.PARTIAL if report.skipped else exit_codes.OK


def _warn(message: str) -> None:
    print(f"catdog dataset: warning: {printable(message)}", file=sys.stderr)


def upload_prefix(bucket: str) -> str:
    """The prefix the function watches in `bucket` when its notifications cannot be read."""
    state = stack_owning(bucket=bucket)
    return state.upload_prefix if state is not None else DEFAULT_UPLOAD_PREFIX


def watched_prefixes(s3: Any, bucket: str) -> list[str] | None:
    """The key prefixes of `bucket` whose new objects S3 announces (to a queue, a function or a
    topic): "" for all of them; None when the notification settings cannot be read."""
    try:
        config = s3.get_bucket_notification_configuration(Bucket=bucket)
    except (ClientError, BotoCoreError):
        return None
    prefixes = []
    for kind in ("QueueConfigurations", "LambdaFunctionConfigurations", "TopicConfigurations"):
        for rule in config.get(kind) or []:
            if not any(str(e).startswith("s3:ObjectCreated") for e in rule.get("Events") or []):
                continue
            filters = ((rule.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
            prefixes.append(next((str(f.get("Value") or "") for f in filters
                                  if str(f.get("Name")).lower() == "prefix"), ""))
    return prefixes


def check_destination(s3: Any, dest: str, repo: ModelRepo, known_upload_prefix: str) -> None:
    """Refuse an S3 destination the pipeline reads: under a prefix the function is notified of, or
    the model store's. A local directory is always fine."""
    if not is_s3(dest):
        return
    loc = S3Uri.parse(dest)
    prefix = loc.key if not loc.key or loc.key.endswith("/") else loc.key + "/"
    watched = watched_prefixes(s3, loc.bucket)
    if watched is None:  # cannot tell: assume what the stack watches
        watched = [known_upload_prefix] if loc.bucket == repo.bucket else []
    for w in watched:
        if prefix.startswith(w) or w.startswith(prefix):
            raise CatdogError(
                f"refusing to export to {dest}: the function classifies every new object under "
                f"s3://{loc.bucket}/{w} (its copies would be classified again as new photos, and a later "
                f"export would take them twice); export to another prefix, e.g. s3://{loc.bucket}/datasets/NAME/")
    if loc.bucket == repo.bucket and (prefix.startswith(repo.prefix) or repo.prefix.startswith(prefix)):
        raise CatdogError(
            f"refusing to export to {dest}: {repo.uri()} is the model store (a folder there would be "
            f"listed as a model version); export to another prefix, e.g. s3://{loc.bucket}/datasets/NAME/")


def export_folders(labels: Sequence[str], recorded: dict[str, str]) -> dict[str, str]:
    """label -> its folder: the one the model's training data used when recorded, each made safe and
    unique (`catdog.labels.unique_folders`); never `_unknown`, `.`/`..` or a path."""
    def preferred(label: str) -> str:
        folder = recorded.get(label) or ""
        return folder if folder and folder_name(folder) == folder else label  # a crafted one: the label's

    return unique_folders([(label, preferred(label)) for label in labels], taken=[UNKNOWN_FOLDER])


def without_copies(chosen: list[Chosen]) -> tuple[list[Chosen], dict[str, str]]:
    """One image per ETag (a person's label before the model's, then by key): (kept, copy -> kept)."""
    kept: dict[str, Chosen] = {}
    copies: dict[str, str] = {}
    for c in sorted(chosen, key=lambda c: (c.source != "human", c.image)):
        if c.etag in kept:
            copies[c.image] = kept[c.etag].image
        else:
            kept[c.etag] = c
    return sorted(kept.values(), key=lambda c: c.image), copies


@dataclass
class Chosen:
    """One image of the data set: which object version, which label, from whom, and where it goes."""

    image: str
    etag: str
    label: str
    source: str  # "human" or "model"
    confidence: float | None = None
    model_version: str | None = None
    split: str | None = None  # train / validation; None for _unknown
    path: str = ""


@dataclass
class ExportReport:
    dest: str
    chosen: list[Chosen] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # image -> why

    def counts(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for c in self.chosen:
            if c.image not in self.skipped:
                out.setdefault(c.split or UNKNOWN_FOLDER, Counter())[c.label] += 1
        return out


def collect(ddb: Any, table: str, labels: Sequence[str], include_confident: float | None) -> list[Chosen]:
    """Reviewed images (human label), then, optionally, confident unreviewed ones (model label)."""
    chosen: dict[str, Chosen] = {}
    for stream in reviewed_streams(labels):
        for item in query_all(ddb, table, stream, _PROJECTION):
            if item.get("status") == Status.CLASSIFIED.value and item.get("etag") and item.get("human_label"):
                chosen[item["image"]] = Chosen(item["image"], str(item["etag"]), str(item["human_label"]),
                                               "human", item.get("confidence"), item.get("model_version"))
    if include_confident is not None:
        if not 0.0 < include_confident <= 1.0:
            raise ValueError(f"--include-confident {include_confident:g} is not a probability in (0, 1]")
        confident = Stream(STATUS_INDEX, "status", Status.CLASSIFIED.value,
                           filter="#c >= :p AND attribute_not_exists(#h) AND #m <> :u",
                           names=(("#c", "confidence"), ("#h", "human_label"), ("#m", "model_label")),
                           values=((":p", {"N": str(include_confident)}), (":u", {"S": UNKNOWN_LABEL})))
        for item in query_all(ddb, table, confident, _PROJECTION):
            if item.get("etag") and item["image"] not in chosen:
                chosen[item["image"]] = Chosen(item["image"], str(item["etag"]), str(item["model_label"]),
                                               "model", item.get("confidence"), item.get("model_version"))
    return sorted(chosen.values(), key=lambda c: c.image)


def file_name(image: str) -> str:
    """A safe, unique file name for an object: its key's last part, cleaned, after a hash of the URI."""
    base = _UNSAFE.sub("_", PurePosixPath(image.split("://", 1)[-1]).name).strip("._") or "image"
    return f"{hashlib.sha256(image.encode()).hexdigest()[:12]}-{base[-80:]}"


def plan(chosen: list[Chosen], folders: dict[str, str], validation_split: float, seed: int) -> list[Chosen]:
    """Assign every image its split and relative path: per label, a seeded shuffle of a sorted list."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"--validation-split {validation_split:g} must be in [0, 1)")
    rng = random.Random(seed)
    by_label: dict[str, list[Chosen]] = {}
    for c in chosen:
        by_label.setdefault(c.label, []).append(c)
    for label in sorted(by_label):
        members = sorted(by_label[label], key=lambda c: c.image)
        if label == UNKNOWN_LABEL:
            for c in members:
                c.split, c.path = None, f"{UNKNOWN_FOLDER}/{file_name(c.image)}"
            continue
        rng.shuffle(members)
        n_val = round(len(members) * validation_split)
        if validation_split > 0 and len(members) >= 2:
            n_val = max(1, n_val)
        folder = folders.get(label) or export_folders([label], {})[label]
        for i, c in enumerate(members):
            c.split = "validation" if i < n_val else "train"
            c.path = f"{c.split}/{folder}/{file_name(c.image)}"
    return chosen


def model_folders(manifest: Any) -> dict[str, str]:
    """label -> the class folder the model's training data used (`cat` -> `cats`), when recorded."""
    data = getattr(manifest, "data", None) or {}
    labels, folders = data.get("labels") or [], data.get("folders") or []
    if isinstance(labels, list) and isinstance(folders, list) and len(labels) == len(folders):
        return {str(label): str(folder) for label, folder in zip(labels, folders, strict=True)}
    return {}


# ------------------------------------------------------------------------------------------- writing


def _why(exc: Exception) -> str:
    if is_precondition_failed(exc):
        return "the object changed since it was labelled (re-uploaded); not exported under the old label"
    if is_not_found(exc):
        return "the object is gone"
    return f"{error_code(exc) or type(exc).__name__}: {exc}"


def check_empty(s3: Any, dest: str) -> None:
    """Refuse a destination that already holds files: an old export's images would mix in."""
    if is_s3(dest):
        loc = S3Uri.parse(dest)
        prefix = loc.key if not loc.key or loc.key.endswith("/") else loc.key + "/"
        if s3.list_objects_v2(Bucket=loc.bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0):
            raise CatdogError(f"{dest} already holds objects; export to a new name (e.g. datasets/<date>/)")
        return
    path = Path(dest)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise CatdogError(f"{dest} exists and is not an empty directory; export to a new one")


def export(s3: Any, bucket: str, dest: str, chosen: list[Chosen], manifest: dict[str, Any],
           progress: Callable[[int], object] | None = None) -> ExportReport:
    """Write every planned image (If-Match on its etag), then the manifest; returns what happened."""
    report = ExportReport(dest, chosen)
    to_s3 = is_s3(dest)
    loc = S3Uri.parse(dest) if to_s3 else None
    prefix = (loc.key if not loc.key or loc.key.endswith("/") else loc.key + "/") if loc else ""
    for c in chosen:
        key = S3Uri.parse(c.image).key
        try:
            if loc is not None:  # server-side: the bytes never leave S3
                # HEAD first: not every S3-compatible store (moto included) enforces the copy's precondition
                s3.head_object(Bucket=bucket, Key=key, IfMatch=f'"{c.etag}"')
                s3.copy_object(Bucket=loc.bucket, Key=prefix + c.path,
                               CopySource={"Bucket": bucket, "Key": key}, CopySourceIfMatch=f'"{c.etag}"')
            else:
                body = s3.get_object(Bucket=bucket, Key=key, IfMatch=f'"{c.etag}"')["Body"].read()
                write_file(Path(dest) / c.path, body)
        except (ClientError, BotoCoreError) as exc:
            report.skipped[c.image] = _why(exc)
        if progress:
            progress(1)
    manifest = {**manifest, "counts": {k: dict(v) for k, v in sorted(report.counts().items())},
                "images": [asdict(c) for c in chosen if c.image not in report.skipped],
                "skipped": [{"image": i, "why": w} for i, w in sorted(report.skipped.items())]}
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    if loc is not None:
        s3.put_object(Bucket=loc.bucket, Key=prefix + MANIFEST, Body=text.encode(),
                      ContentType="application/json")
    else:
        write_file(Path(dest) / MANIFEST, text)
    return report


def manifest_header(table: str, bucket: str, seed: int, validation_split: float,
                    include_confident: float | None, folders: dict[str, str]) -> dict[str, Any]:
    return {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "table": table,
            "bucket": bucket, "seed": seed, "validation_split": validation_split,
            "include_confident": include_confident, "folders": folders,
            "layout": "{train,validation}/<folder>/ from human labels (and confident model labels); "
                      "_unknown/ = reviewed as unknown, none of the labels (never a class)"}
