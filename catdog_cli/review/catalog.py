"""The models the page talks about: the live one, its labels, every published version.

Read from `models/` with the user's credentials through `catdog.model_repo.ModelRepo` (the one
module that knows that layout). A version's manifest never changes once published, so it is read
once; the pointer and the list of versions are re-read after `ttl` seconds, so a promote or a
rollback shows up on the page without a restart.
"""

from __future__ import annotations

import threading

from catdog.manifest import Manifest, ModelPointer
from catdog.model_repo import ModelRepo
from catdog.results import UNKNOWN_LABEL
from catdog_cli.review.cache import TtlCache


class Catalog:
    def __init__(self, repo: ModelRepo, ttl: float = 30.0) -> None:
        self.repo = repo
        self.ttl = ttl
        self._lock = threading.Lock()
        self._manifests: dict[str, Manifest | None] = {}
        self._cache = TtlCache(ttl)

    def refresh(self) -> None:
        self._cache.clear()

    def live(self) -> ModelPointer | None:
        return self._cache.get("live", self.repo.live)

    def versions(self) -> list[str]:
        return self._cache.get("versions", self.repo.list_versions)

    def manifest(self, version: str) -> Manifest | None:
        with self._lock:
            if version in self._manifests:
                return self._manifests[version]
        manifest = self.repo.published_manifest(version)
        with self._lock:
            self._manifests[version] = manifest
        return manifest

    def live_labels(self) -> list[str]:
        """The live model's labels in its own order (the page's keys 1, 2, ...); [] when none is live."""
        live = self.live()
        manifest = self.manifest(live.version) if live else None
        return [label for label in manifest.labels if label != UNKNOWN_LABEL] if manifest else []

    def all_labels(self) -> list[str]:
        """Every label any published version (or the live one) knows: what a review may have said."""
        labels = set(self.live_labels())
        for version in self.versions():
            manifest = self.manifest(version)
            if manifest is not None:
                labels.update(manifest.labels)
        labels.discard(UNKNOWN_LABEL)
        return sorted(labels)
