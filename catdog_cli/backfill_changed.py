"""`catdog backfill --changed-only`: after a change of live model, re-classify only what another
version answered, wait for the new answers, and say how many labels changed, from what to what.

Which items: a Query on `model-index` for every published version other than the live one (items
of a version whose folder was deleted from `models/` are not found this way; a plain backfill
re-queues everything). Each is queued as the S3-shaped message a plain backfill sends, with the
object's recorded etag and size. Then the table is polled (BatchGetItem, 100 keys a request) until
every item was answered again, or the timeout: a new `processed_at` means an answer. An answer
from the live version counts its transition (the model's label, before → after; a person's label
is kept by the table either way); an answer from another version means a container that had not
re-read `models/latest.json` yet (`MODEL_REFRESH_SECONDS`), and running the command again
re-queues exactly those.

An item whose object was deleted since it was classified never gets a new answer (the function
skips an object that is gone): while waiting, the objects of the items still unanswered are looked
up (HEAD) after the first poll and every `RECHECK_S` seconds, and those that are gone are named
and no longer waited for, instead of the whole timeout passing and the worker being blamed.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from catdog.config import DEFAULT_MODEL_KEY
from catdog.errors import CatdogError
from catdog.model_repo import ModelRepo
from catdog.plural import plural
from catdog.s3uri import S3Uri
from catdog.status import Status
from catdog_cli import exit_codes
from catdog_cli.backfill import BackfillTarget, s3_event_body, send_batches
from catdog_cli.display import printable
from catdog_cli.dynamo_items import plain_item
from catdog_cli.event import head_object
from catdog_cli.review.stats import query_all
from catdog_cli.review.views import MODEL_INDEX, Stream
from catdog_cli.targets import ENV_TABLE, client, resolve_name

POLL_S = 1.0
#: How often the objects of still-unanswered items are looked up again while waiting.
RECHECK_S = 30.0
_FIELDS = ("image", "etag", "size_bytes", "model_version", "model_label", "processed_at", "status")


@dataclass(frozen=True)
class Stale:
    """An item answered by another version than the live one: what it said, and when."""

    image: str
    key: str
    etag: str
    size: int
    model_version: str
    model_label: str
    processed_at: str


def changed_items(ddb: Any, table: str, uri: S3Uri, live: str, versions: list[str]) -> list[Stale]:
    """Classified items under `uri` answered by any of `versions` other than `live`."""
    prefix = f"s3://{uri.bucket}/{uri.key}"
    found = []
    for version in versions:
        if version == live:
            continue
        for item in query_all(ddb, table, Stream(MODEL_INDEX, "model_version", version), _FIELDS):
            image = str(item.get("image", ""))
            if (item.get("status") != Status.CLASSIFIED.value or not image.startswith(prefix)
                    or not item.get("etag")):
                continue
            found.append(Stale(image, image.split("/", 3)[3], str(item["etag"]),
                               int(item.get("size_bytes") or 0), str(item["model_version"]),
                               str(item.get("model_label", "")), str(item.get("processed_at", ""))))
    return sorted(found, key=lambda s: s.image)


def queue(sqs: Any, queue_url: str, items: list[Stale], bucket: str, region: str) -> dict[str, str]:
    """Send one S3-shaped message per item; returns the ones SQS refused (image -> error)."""
    bodies = [(s.image, s3_event_body(bucket, {"Key": s.key, "Size": s.size, "ETag": s.etag}, region))
              for s in items]
    return send_batches(sqs, queue_url, bodies)


@dataclass
class Reanswers:
    """What became of the re-queued items: answered again by the live model, by another, or not."""

    #: (the model's label before, after) for the items the live model answered
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_other_version: dict[str, str] = field(default_factory=dict)  # image -> the version that answered
    no_longer_classified: dict[str, str] = field(default_factory=dict)  # image -> status (failed, deleted)
    gone: list[str] = field(default_factory=list)  # the object was deleted: nothing to re-classify
    unanswered: list[str] = field(default_factory=list)

    @property
    def answered_by_live(self) -> int:
        return sum(self.transitions.values())

    @property
    def changed(self) -> int:
        return sum(n for (a, b), n in self.transitions.items() if a != b)

    def describe_changes(self) -> str:
        moves = sorted(((a, b, n) for (a, b), n in self.transitions.items() if a != b),
                       key=lambda x: (-x[2], x[0], x[1]))
        return ", ".join(f"{a}→{b} {n}" for a, b, n in moves)


def _get_many(ddb: Any, table: str, images: list[str]) -> dict[str, dict[str, Any]]:
    """The items of `images` (BatchGetItem, 100 at a time, retrying what DynamoDB left unprocessed)."""
    out: dict[str, dict[str, Any]] = {}
    names = {f"#f{i}": name for i, name in enumerate(_FIELDS)}
    for i in range(0, len(images), 100):
        request: dict[str, Any] = {table: {"Keys": [{"image": {"S": image}} for image in images[i : i + 100]],
                                           "ProjectionExpression": ", ".join(names),
                                           "ExpressionAttributeNames": names, "ConsistentRead": True}}
        while request:
            response = ddb.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = plain_item(raw)
                out[str(item["image"])] = item
            request = response.get("UnprocessedKeys") or {}
            if request:
                time.sleep(0.2)
    return out


def wait(ddb: Any, table: str, items: list[Stale], live: str, *, timeout_s: float,
         poll_s: float = POLL_S, progress: Callable[[int], object] | None = None,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep,
         exists: Callable[[Stale], bool] | None = None, recheck_s: float = RECHECK_S) -> Reanswers:
    """Poll until each item has a newer answer than the one that was re-queued, or the timeout.
    `exists(item)`: is its object still there? Items whose object is gone stop being waited for;
    asked only after a poll in which nothing was answered (while answers come, the worker is busy,
    and a HEAD per waiting object would be wasted), at most every `recheck_s`."""
    outcome = Reanswers()
    pending = {s.image: s for s in items}
    started = clock()
    deadline = started + timeout_s
    checked_at: float | None = None
    while pending:
        waiting = len(pending)
        found = _get_many(ddb, table, list(pending))
        for image in [i for i in pending if i not in found]:  # the item itself is gone
            del pending[image]
            outcome.no_longer_classified[image] = "gone from the table"
        for image, now in found.items():
            before = pending[image]
            if str(now.get("processed_at", "")) <= before.processed_at:
                continue  # not answered again yet
            del pending[image]
            if progress:
                progress(1)
            if now.get("status") != Status.CLASSIFIED.value:
                outcome.no_longer_classified[image] = str(now.get("status"))
            elif now.get("model_version") != live:
                outcome.by_other_version[image] = str(now.get("model_version"))
            else:
                outcome.transitions[(before.model_label, str(now.get("model_label", "")))] += 1
        stalled = len(pending) == waiting and clock() > started  # the first poll: nothing answered yet
        if pending and exists is not None and stalled and (checked_at is None
                                                          or clock() - checked_at >= recheck_s):
            checked_at = clock()
            for image in [i for i, s in pending.items() if not exists(s)]:
                del pending[image]
                outcome.gone.append(image)
                if progress:
                    progress(1)
        if not pending or clock() >= deadline:
            break
        sleep(poll_s)
    outcome.gone.sort()
    outcome.unanswered = sorted(pending)
    return outcome


def object_exists(s3: Any, bucket: str) -> Callable[[Stale], bool]:
    """`exists` for `wait`: a HEAD of the item's object; only S3's "not found" means gone."""

    def exists(item: Stale) -> bool:
        facts = head_object(s3, bucket, item.key)
        return facts.exists or facts.error is not None  # an error cannot tell: keep waiting

    return exists


def live_version(bucket: str, s3: Any) -> tuple[str, list[str]]:
    """(the live version, every published version) from `s3://bucket/models/`."""
    repo = ModelRepo(s3, bucket)
    live = repo.live()
    if live is None:
        raise CatdogError(f"no live model in s3://{bucket}/models/ (nothing to compare the answers with)")
    return live.version, repo.list_versions()


def run(target: BackfillTarget, *, table: str | None, stack: str | None, wait_for_answers: bool,
        timeout_s: float, progress: bool) -> int:
    """`catdog backfill --changed-only`: queue what another version answered, then (unless
    `wait_for_answers` is False) wait for the new answers and say what changed; the exit code."""
    uri, queue_url = target.uri, target.queue_url
    table_name = resolve_name(table, ENV_TABLE, "table", "table", stack).name
    ddb, s3 = client("dynamodb"), client("s3")
    live, versions = live_version(uri.bucket, s3)
    items = changed_items(ddb, table_name, uri, live, versions)
    by_version = Counter(s.model_version for s in items)
    if not items:
        print(f"nothing to re-classify: every classified image under {printable(uri)} was answered by the "
              f"live model {printable(live)}")
        return exit_codes.OK
    failed = queue(client("sqs"), queue_url, items, uri.bucket, target.region)
    queued = [s for s in items if s.image not in failed]
    print(f"queued {plural(len(queued), 'image')} answered by another model than the live {printable(live)} ("
          + ", ".join(f"{printable(v)} {n}" for v, n in sorted(by_version.items())) + f") on {queue_url}")
    for image, error in sorted(failed.items()):
        print(f"  FAILED {printable(image)}: {printable(error)}", file=sys.stderr)
    if not wait_for_answers:
        print("not waiting (--no-wait): `catdog backfill --changed-only` again shows what is left")
        return exit_codes.PARTIAL if failed else exit_codes.OK
    started = time.monotonic()
    with tqdm(total=len(queued), unit="image", desc="re-classify", disable=not progress) as bar:
        outcome = wait(ddb, table_name, queued, live, timeout_s=timeout_s, progress=bar.update,
                       exists=object_exists(s3, uri.bucket))
    seconds = time.monotonic() - started
    changes = f" ({outcome.describe_changes()})" if outcome.changed else ""
    unchanged = outcome.answered_by_live - outcome.changed
    print(f"answered by {printable(live)}: {outcome.answered_by_live} of {len(queued)} in {seconds:.1f}s; "
          f"labels changed: {outcome.changed}{changes}, unchanged {unchanged}")
    if outcome.by_other_version:
        versions_seen = Counter(outcome.by_other_version.values())
        print(f"{len(outcome.by_other_version)} were answered by an older model again ("
              + ", ".join(f"{printable(v)} {n}" for v, n in sorted(versions_seen.items()))
              + f"): the function had not re-read {DEFAULT_MODEL_KEY} yet (MODEL_REFRESH_SECONDS); run "
              "this again to re-queue them", file=sys.stderr)
    if outcome.no_longer_classified:
        print(f"{len(outcome.no_longer_classified)} are no longer classified (failed, deleted or gone)",
              file=sys.stderr)
    if outcome.gone:
        n = len(outcome.gone)
        print(f"{n} {'image was' if n == 1 else 'images were'} deleted from the bucket after being "
              "classified: nothing to re-classify (their items keep the old answer; `catdog event remove "
              "KEY | catdog invoke --event -` marks one deleted)", file=sys.stderr)
        for image in outcome.gone[:20]:
            print(f"  GONE {printable(image)}", file=sys.stderr)
        if n > 20:
            print(f"  … and {n - 20} more", file=sys.stderr)
    if outcome.unanswered:
        print(f"{len(outcome.unanswered)} not answered within {timeout_s:g}s: is a worker running? "
              "(locally: `catdog local worker`, or `catdog demo --keep-running`)", file=sys.stderr)
    failures = failed or outcome.unanswered or outcome.by_other_version
    return exit_codes.PARTIAL if failures else exit_codes.OK
