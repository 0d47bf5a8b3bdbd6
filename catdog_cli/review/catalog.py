"""The models the review tools talk about: the live one, its labels, every published version.

Read from `models/` with the user's credentials through `catdog.model_repo.ModelRepo` (the one
module that knows that layout). Every manifest is verified before it is used: the live one against
`models/latest.json`, the shadow model's against `models/shadow.json`, an older one against the
newest `models/history/` entry that made it live (all record the sha256 of every file,
catdog.model_integrity); a version that was none of these has only its own manifest to go by.

Nothing that failed is kept for long: a manifest that is missing (a publish still uploading),
malformed or does not match its pointer is skipped with a warning (`problems`, and the `warn`
callback once per problem) and asked again after `ttl` seconds (not at every page view: that would
be an S3 read per request for a folder that stays broken), so one bad folder under `models/` never
takes the page, the report, an export or `models list` down, and a version published meanwhile
shows up. A verified manifest never changes, so it is kept; the pointer, the list of versions and
the history are re-read after `ttl` seconds, so a promote or a rollback shows up without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from catdog.errors import CatdogError
from catdog.manifest import MANIFEST_FILE, POINTER_FILE, SHADOW_POINTER_FILE, Manifest, ModelPointer
from catdog.model_history import PointerChange, read_history, vouching_pointer
from catdog.model_integrity import read_verified
from catdog.model_repo import ModelRepo
from catdog.results import UNKNOWN_LABEL
from catdog_cli.review.cache import TtlCache


class Catalog:
    def __init__(self, repo: ModelRepo, ttl: float = 30.0, warn: Callable[[str], None] | None = None) -> None:
        self.repo = repo
        self.ttl = ttl
        self.warn = warn
        self._lock = threading.Lock()
        self._manifests: dict[tuple[str, str], Manifest] = {}
        self._failed: dict[tuple[str, str], float] = {}  # (version, manifest sha256) -> when it failed
        self._problems: dict[str, str] = {}  # version -> why its manifest is not used (now)
        self._warned: set[str] = set()
        self._notes: dict[str, None] = {}  # other warnings (foreign files in models/history/), in order
        self._cache = TtlCache(ttl)

    def refresh(self) -> None:
        self._cache.clear()
        with self._lock:
            self._failed.clear()

    def live(self) -> ModelPointer | None:
        """The live pointer; None when there is none, or it is malformed (then a problem says so)."""
        return self._cache.get("live", lambda: self._read_pointer(self.repo.live, POINTER_FILE))

    def _read_pointer(self, read: Callable[[], ModelPointer | None], name: str) -> ModelPointer | None:
        """A pointer, or None: not there, or malformed (then a problem named `name` says why)."""
        try:
            pointer = read()
        except CatdogError as exc:
            self._problem(name, str(exc))
            return None
        with self._lock:
            self._problems.pop(name, None)
        return pointer

    def shadow(self) -> ModelPointer | None:
        """The shadow model's pointer (`catdog models shadow`); None when none is set or it is
        malformed (then a problem says so)."""
        return self._cache.get("shadow", lambda: self._read_pointer(self.repo.shadow, SHADOW_POINTER_FILE))

    def versions(self) -> list[str]:
        return self._cache.get("versions", self.repo.list_versions)

    def history(self) -> list[PointerChange]:
        return self._cache.get("history", lambda: read_history(self.repo, self._note))

    def problems(self) -> dict[str, str]:
        """version -> why its manifest was skipped, for the versions that failed when last asked."""
        with self._lock:
            return dict(self._problems)

    def warnings(self) -> list[str]:
        """One line per problem, for the page, the report and stderr."""
        with self._lock:
            notes = list(self._notes)
        return [_describe(what, why) for what, why in sorted(self.problems().items())] + notes

    def live_refused(self) -> str | None:
        """Why the live version's manifest is not used, when it is not (a malformed pointer included)."""
        problems = self.problems()
        live = self.live()
        return problems.get(live.version) if live else problems.get(POINTER_FILE)

    def manifest(self, version: str) -> Manifest | None:
        """The version's manifest, verified as well as its pointers allow; None (and a problem) if not."""
        key: tuple[str, str] | None = None
        try:
            pointer, vouched_by = self._pointer_of(version)
            key = (version, pointer.checksums.get(MANIFEST_FILE, "") if pointer else "")
            with self._lock:
                if key in self._manifests:
                    return self._manifests[key]
                if time.monotonic() - self._failed.get(key, -float("inf")) < self.ttl:
                    return None  # failed a moment ago: its problem still says why
            if pointer is not None:
                verified = read_verified(self.repo.s3, self.repo.bucket, pointer, model=False,
                                         vouched_by=vouched_by)
                manifest: Manifest | None = verified.manifest
            else:
                manifest = self.repo.published_manifest(version)
            if manifest is None:
                raise CatdogError(f"{self.repo.version_uri(version)}{MANIFEST_FILE} does not exist (yet)")
            if manifest.version != version:
                raise CatdogError(f"{self.repo.version_uri(version)}{MANIFEST_FILE} says it is version "
                                  f"{manifest.version!r}")
        except (CatdogError, ClientError, BotoCoreError) as exc:
            self._problem(version, str(exc))
            if key is not None:
                with self._lock:
                    self._failed[key] = time.monotonic()
            return None
        with self._lock:
            self._manifests[key] = manifest
            self._failed.pop(key, None)
            self._problems.pop(version, None)
        return manifest

    def _pointer_of(self, version: str) -> tuple[ModelPointer | None, str]:
        """The pointer that vouches for `version`'s files, and its name: the live one, the shadow one,
        else the newest history entry that made it live; (None, "") for a version that was neither."""
        live = self.live()
        if live is not None and live.version == version:
            return live, self.repo.uri(self.repo.pointer_key)
        shadow = self.shadow()
        if shadow is not None and shadow.version == version:
            return shadow, self.repo.uri(self.repo.shadow_key)
        change = vouching_pointer(self.history(), version)
        return (change.pointer, change.key) if change else (None, "")

    def _note(self, message: str) -> None:
        with self._lock:
            first = message not in self._notes
            self._notes[message] = None
        if first and self.warn is not None:
            self.warn(message)

    def _problem(self, version: str, why: str) -> None:
        with self._lock:
            self._problems[version] = why
            first = why not in self._warned
            self._warned.add(why)
        if first and self.warn is not None:
            self.warn(_describe(version, why))

    def live_labels(self) -> list[str]:
        """The live model's labels in its own order (the page's keys 1, 2, ...); [] when none is live
        (or its manifest cannot be trusted: see `problems`)."""
        live = self.live()
        manifest = self.manifest(live.version) if live else None
        return [label for label in manifest.labels if label != UNKNOWN_LABEL] if manifest else []

    def manifests(self) -> dict[str, Manifest]:
        """Every published version's manifest that could be read and verified (and the live one's)."""
        live = self.live()
        shadow = self.shadow()
        versions = [*self.versions(), *(p.version for p in (live, shadow) if p is not None)]
        found = {version: self.manifest(version) for version in dict.fromkeys(versions)}
        return {version: manifest for version, manifest in found.items() if manifest is not None}

    def all_labels(self) -> list[str]:
        """Every label any published version (or the live one) knows: what a review may have said."""
        labels = {label for manifest in self.manifests().values() for label in manifest.labels}
        labels.update(self.live_labels())
        labels.discard(UNKNOWN_LABEL)
        return sorted(labels)

    def trained_on(self) -> dict[str, frozenset[str]]:
        """version -> the image ids of the reviewed photos it was trained on (its manifest's record)."""
        return {version: manifest.trained_on for version, manifest in self.manifests().items()
                if manifest.trained_on}


def _describe(what: str, why: str) -> str:
    pointer = what in (POINTER_FILE, SHADOW_POINTER_FILE)
    return f"skipped {what if pointer else f'model version {what}'}: {why}"
