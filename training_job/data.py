"""Where training images come from: a directory, a `.zip`, an http(s) URL of a zip, or `s3://`.

Every source is reduced to the same thing, a list of `(split, class folder, name, reader)` entries,
so the rest of the trainer never cares where the bytes live. Images are decoded with the serving
path's `preprocess_image` (the only decoder), and anything it refuses is skipped and counted, never
a crash: the full Kaggle set has ~1,600 unreadable files and a trainer that dies on them is useless.

A source made by `catdog dataset export` carries its record (`catdog-dataset.json`): which photo
and object version each file is. The image ids of the files actually used go into the manifest's
`data.trained_on`, so that the model's reviewed accuracy leaves out the photos it learned from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from catdog.errors import BadInputError, CatdogError
from catdog.labels import LabelError, check_labels
from catdog.manifest import DATASET_RECORD_FILE, UNKNOWN_LABEL, image_id
from catdog.plural import plural
from catdog.preprocess import preprocess_image
from catdog.s3uri import S3Uri, is_s3

log = logging.getLogger(__name__)

SPLITS = ("train", "validation")
#: Folder names accepted for the validation split besides `validation`.
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
}


class DataError(CatdogError):
    """The data source cannot be used as given (missing, empty class, single class...)."""


def cache_dir() -> Path:
    """`CATDOG_CACHE` or `~/.cache/catdog`: downloads land here once and are reused."""
    return Path(os.environ.get("CATDOG_CACHE", Path.home() / ".cache" / "catdog"))


Reader = Callable[[], bytes]


@dataclass(frozen=True)
class Entry:
    """One file found in the source, not yet read."""

    split: str | None  # "train", "validation", or None when the source has no split folders
    folder: str  # the class sub-folder name as found (e.g. "cats")
    name: str  # path inside the source, for messages and the fingerprint
    read: Reader = field(compare=False, repr=False)


@dataclass
class Dataset:
    """Decoded images for one split, in the model's input size, as compact uint8."""

    images: np.ndarray  # (n, h, w, 3) uint8
    labels: np.ndarray  # (n,) int class index
    names: list[str]


@dataclass
class LoadedData:
    labels: list[str]  # what users see, e.g. ["cat", "dog"]
    folders: list[str]  # the class folder names, same order, e.g. ["cats", "dogs"]
    train: Dataset
    validation: Dataset
    skipped: list[dict[str, str]]  # [{"name": ..., "reason": ...}]
    fingerprint: str
    sources: list[str]
    validation_carved: bool
    #: image ids of the reviewed photos used (train and validation), from the sources' export records
    trained_on: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The `data` block of the manifest: enough to know what the model saw."""
        return {
            "sources": self.sources,
            "fingerprint": self.fingerprint,
            "labels": self.labels,
            "folders": self.folders,
            "train_count": len(self.train.labels),
            "validation_count": len(self.validation.labels),
            "per_class": {
                label: {
                    "train": int((self.train.labels == i).sum()),
                    "validation": int((self.validation.labels == i).sum()),
                }
                for i, label in enumerate(self.labels)
            },
            "validation_carved": self.validation_carved,
            "skipped_count": len(self.skipped),
            "skipped": self.skipped[:50],
            "trained_on": self.trained_on,
        }


# --------------------------------------------------------------------------------------------- labels


def singularize(folders: Sequence[str]) -> list[str]:
    """`cats`/`dogs` → `cat`/`dog`: users see labels, folders are plural by convention.

    Only applied when every name is a simple plural and the results stay distinct, so `bus`/`glass`
    or already-singular names are left alone.
    """

    def one(name: str) -> str | None:
        if name.endswith("ies") and len(name) > 3:
            return name[:-3] + "y"
        if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
            return name[:-1]
        return None

    singular = [one(f) for f in folders]
    if all(singular) and len(set(singular)) == len(singular):
        return [s for s in singular if s]
    return list(folders)


# --------------------------------------------------------------------------------------------- sources


def _hidden(parts: Sequence[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _classify_path(parts: Sequence[str]) -> tuple[str | None, str] | None:
    """(split, class folder) for a relative file path, or None when it is not a class member.

    Folders whose name starts with `_` are never classes: `catdog dataset export` keeps the images
    a reviewer called `unknown` apart in `_unknown/` (for checking the unknown threshold).
    """
    if _hidden(parts) or any(p.startswith("_") for p in parts[:-1]):
        return None
    if len(parts) == 3 and parts[0].lower() in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[parts[0].lower()], parts[1]
    if len(parts) == 2 and parts[0].lower() not in _SPLIT_ALIASES:
        return None, parts[0]
    return None


def _strip_single_top(paths: list[PurePosixPath]) -> int:
    """How many leading folders to drop: the canonical archive wraps everything in one top folder."""
    tops = {p.parts[0] for p in paths if len(p.parts) > 1 and not _hidden(p.parts[:1])}
    if len(tops) == 1 and next(iter(tops)).lower() not in _SPLIT_ALIASES:
        # only strip when the top folder is a wrapper (it holds the splits or the class folders)
        return 1
    return 0


def _any_file(parts: Sequence[str]) -> tuple[str | None, str] | None:
    """Every visible file counts, whatever the layout (its folder is kept for messages)."""
    return None if _hidden(parts) else (None, parts[-2] if len(parts) > 1 else "")


def _entries_from_relpaths(
    relpaths: list[PurePosixPath], reader: Callable[[PurePosixPath], Reader], every_file: bool = False
) -> list[Entry]:
    drop = _strip_single_top(relpaths)
    entries = []
    for rel in relpaths:
        parts = rel.parts[drop:]
        where = _any_file(rel.parts) if every_file else _classify_path(parts)
        if where is not None:
            entries.append(Entry(where[0], where[1], str(rel), reader(rel)))
    return entries


def _dir_entries(root: Path, every_file: bool = False) -> list[Entry]:
    rel = sorted(PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file())
    return _entries_from_relpaths(rel, lambda r: lambda: (root / r).read_bytes(), every_file)


def _zip_entries(path: Path, every_file: bool = False) -> list[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: not a readable zip archive ({exc})") from exc
    names = {PurePosixPath(i.filename): i.filename for i in archive.infolist() if not i.is_dir()}
    return _entries_from_relpaths(sorted(names), lambda r: lambda: archive.read(names[r]), every_file)


def _download(url: str) -> Path:
    """Fetch `url` once into the cache (atomic rename, so an interrupted download is never reused)."""
    name = PurePosixPath(urllib.parse.urlparse(url).path).name or "data.zip"
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    target = cache_dir() / "datasets" / f"{digest}-{name}"
    plain = cache_dir() / "datasets" / name  # a file placed by hand under its own name also counts
    for candidate in (target, plain):
        if candidate.is_file():
            log.info("using cached %s", candidate)
            return candidate
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}") as bar:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot download {url}: {exc}") from exc
    tmp.replace(target)
    return target


def _s3_entries(uri: str, every_file: bool = False) -> list[Entry]:
    loc = S3Uri.parse(uri)
    prefix = loc.key if not loc.key or loc.key.endswith("/") else loc.key + "/"
    s3 = boto3.client("s3")
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    except (BotoCoreError, ClientError) as exc:
        raise DataError(f"cannot list {uri}: {exc}") from exc
    rel = {PurePosixPath(k[len(prefix) :]): k for k in keys}

    def reader(r: PurePosixPath) -> Reader:
        return lambda: s3.get_object(Bucket=loc.bucket, Key=rel[r])["Body"].read()

    return _entries_from_relpaths(sorted(rel), reader, every_file)


def find_entries(source: str, every_file: bool = False) -> list[Entry]:
    """List the class members of any supported source (nothing is decoded yet).

    `every_file=True` lists every visible file instead, whatever the layout: for sets that have no
    classes, e.g. the "should be unknown" sets `catdog evaluate --ood` scores.
    """
    if is_s3(source):
        return _s3_entries(source, every_file)
    if source.startswith(("http://", "https://")):
        return _zip_entries(_download(source), every_file)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{source}: no such file or directory")
    if path.is_dir():
        return _dir_entries(path, every_file)
    if zipfile.is_zipfile(path):
        return _zip_entries(path, every_file)
    raise DataError(f"{source}: neither a directory, a .zip, an http(s) URL nor s3://")


def _export_record(source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """(the images, the copies left out) the `catdog dataset export` record at the root of `source`
    (or of its one top folder) lists, if there is one."""
    raw: bytes | None = None
    if is_s3(source):
        loc = S3Uri.parse(source)
        prefix = loc.key if not loc.key or loc.key.endswith("/") else loc.key + "/"
        try:
            key = prefix + DATASET_RECORD_FILE
            raw = boto3.client("s3").get_object(Bucket=loc.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError):
            return None
    else:
        path = _download(source) if source.startswith(("http://", "https://")) else Path(source).expanduser()
        if path.is_dir():
            found = [*path.glob(DATASET_RECORD_FILE), *path.glob(f"*/{DATASET_RECORD_FILE}")]
            raw = found[0].read_bytes() if len(found) == 1 else None
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if PurePosixPath(n).name == DATASET_RECORD_FILE
                         and len(PurePosixPath(n).parts) <= 2]
                raw = archive.read(names[0]) if len(names) == 1 else None
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        images, copies = record["images"], record.get("copies_left_out", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        images = copies = None
    if not isinstance(images, list) or not isinstance(copies, list):
        raise DataError(f"{source}: {DATASET_RECORD_FILE} is not a `catdog dataset export` record")
    return ([e for e in images if isinstance(e, dict) and e.get("path") and e.get("image") and e.get("etag")],
            [c for c in copies if isinstance(c, dict) and c.get("image") and c.get("copy_of")])


def exported_images(sources: Sequence[str], used: Sequence[str]) -> list[str]:
    """The image ids of the exported photos among the files `used` (entry names, as `find_all_entries`
    names them), matched through each source's export record, and of the copies the export left out
    of them (the same bytes under another key: the model learned those too): sorted, no duplicates."""
    ids: set[str] = set()
    for i, source in enumerate(sources):
        record = _export_record(source)
        if not record or not record[0]:
            continue
        images, copies = record
        by_path = {str(e["path"]): e for e in images}
        tag = f"[{i}]" if len(sources) > 1 else ""
        learned: list[dict[str, Any]] = []
        for name in used:
            if not name.startswith(tag):
                continue
            parts = name[len(tag):].split("/")  # the path in the record, under any wrapper folder
            suffixes = ("/".join(parts[k:]) for k in range(len(parts)))
            learned += [by_path[p] for p in suffixes if p in by_path]
        etag_of = {str(e["image"]): str(e["etag"]) for e in learned}
        ids.update(image_id(str(e["image"]), str(e["etag"])) for e in learned)
        ids.update(image_id(str(c["image"]), etag_of[str(c["copy_of"])]) for c in copies
                   if str(c["copy_of"]) in etag_of)  # a copy has the ETag of the one kept
    return sorted(ids)


# --------------------------------------------------------------------------------------------- loading


def _limit(entries: list[Entry], limit: int | None) -> list[Entry]:
    """First `limit` files per (split, class) in name order: a fixed, reproducible subset."""
    if not limit:
        return entries
    seen: dict[tuple[str | None, str], int] = {}
    out = []
    for e in sorted(entries, key=lambda e: e.name):
        key = (e.split, e.folder)
        if seen.get(key, 0) < limit:
            seen[key] = seen.get(key, 0) + 1
            out.append(e)
    return out


def _decode_all(
    entries: Sequence[Entry],
    size: tuple[int, int],
    folders: list[str],
    desc: str,
    hasher: hashlib._Hash,
    skipped: list[dict[str, str]],
) -> Dataset:
    h, w = size
    images = np.empty((len(entries), h, w, 3), dtype=np.uint8)
    labels: list[int] = []
    names: list[str] = []
    for entry in tqdm(entries, desc=desc, unit="img"):
        try:
            raw = entry.read()
        except OSError as exc:
            raise DataError(f"cannot read {entry.name}: {exc}") from exc
        hasher.update(f"{entry.split}/{entry.folder}/{PurePosixPath(entry.name).name}".encode())
        hasher.update(hashlib.sha256(raw).digest())
        try:
            pixels = preprocess_image(raw, size).pixels
        except BadInputError as exc:
            skipped.append({"name": entry.name, "reason": exc.reason})
            continue
        images[len(labels)] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        labels.append(folders.index(entry.folder))
        names.append(entry.name)
    return Dataset(images[: len(labels)], np.array(labels, dtype=np.int64), names)


def find_all_entries(sources: Sequence[str]) -> list[Entry]:
    """The entries of several sources as one data set (names prefixed by the source when merging)."""
    if len(sources) == 1:
        return find_entries(sources[0])
    merged = []
    for i, source in enumerate(sources):
        for e in find_entries(source):
            merged.append(Entry(e.split, e.folder, f"[{i}]{e.name}", e.read))
    return merged


def load_data(
    sources: str | Sequence[str],
    size: tuple[int, int],
    *,
    limit: int | None = None,
    validation_split: float = 0.2,
    seed: int = 1337,
) -> LoadedData:
    """Decode every image of `sources` (one or several, merged) at `size`; corrupt files are skipped
    and listed. Without any validation folder, `validation_split` of each class is carved off (seeded).
    """
    sources = [sources] if isinstance(sources, str) else list(sources)
    source = " + ".join(sources)  # for messages
    entries = find_all_entries(sources)
    if not entries:
        raise DataError(f"{source}: no images found (expected <root>/train/<class>/* or <root>/<class>/*)")
    train = [e for e in entries if e.split in ("train", None)]
    val = [e for e in entries if e.split == "validation"]
    folders = sorted({e.folder for e in train} | {e.folder for e in val})
    if len(folders) < 2:
        raise DataError(f"{source}: found a single class ({', '.join(folders)}); need at least two")
    for folder, label in zip(folders, singularize(folders), strict=True):
        if UNKNOWN_LABEL in (folder.lower(), label.lower()):
            raise DataError(f"{source}: class folder {folder!r} would be the label {UNKNOWN_LABEL!r}, "
                            "which is the answer for images that are none of the labels; rename it, or start "
                            "its name with '_' to keep it out of training")
    try:
        check_labels(singularize(folders))  # what the manifest will be refused for, said before training
    except LabelError as exc:
        raise DataError(f"{source}: class folders {folders}: {exc}") from None
    for folder in folders:
        if not any(e.folder == folder for e in train):
            raise DataError(f"{source}: class folder {folder!r} has no training images")
    carved = not val
    if carved:
        if not 0 < validation_split < 1:
            raise DataError(f"{source}: no validation folder and --validation-split is {validation_split}")
        rng = random.Random(seed)
        train_keep: list[Entry] = []
        for folder in folders:
            members = sorted((e for e in train if e.folder == folder), key=lambda e: e.name)
            rng.shuffle(members)
            n_val = max(1, round(len(members) * validation_split))
            if len(members) - n_val < 1:
                raise DataError(f"{source}: class {folder!r} has too few images to carve a validation split")
            val += members[:n_val]
            train_keep += members[n_val:]
        train = train_keep
    train, val = _limit(train, limit), _limit(val, limit)
    hasher = hashlib.sha256()
    skipped: list[dict[str, str]] = []
    by_name = lambda e: e.name  # noqa: E731
    train_ds = _decode_all(sorted(train, key=by_name), size, folders, "decode train", hasher, skipped)
    val_ds = _decode_all(sorted(val, key=by_name), size, folders, "decode validation", hasher, skipped)
    for i, folder in enumerate(folders):
        if not (train_ds.labels == i).any():
            raise DataError(f"{source}: class {folder!r} has no decodable training image")
    if len(val_ds.labels) == 0:
        raise DataError(f"{source}: no decodable validation image")
    if skipped:
        log.warning(
            "skipped %s, e.g. %s (%s)",
            plural(len(skipped), "unreadable file"),
            skipped[0]["name"],
            skipped[0]["reason"],
        )
    return LoadedData(
        labels=singularize(folders),
        folders=folders,
        train=train_ds,
        validation=val_ds,
        skipped=skipped,
        fingerprint=hasher.hexdigest(),
        sources=sources,
        validation_carved=carved,
        trained_on=exported_images(sources, [*train_ds.names, *val_ds.names]),
    )
