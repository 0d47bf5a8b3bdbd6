"""`catdog models list|promote|rollback`: the published versions, and moving the live pointer.

- `list`: every version folder under `models/`, its recorded validation accuracy, when it was
  trained, which one is live, and how it did on the images people reviewed (from the table).
- `promote VERSION`: an already-published version goes live through the very same quality gate as
  `catdog publish` (`training_job.publish.publish_model`: checksums, accuracy bar, a LiteRT load).
- `rollback`: the live pointer's predecessor in `models/history/` comes back, exactly as it was
  written (same sha256); its files are checked first, since the function would refuse them.

Every move is appended to the history (catdog.model_history), with who made it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import boto3

from catdog.config import DEFAULT_UPLOAD_PREFIX
from catdog.errors import CatdogError
from catdog.manifest import ModelPointer, check_version, sha256_bytes
from catdog.model_history import read_history, record_change, rollback_target
from catdog.model_repo import ModelRepo
from catdog_cli import exit_codes
from catdog_cli.display import printable
from catdog_cli.identity import caller_identity
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.stats import reviewed_accuracy
from catdog_cli.targets import ENV_BUCKET, ENV_TABLE, Target, resolve_name
from training_job.publish import publish_model


@dataclass(frozen=True)
class VersionRow:
    version: str
    accuracy: float | None
    created_at: str
    live: bool
    reviewed: int = 0
    agreed: int = 0

    @property
    def reviewed_accuracy(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None


def list_versions(repo: ModelRepo, reviewed: dict[str, tuple[int, int]] | None = None) -> list[VersionRow]:
    """Every published version (oldest first by creation time); `reviewed`: version -> (agreed, reviewed)."""
    live = repo.live()
    rows = []
    for version in repo.list_versions():
        manifest = repo.published_manifest(version)
        accuracy = manifest.metrics.get("accuracy") if manifest else None
        agreed, seen = (reviewed or {}).get(version, (0, 0))
        is_live = live is not None and live.version == version
        rows.append(VersionRow(version, float(accuracy) if isinstance(accuracy, int | float) else None,
                               manifest.created_at if manifest else "", is_live, seen, agreed))
    return sorted(rows, key=lambda r: (r.created_at, r.version))


def render(rows: list[VersionRow], with_reviews: bool) -> str:
    if not rows:
        return "(no versions under this prefix: publish one with `catdog publish`)"
    head = ["version", "accuracy", "created", "live"] + (["reviewed", "agreed", "on reviewed"] if with_reviews
                                                          else [])
    cells = []
    for r in rows:
        accuracy = "—" if r.accuracy is None else f"{r.accuracy:.4f}"
        row = [printable(r.version), accuracy, printable(r.created_at), "live" if r.live else ""]
        if with_reviews:
            ra = r.reviewed_accuracy
            row += [str(r.reviewed), str(r.agreed), "—" if ra is None else f"{100 * ra:.1f}%"]
        cells.append(row)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def promote(repo: ModelRepo, version: str, min_accuracy: float, by: str) -> tuple[ModelPointer, str | None]:
    """(the pointer now live, the version it replaced); the gate's refusal is a QualityGateError."""
    check_version(version, "VERSION")
    if repo.published_manifest(version) is None:
        raise CatdogError(f"no version {version!r} under {repo.uri()} (see `catdog models list`)")
    live = repo.live()
    if live is not None and live.version == version:
        return live, version
    pointer = publish_model(repo.version_uri(version), repo.uri(), min_accuracy, action="promote", by=by)
    return pointer, live.version if live else None


def _verify_restorable(repo: ModelRepo, pointer: ModelPointer) -> None:
    """The files the old pointer names must still be there, with the bytes it vouched for."""
    manifest = repo.published_manifest(pointer.version)
    if manifest is None:
        raise CatdogError(f"cannot roll back to {pointer.version}: {repo.uri(pointer.manifest_key)} is gone")
    data = repo.read(pointer.model_key)
    expected = pointer.model_sha256 or manifest.checksums.get(manifest.tflite_file, "")
    if expected and sha256_bytes(data) != expected:
        raise CatdogError(f"cannot roll back to {pointer.version}: {repo.uri(pointer.model_key)} no longer "
                          "matches the sha256 it was published with; the live model was left alone")


def rollback(repo: ModelRepo, by: str) -> tuple[ModelPointer, ModelPointer]:
    """(the pointer restored, the one it replaced)."""
    live = repo.live()
    target = rollback_target(read_history(repo), live)
    assert live is not None
    _verify_restorable(repo, target)
    repo.set_live(target)
    record_change(repo, target, "rollback", previous=live.version, by=by)
    return target, live


def reviewed_by_version(ddb: Any, table: str, labels: list[str]) -> dict[str, tuple[int, int]]:
    return {a.version: (a.agreed, a.reviewed) for a in reviewed_accuracy(ddb, table, labels)}


# -- the commands ---------------------------------------------------------------------------------


def _repo(bucket: str | None, stack: str | None) -> tuple[ModelRepo, Target]:
    target = resolve_name(bucket, ENV_BUCKET, "bucket", "bucket", stack)
    return ModelRepo(boto3.client("s3"), target.name), target


def _backfill_hint(target: Target, whose: str) -> None:
    """After a change of live model: how to re-classify what the other model answered."""
    prefix = target.state.upload_prefix if target.state else DEFAULT_UPLOAD_PREFIX
    print(f"re-classify what {whose} answered: catdog backfill --changed-only s3://{target.name}/{prefix}")


def run_list(*, bucket: str | None, table: str | None, stack: str | None) -> int:
    """`catdog models list`: the table of versions, with the reviewed accuracy when a table is found."""
    repo, _ = _repo(bucket, stack)
    reviewed = None
    try:
        table_name = resolve_name(table, ENV_TABLE, "table", "table", stack).name
        reviewed = reviewed_by_version(boto3.client("dynamodb"), table_name, Catalog(repo).all_labels())
    except CatdogError as exc:
        print(f"catdog models: no reviewed accuracy ({exc})", file=sys.stderr)
    except Exception as exc:  # the table is optional here: a listing without it is still useful
        print(f"catdog models: no reviewed accuracy (the results table: {type(exc).__name__}: {exc})",
              file=sys.stderr)
    print(render(list_versions(repo, reviewed), with_reviews=reviewed is not None))
    return exit_codes.OK


def run_promote(version: str, min_accuracy: float, *, bucket: str | None, stack: str | None) -> int:
    """`catdog models promote VERSION`: through the quality gate, recorded with who did it."""
    repo, target = _repo(bucket, stack)
    pointer, previous = promote(repo, version, min_accuracy, caller_identity())
    if previous == pointer.version:
        print(f"{printable(pointer.version)} is already live; nothing changed")
        return exit_codes.OK
    print(f"promoted {printable(pointer.version)} (validation accuracy {pointer.accuracy}) through the "
          f"quality gate: live was {printable(previous or 'nothing')}, now {printable(pointer.version)} "
          f"({repo.uri(repo.pointer_key)})")
    _backfill_hint(target, "the previous model")
    return exit_codes.OK


def run_rollback(*, bucket: str | None, stack: str | None) -> int:
    """`catdog models rollback`: the previous pointer back, exactly as it was written."""
    repo, target = _repo(bucket, stack)
    restored, replaced = rollback(repo, caller_identity())
    print(f"rolled back: live was {printable(replaced.version)}, now {printable(restored.version)} "
          f"(the pointer as it was published at {printable(restored.published_at or '?')}, sha256 "
          f"{restored.model_sha256[:12] or '?'}…)")
    _backfill_hint(target, "the rolled-back model")
    return exit_codes.OK
