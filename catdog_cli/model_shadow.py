"""`catdog models shadow [VERSION | --off]` and `catdog models compare [VERSION]`: the candidate the
function runs beside the live model, and how it did.

Setting one writes `models/shadow.json` beside `models/latest.json`: the pointer `latest.json`
would get if the version were promoted (the sha256 of every file of the version, manifest.json
included), written only after the version passed the very gate `promote` applies
(`training_job.publish.gate_published`: checksums, the accuracy bar, a LiteRT load). A version
that was live before must still be byte for byte what its history entry vouched for. Refused as
well, before anything is written: the live version itself, a version whose labels differ from the
live model's or that takes another input size (`catdog.shadow.incompatibility`: the function would
refuse it too). Nothing about the live model changes; `--off` removes the pointer.

`compare` prints catdog_cli.review.shadow's comparison of a shadow version with the live answers it
was given beside, and the verdict of `promote VERSION --require-shadow N` (the validation accuracy
bar, then the comparison's); `require_shadow` is that gate, for `promote`.
"""

from __future__ import annotations

import sys

import boto3

from catdog.config import DEFAULT_REFRESH_SECONDS
from catdog.errors import CatdogError, ModelError, QualityGateError
from catdog.manifest import Manifest, ModelPointer, check_version
from catdog.model_history import check_as_vouched, read_history
from catdog.model_integrity import IntegrityError, read_verified
from catdog.model_repo import ModelRepo
from catdog.plural import plural
from catdog.shadow import incompatibility
from catdog_cli import exit_codes
from catdog_cli.display import percent, printable
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.shadow import Comparison, Verdict, compare, gate_failures, judge, summary
from catdog_cli.targets import ENV_TABLE, models_repo, resolve_name
from catdog_local.state import LocalState
from training_job.publish import gate_published


def _warn(message: str) -> None:
    print(f"catdog models: warning: {printable(message)}", file=sys.stderr)


def current_shadow(repo: ModelRepo) -> ModelPointer | None:
    """The shadow pointer, or None (with a warning when one is there but cannot be read)."""
    try:
        return repo.shadow()
    except CatdogError as exc:
        _warn(f"{repo.uri(repo.shadow_key)} is not a pointer the function can use: {exc}")
        return None


def _live_manifest(repo: ModelRepo) -> Manifest:
    live = repo.live()
    if live is None:
        raise CatdogError("no model is live (no models/latest.json): a shadow model answers beside the live "
                          "one; publish or promote one first")
    try:
        return read_verified(repo.s3, repo.bucket, live, model=False,
                             vouched_by=repo.uri(repo.pointer_key)).manifest
    except IntegrityError as exc:
        raise CatdogError(f"the live model cannot be compared with: {exc}") from None


def set_shadow(repo: ModelRepo, version: str,
               min_accuracy: float) -> tuple[ModelPointer, ModelPointer | None]:
    """(the shadow pointer written, the one it replaced); nothing is written when refused."""
    check_version(version, "VERSION")
    if repo.published_manifest(version) is None:
        raise CatdogError(f"no version {version!r} under {repo.uri()} (see `catdog models list`)")
    live = _live_manifest(repo)
    if live.version == version:
        raise CatdogError(f"{version} is the live model; a shadow model is a candidate to compare with it")
    try:
        check_as_vouched(repo, version, read_history(repo, _warn))
    except IntegrityError as exc:
        raise CatdogError(f"cannot shadow {version}: {exc}") from None
    try:
        pointer = gate_published(repo, version, min_accuracy)
    except QualityGateError as exc:
        raise QualityGateError(f"{version} cannot be the shadow model: {exc}") from None
    candidate = read_verified(repo.s3, repo.bucket, pointer, model=False,
                              vouched_by=repo.uri(repo.shadow_key)).manifest
    why = incompatibility(live, candidate)
    if why:
        raise CatdogError(f"{version} cannot be the shadow model: {why}")
    previous = current_shadow(repo)
    repo.set_shadow(pointer)
    return pointer, previous


def refresh_note(state: LocalState | None) -> str:
    """How soon the function sees a changed pointer: its MODEL_REFRESH_SECONDS, when we know it."""
    seconds = state.function_environment.get("MODEL_REFRESH_SECONDS") if state else None
    return (f"{seconds} s, its MODEL_REFRESH_SECONDS" if seconds
            else f"MODEL_REFRESH_SECONDS ({DEFAULT_REFRESH_SECONDS:g} s unless the stack sets another)")


def _exists(repo: ModelRepo, key: str) -> bool:
    try:
        repo.read(key)
    except ModelError:
        return False
    return True


def run_shadow(repo: ModelRepo, version: str | None, *, off: bool, min_accuracy: float,
               state: LocalState | None) -> int:
    """`catdog models shadow`: set, show or remove the shadow model; the exit code."""
    where = repo.uri(repo.shadow_key)
    if off:
        previous = current_shadow(repo)
        if previous is None and not _exists(repo, repo.shadow_key):
            print(f"no shadow model was set ({where} does not exist); nothing changed")
            return exit_codes.OK
        repo.clear_shadow()
        was = printable(previous.version) if previous else "an unreadable pointer"
        print(f"shadow model removed (was {was}): the function stops running it within "
              f"{refresh_note(state)}; "
              "its answers stay on the items (see them with `catdog models compare "
              f"{printable(previous.version) if previous else 'VERSION'}`)")
        return exit_codes.OK
    if version is None:
        shadow = current_shadow(repo)
        if shadow is None:
            print(f"no shadow model is set ({where}); set one with `catdog models shadow VERSION`")
        else:
            print(f"shadow model: {printable(shadow.version)} (validation accuracy {shadow.accuracy}, "
                  f"{where}); compare it with the live one: catdog models compare")
        return exit_codes.OK
    pointer, previous = set_shadow(repo, version, min_accuracy)
    replaced = (f", replacing {printable(previous.version)}" if previous and previous.version != version
                else "")
    print(f"shadow model: {printable(pointer.version)} (validation accuracy {pointer.accuracy}, every file "
          f"checked) at {where}{replaced}. The function runs it beside the live model from its next "
          f"re-read of the pointers (within {refresh_note(state)}); the live answers do not change. Then: "
          f"catdog models compare {printable(pointer.version)}")
    return exit_codes.OK


# -- catdog models compare ------------------------------------------------------------------------


def render_comparison(v: Verdict) -> str:
    c = v.comparison
    lines = [f"shadow model {printable(c.version)} beside live {printable(c.live_label)}: "
             f"{plural(c.shadowed, 'upload')} answered by both"]
    if c.shadowed:
        lines.append(f"agreement: {c.agreed} of {c.shadowed} ({percent(c.agreement)})")
        if c.changes:
            width = max(len(f"{printable(a)} → {printable(b)}") for a, b in c.changes)
            lines.append("label changes, live → shadow:")
            lines += [f"  {f'{printable(a)} → {printable(b)}'.ljust(width)}  {n}" for (a, b), n in v.changes]
        left_out = f" ({c.excluded} more left out: a model was trained on them)" if c.excluded else ""
        lines.append(f"reviewed, answered by both: {c.reviewed}{left_out}")
        if c.reviewed:
            rows = [(f"live {printable(c.live_label)}", c.live_right, c.live_accuracy),
                    (f"shadow {printable(c.version)}", c.shadow_right, c.shadow_accuracy)]
            width = max(len(name) for name, _, _ in rows)
            lines += [f"  {name.ljust(width)}  {right} right  {percent(share)}"
                      for name, right, share in rows]
    command = f"catdog models promote {printable(c.version)} --require-shadow {v.require}"
    if v.failures:
        lines.append(f"verdict: `{command}` would be refused:")
        lines += [f"  - {printable(why)}" for why in v.failures]
    else:
        lines.append(f"verdict: `{command}` would pass (validation accuracy ≥ {v.min_accuracy:g}, "
                     f"≥ {v.require} shadowed, no drop in reviewed accuracy)")
    return "\n".join(lines)


def comparison_for(version: str, catalog: Catalog, table: str) -> Comparison:
    """`version`'s shadow answers in `table`, the photos each model was trained on left out."""
    return compare(boto3.client("dynamodb"), table, version, catalog.trained_on())


def run_compare(version: str | None, *, require: int, min_accuracy: float, bucket: str | None,
                table: str | None, stack: str | None) -> int:
    """`catdog models compare [VERSION]`: the comparison and the promote gate's verdict; the exit code."""
    repo, _ = models_repo(bucket, stack)
    table_name = resolve_name(table, ENV_TABLE, "table", "table", stack).name
    catalog = Catalog(repo, warn=_warn)
    if version is None:
        shadow = catalog.shadow()
        if shadow is None:
            raise CatdogError(f"no shadow model is set ({repo.uri(repo.shadow_key)}): name the VERSION to "
                              "compare (one that was the shadow model)")
        version = shadow.version
    check_version(version, "VERSION")
    c = comparison_for(version, catalog, table_name)
    print(render_comparison(judge(c, catalog.manifest(version), require, min_accuracy)))
    if not c.shadowed:
        print(f"(nothing in table {printable(table_name)} was answered by {printable(version)} as the shadow "
              "model: is it set, and has the function re-read the pointers since?)", file=sys.stderr)
    return exit_codes.OK


def require_shadow(repo: ModelRepo, version: str, require: int, *, table: str | None,
                   stack: str | None) -> Comparison:
    """`promote --require-shadow N`: the comparison, or a QualityGateError (exit 4) with the numbers."""
    table_name = resolve_name(table, ENV_TABLE, "table", "table", stack).name
    catalog = Catalog(repo, warn=_warn)
    c = comparison_for(version, catalog, table_name)
    failures = gate_failures(c, require)
    if failures:
        raise QualityGateError(f"{version} not promoted (--require-shadow {require}): {'; '.join(failures)} "
                               f"[{summary(c)}]; the live model stays")
    return c
