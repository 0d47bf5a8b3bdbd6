"""`catdog models list|promote|rollback`: the published versions, and moving the live pointer.

- `list`: every version folder under `models/`, its recorded validation accuracy, when it was
  trained, which one is live, and how it did on the images people reviewed (from the table),
  leaving out the reviewed photos it was trained on (and saying how many). A folder whose manifest
  is malformed or does not match its pointer is listed without figures, with a warning.
- `promote VERSION`: an already-published version goes live through the very same quality gate as
  `catdog publish` (`training_job.publish.publish_model`: checksums, accuracy bar, a LiteRT load);
  a version that was live before must still be byte for byte what its history entry vouched for.
- `rollback`: the live pointer's predecessor in `models/history/` comes back, exactly as it was
  written; every file it vouches for is checked first (the function would refuse them).

Every move is appended to the history (catdog.model_history), with who made it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import boto3

from catdog.config import DEFAULT_UPLOAD_PREFIX
from catdog.errors import CatdogError
from catdog.manifest import ModelPointer, check_version
from catdog.model_history import check_as_vouched, read_history, record_change, rollback_target
from catdog.model_integrity import IntegrityError, read_verified
from catdog.model_repo import ModelRepo
from catdog_cli import exit_codes
from catdog_cli.display import percent, printable
from catdog_cli.identity import caller_identity
from catdog_cli.model_shadow import current_shadow
from catdog_cli.model_shadow import require_shadow as shadow_gate
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.shadow import summary
from catdog_cli.review.stats import VersionAccuracy, reviewed_accuracy
from catdog_cli.targets import ENV_TABLE, Target, models_repo, resolve_name
from training_job.publish import publish_model


@dataclass(frozen=True)
class VersionRow:
    version: str
    accuracy: float | None
    created_at: str
    live: bool
    reviewed: int = 0
    agreed: int = 0
    excluded: int = 0  # reviewed photos it was trained on: not counted
    shadow: bool = False  # the shadow model (`catdog models shadow`)

    @property
    def reviewed_accuracy(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None


def list_versions(catalog: Catalog, reviewed: dict[str, VersionAccuracy] | None = None,
                  shadow: str | None = None) -> list[VersionRow]:
    """Every published version (oldest first by creation time), with its reviewed accuracy if given;
    `shadow`: the shadow model's version."""
    live = catalog.live()
    rows = []
    for version in catalog.versions():
        manifest = catalog.manifest(version)  # None, with a warning, when it cannot be trusted
        accuracy = manifest.metrics.get("accuracy") if manifest else None
        seen = (reviewed or {}).get(version) or VersionAccuracy(version, 0, 0)
        is_live = live is not None and live.version == version
        rows.append(VersionRow(version, float(accuracy) if isinstance(accuracy, int | float) else None,
                               manifest.created_at if manifest else "", is_live, seen.reviewed, seen.agreed,
                               seen.excluded, shadow == version))
    return sorted(rows, key=lambda r: (r.created_at, r.version))


def render(rows: list[VersionRow], with_reviews: bool) -> str:
    if not rows:
        return "(no versions under this prefix: publish one with `catdog publish`)"
    head = ["version", "accuracy", "created", "live"] + (["reviewed", "agreed", "on reviewed", "excluded"]
                                                          if with_reviews else [])
    cells = []
    for r in rows:
        accuracy = "—" if r.accuracy is None else f"{r.accuracy:.4f}"
        row = [printable(r.version), accuracy, printable(r.created_at or "—"),
               "live" if r.live else "shadow" if r.shadow else ""]
        if with_reviews:
            ra = r.reviewed_accuracy
            row += [str(r.reviewed), str(r.agreed), percent(ra),
                    f"{r.excluded} trained on" if r.excluded else "0"]
        cells.append(row)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    if with_reviews and any(r.excluded for r in rows):
        lines.append("(reviewed accuracy leaves out the reviewed photos a version was trained on: "
                     "\"excluded\")")
    return "\n".join(lines)


def require_published(repo: ModelRepo, version: str) -> None:
    """A usage error (exit 2) for a misspelled or missing version, before any gate judges it."""
    check_version(version, "VERSION")
    if repo.published_manifest(version) is None:
        raise CatdogError(f"no version {version!r} under {repo.uri()} (see `catdog models list`)")


def promote(repo: ModelRepo, version: str, min_accuracy: float,
            by: str) -> tuple[ModelPointer, ModelPointer | None]:
    """(the pointer now live, the one it replaced); the gate's refusal is a QualityGateError."""
    require_published(repo, version)
    live = repo.live()
    if live is not None and live.version == version and live.checksums:
        return live, live
    try:
        check_as_vouched(repo, version, read_history(repo, _warn))
    except IntegrityError as exc:
        raise CatdogError(f"cannot promote {version}: {exc}; the live model was left alone") from None
    pointer = publish_model(repo.version_uri(version), repo.uri(), min_accuracy, action="promote", by=by)
    return pointer, live


def _verify_restorable(repo: ModelRepo, pointer: ModelPointer, entry: str) -> None:
    """Every file the old pointer (and its manifest) vouches for must still be there, with those bytes."""
    if repo.published_manifest(pointer.version) is None:
        raise CatdogError(f"cannot roll back to {pointer.version}: {repo.uri(pointer.manifest_key)} is gone")
    try:
        read_verified(repo.s3, repo.bucket, pointer, every_file=True, vouched_by=entry)
    except IntegrityError as exc:
        raise CatdogError(f"cannot roll back to {pointer.version}: {exc}; the live model was left "
                          "alone") from None


def rollback(repo: ModelRepo, by: str) -> tuple[ModelPointer, ModelPointer]:
    """(the pointer restored, the one it replaced)."""
    live = repo.live()
    changes = read_history(repo, _warn)
    target = rollback_target(changes, live)
    assert live is not None
    entry = next((c.key for c in reversed(changes) if c.pointer == target), "models/history/")
    _verify_restorable(repo, target, entry)
    repo.set_live(target)
    record_change(repo, target, "rollback", previous=live.version, by=by)
    return target, live


def reviewed_by_version(ddb: Any, table: str, catalog: Catalog) -> dict[str, VersionAccuracy]:
    """version -> its reviewed accuracy, the photos it was trained on left out."""
    rows = reviewed_accuracy(ddb, table, catalog.all_labels(), catalog.trained_on())
    return {row.version: row for row in rows}


# -- the commands ---------------------------------------------------------------------------------


def _backfill_hint(target: Target, whose: str) -> None:
    """After a change of live model: how to re-classify what the other model answered."""
    prefix = target.state.upload_prefix if target.state else DEFAULT_UPLOAD_PREFIX
    print(f"re-classify what {whose} answered: catdog backfill --changed-only s3://{target.name}/{prefix}")


def _warn(message: str) -> None:
    print(f"catdog models: warning: {printable(message)}", file=sys.stderr)


def run_list(*, bucket: str | None, table: str | None, stack: str | None) -> int:
    """`catdog models list`: the table of versions, with the reviewed accuracy when a table is found."""
    repo, _ = models_repo(bucket, stack)
    catalog = Catalog(repo, warn=_warn)
    reviewed = None
    try:
        table_name = resolve_name(table, ENV_TABLE, "table", "table", stack).name
        reviewed = reviewed_by_version(boto3.client("dynamodb"), table_name, catalog)
    except CatdogError as exc:
        print(f"catdog models: no reviewed accuracy ({exc})", file=sys.stderr)
    except Exception as exc:  # the table is optional here: a listing without it is still useful
        print(f"catdog models: no reviewed accuracy (the results table: {type(exc).__name__}: {exc})",
              file=sys.stderr)
    shadow = current_shadow(repo)
    print(render(list_versions(catalog, reviewed, shadow.version if shadow else None),
                 with_reviews=reviewed is not None))
    return exit_codes.OK


def run_promote(version: str, min_accuracy: float, *, bucket: str | None, stack: str | None,
                require_shadow: int | None = None, table: str | None = None) -> int:
    """`catdog models promote VERSION`: through the quality gate (and, with `require_shadow`, the
    shadow comparison's), recorded with who did it."""
    repo, target = models_repo(bucket, stack)
    live = repo.live()
    if require_shadow is not None and not (live is not None and live.version == version):
        require_published(repo, version)  # a typo is exit 2, not the shadow gate's exit 4
        c = shadow_gate(repo, version, require_shadow, table=table, stack=stack)
        print(f"shadow comparison of {printable(version)}: {printable(summary(c))} (≥ {require_shadow} "
              "shadowed, no drop in reviewed accuracy)")
    pointer, previous = promote(repo, version, min_accuracy, caller_identity())
    if previous == pointer:
        print(f"{printable(pointer.version)} is already live; nothing changed")
        return exit_codes.OK
    if previous is not None and previous.version == pointer.version:
        print(f"{printable(pointer.version)} is already live; its pointer now records the sha256 of every "
              f"file (it predated them): {repo.uri(repo.pointer_key)}")
        return exit_codes.OK
    was = previous.version if previous else "nothing"
    print(f"promoted {printable(pointer.version)} (validation accuracy {pointer.accuracy}) through the "
          f"quality gate: live was {printable(was)}, now {printable(pointer.version)} "
          f"({repo.uri(repo.pointer_key)})")
    _end_shadow_of(repo, pointer.version)
    _backfill_hint(target, "the previous model")
    return exit_codes.OK


def _end_shadow_of(repo: ModelRepo, version: str) -> None:
    """The shadow model just went live: there is nothing left to compare it with, so its pointer goes."""
    try:
        shadow = repo.shadow()
    except CatdogError:
        return  # an unreadable shadow pointer is not this command's business (`models shadow` says why)
    if shadow is not None and shadow.version == version:
        repo.clear_shadow()
        print(f"{printable(version)} was the shadow model; {repo.uri(repo.shadow_key)} removed (its answers "
              f"stay on the items until they are classified again: catdog models compare "
              f"{printable(version)})")


def run_rollback(*, bucket: str | None, stack: str | None) -> int:
    """`catdog models rollback`: the previous pointer back, exactly as it was written."""
    repo, target = models_repo(bucket, stack)
    restored, replaced = rollback(repo, caller_identity())
    checked = (f"its {len(restored.checksums)} files checked" if restored.checksums
               else f"model.tflite sha256 {restored.model_sha256[:12] or '?'}…")
    print(f"rolled back: live was {printable(replaced.version)}, now {printable(restored.version)} "
          f"(the pointer as it was published at {printable(restored.published_at or '?')}, {checked})")
    _backfill_hint(target, "the rolled-back model")
    return exit_codes.OK
