"""A candidate model in the shadow of the live one: how it would have answered the real uploads.

`catdog models shadow VERSION` writes `models/shadow.json` (the format of `latest.json`, the
sha256 of every file of the version included) after the version passed the publish gate. While it
is there, the function runs the candidate on the very pixels the live model was given (one more
LiteRT call per batch), AFTER the live answers are written, and records its answer beside each of
them (`ResultsTable.put_shadow`: `shadow_label`, `shadow_confidence`, `shadow_version`).

The shadow never fails or holds up the live answer. A missing, malformed, tampered or unloadable
shadow version, one whose labels differ from the live model's, one that takes another input size
than the live model (it could not answer on the live model's decoded batch), an inference error, a
write error or too little time left: each is a warning in the log and no shadow answer, never a
retried message. The shadow pointer is re-read as often as the live one (`MODEL_REFRESH_SECONDS`),
and the loaded candidate is kept warm beside the live model (its `.tflite` under the model cache's
`.shadow/` folder, a name no version can have; see docs/architecture.md for the memory it takes).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from catdog.classifier import Prediction
from catdog.config import DEFAULT_INFERENCE_CHUNK
from catdog.errors import ManifestError, ModelError
from catdog.manifest import Manifest, ModelPointer
from catdog.model_repo import LoadedModel, read_object
from catdog.model_store import PointerFollower
from catdog.pipeline import Classified
from catdog.plural import plural
from catdog.results import ResultsTable, WriteResult
from catdog.s3_events import ObjectEvent

log = logging.getLogger(__name__)

#: The shadow model's folder under the model cache: a leading dot, which no version may have
#: (catdog.manifest.VERSION_PATTERN), so it never meets a live version's `<cache>/<version>/`.
SHADOW_FOLDER = ".shadow"


def incompatibility(live: Manifest, shadow: Manifest) -> str | None:
    """Why `shadow` cannot answer beside `live` (labels, input size), or None when it can.

    Labels are compared as sets: answers are recorded by name, so the order of a manifest's labels
    does not matter, but a label only one of them knows would make every comparison lopsided."""
    if set(shadow.labels) != set(live.labels):
        return (f"its labels {shadow.labels} differ from the live model {live.version}'s {live.labels}, so "
                "its answers cannot be compared with the live ones")
    if tuple(shadow.input_size) != tuple(live.input_size):
        h, w = shadow.input_size
        lh, lw = live.input_size
        return (f"it takes {h}x{w} images but the live model {live.version} takes {lh}x{lw}: it cannot "
                "answer on the live model's decoded batch")
    return None


class ShadowStore(PointerFollower):
    """The candidate `models/shadow.json` names, re-read every `refresh_seconds`; None when there is
    none or it cannot be used (a warning says why, once per refresh)."""

    def __init__(self, s3: Any, bucket: str, pointer_key: str, *, refresh_seconds: float,
                 cache_dir: str | Path, num_threads: int | None = None,
                 inference_chunk: int = DEFAULT_INFERENCE_CHUNK) -> None:
        super().__init__(s3, bucket, pointer_key, refresh_seconds=refresh_seconds,
                         cache_dir=Path(cache_dir) / SHADOW_FOLDER, num_threads=num_threads,
                         inference_chunk=inference_chunk)
        self._pointer: ModelPointer | None = None
        #: A pointer whose version could not be used: not downloaded again until the pointer changes.
        self._refused: ModelPointer | None = None
        self._said: set[str] = set()  # what was logged since the last refresh (said once per refresh)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.pointer_key}"

    def due(self) -> bool:
        """Whether the next `get` re-reads the pointer (and may download a candidate)."""
        return self._checked_at is None or self.clock() - self._checked_at >= self.refresh_seconds

    def get(self, live: Manifest) -> LoadedModel | None:
        """The shadow model to run beside `live` on this batch, or None."""
        now = self.clock()
        if self.due():
            self._checked_at = now
            self._said.clear()
            self._refresh(live)
        shadow = self._current
        if shadow is None:
            return None
        if shadow.version == live.version:
            self._say(logging.INFO, f"the shadow model {shadow.version} is the live model now: nothing to "
                                    f"compare (remove {self.uri} with `catdog models shadow --off`)")
            self._drop(keep_pointer=True)  # a second interpreter of the live model helps nobody
            return None
        why = incompatibility(live, shadow.manifest)
        if why:
            self._say(logging.WARNING, f"shadow model {shadow.version} not run beside {live.version}: {why}; "
                                       "no shadow answers are recorded")
            return None
        return shadow

    def _refresh(self, live: Manifest) -> None:
        try:
            raw = read_object(self.s3, self.bucket, self.pointer_key)
        except ModelError:  # no shadow pointer: shadowing is off
            if self._pointer is not None:
                log.info("shadow pointer %s removed: no shadow model", self.uri)
            self._drop()
            return
        except (ClientError, BotoCoreError) as exc:
            kept = f"keeping shadow model {self._current.version}" if self._current else "no shadow answers"
            log.warning("cannot read the shadow pointer %s, %s: %s", self.uri, kept, exc)
            return
        try:
            pointer = ModelPointer.from_json(raw, where=self.uri)
        except ManifestError as exc:
            self._drop()
            log.warning("shadow pointer refused, no shadow answers: %s", exc)
            return
        if not pointer.checksums:  # `catdog models shadow` always records them; a pointer without
            self._drop()           # them vouches for nothing (only old live pointers are excused)
            log.warning("shadow pointer %s records no sha256 of the version's files: refused, no shadow "
                        "answers (set it with `catdog models shadow VERSION`)", self.uri)
            return
        if self._current is not None and pointer == self._pointer:
            return  # the same candidate, kept warm
        if pointer == self._refused:
            log.warning("shadow model %s still refused (see the warning when it was loaded): no shadow "
                        "answers until %s names another version", pointer.version, self.uri)
            return
        self._drop()
        self._pointer = pointer
        if pointer.version == live.version:
            return  # get() says so; nothing to download
        try:
            self._current = self._load(pointer, vouched_by=self.uri)
        except Exception as exc:  # anything at all: a shadow model never takes the function down
            self._drop(keep_pointer=True)
            if not isinstance(exc, (ClientError, BotoCoreError)):  # S3 trouble is worth another try
                self._refused = pointer
            log.warning("shadow model %s refused, no shadow answers until %s names a usable version: %s",
                        pointer.version, self.uri, exc)
            return
        log.info("shadow model %s loaded in %.3f s", pointer.version, self._current.load_seconds)

    def _drop(self, keep_pointer: bool = False) -> None:
        """Forget the loaded candidate and free its /tmp space (Lambda's /tmp is 512 MB)."""
        self._current = None
        if not keep_pointer:
            self._pointer = None
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    def _say(self, level: int, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            log.log(level, message)


@dataclass
class ShadowResult:
    """What one batch's shadow pass did (for the log and the metrics)."""

    version: str | None = None
    answered: int = 0  # shadow answers recorded
    agreed: int = 0  # ... that were the live label
    stale: int = 0  # a newer answer was written in between: nothing recorded
    failed: int = 0  # a write error: nothing recorded for that image
    seconds: float = 0.0  # the extra LiteRT call(s)


TimeLeft = Callable[[], float]
#: Time a pointer re-read may take on top of the reserve: three reads (pointer, manifest, `.tflite`)
#: at the shadow client's timeouts, and building the interpreter.
LOAD_ALLOWANCE_SECONDS = 10.0
ImageLogContext = Callable[[ObjectEvent], AbstractContextManager[object]]


class ShadowPass:
    """After the live answers of a batch are written: the shadow model on the same pixels, its
    answers recorded beside them. Never raises."""

    def __init__(self, store: ShadowStore, results: ResultsTable, *, reserve_seconds: float,
                 log_context: ImageLogContext | None = None) -> None:
        self.store = store
        self.results = results
        #: Nothing is started with less time than this left: a timeout would fail the live answers too.
        self.reserve_seconds = reserve_seconds
        self.log_context = log_context

    def run(self, written: Sequence[Classified], live: LoadedModel,
            time_left: TimeLeft | None = None) -> ShadowResult:
        result = ShadowResult()
        answers = _one_per_read(written)
        if not answers:
            return result
        try:
            allowance = LOAD_ALLOWANCE_SECONDS if self.store.due() else 0.0
            if self._short_of_time(time_left, "load the shadow model", len(answers), allowance):
                return result
            model = self.store.get(live.manifest)
        except Exception as exc:
            log.warning("no shadow answers for this batch: %s", exc)
            return result
        if model is None:
            return result
        result.version = model.version
        if self._short_of_time(time_left, f"run shadow model {model.version}", len(answers)):
            return result
        started = time.perf_counter()
        try:
            predictions = model.classifier.classify([a.pixels for a in answers if a.pixels is not None])
        except Exception as exc:
            log.warning("shadow model %s failed on %s, no shadow answers: %s", model.version,
                        plural(len(answers), "image"), exc)
            return result
        result.seconds = time.perf_counter() - started
        unusable = [p for p in predictions if not math.isfinite(p.confidence)]
        if unusable:  # DynamoDB takes no NaN; one warning for the batch, not one write error per image
            log.warning("shadow model %s gave %s a probability that is not a number: not recorded",
                        model.version, plural(len(unusable), "image"))
        for answer, prediction in zip(answers, predictions, strict=True):
            if math.isfinite(prediction.confidence):
                self._record(answer, prediction, live.version, model.version, result)
        log.info("shadow model %s answered %s beside %s: %d the same", model.version,
                 plural(result.answered, "image"), live.version, result.agreed)
        return result

    def _record(self, answer: Classified, prediction: Prediction, live_version: str, version: str,
                result: ShadowResult) -> None:
        with self.log_context(answer.event) if self.log_context else nullcontext():
            try:
                written = self.results.put_shadow(answer.event, answer.facts, live_version,
                                                  answer.prediction.label, prediction, version)
            except Exception as exc:
                result.failed += 1
                log.warning("shadow answer not recorded (the live answer stands): %s: %s",
                            type(exc).__name__, exc)
                return
            if written is WriteResult.WRITTEN:
                result.answered += 1
                result.agreed += prediction.label == answer.prediction.label
            else:
                result.stale += 1
                log.info("a newer answer was written since; the shadow answer was not recorded")

    def _short_of_time(self, time_left: TimeLeft | None, what: str, n: int, allowance: float = 0.0) -> bool:
        left = time_left() if time_left is not None else None
        if left is None or left >= self.reserve_seconds + allowance:
            return False
        log.warning("too little time left to %s (%.1f s, keeping %g s in reserve): no shadow answers for "
                    "%s", what, left, self.reserve_seconds + allowance, plural(n, "image"))
        return True


def _one_per_read(written: Sequence[Classified]) -> list[Classified]:
    """One answer per item and read: an object named twice in a batch was read (and written) once
    per event, and its item needs one shadow answer."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for answer in written:
        key = (answer.event.uri, answer.facts.observed_at)
        if key not in seen and answer.pixels is not None:
            seen.add(key)
            out.append(answer)
    return out
