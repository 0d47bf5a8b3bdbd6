"""How a shadow model did beside the live one: `catdog models compare`, `promote --require-shadow`,
the report and the review page all count with this module.

Read through the sparse `shadow-index`: the items one shadow version answered, agreeing and
disagreeing in two partitions (`<version>:agree`, `<version>:disagree`), so a comparison reads
exactly the items the shadow answered and the page's disagree view only the disagreements.

- Agreement: how often the shadow's label was the live model's (`model_label`, the answer it was
  given beside; a person's review does not change it), and the changes, live → shadow, counted.
- Reviewed accuracy, side by side: on the reviewed items both models answered, each model's label
  against the human one. An item either model was trained on (the shadow's `data.trained_on`, or
  that of the live version that answered it) is left out of BOTH figures and counted as excluded,
  as the review loop's honest accuracy does: the two figures are on the very same photos, and
  neither counts what a model learned by heart.
- The promote gate's `--require-shadow N`: at least N shadowed items, and no drop in reviewed
  accuracy (the shadow right on at least as many of those photos as the live model; with none
  reviewed there is nothing to show it did not drop, and the gate says so).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catdog.manifest import Manifest, image_id
from catdog.plural import plural
from catdog.results import shadow_agreement
from catdog.status import Status
from catdog_cli.display import percent
from catdog_cli.review.stats import query_all
from catdog_cli.review.views import SHADOW_INDEX, Stream

#: What a comparison reads of each item.
FIELDS = ("image", "etag", "status", "model_label", "model_version", "shadow_label", "shadow_version",
          "human_label")


def shadow_stream(version: str, agrees: bool) -> Stream:
    """One partition of the shadow-index: the items `version` answered the live label (or not)."""
    return Stream(SHADOW_INDEX, "shadow_agreement", shadow_agreement(version, agrees))


def shadow_streams(version: str) -> list[Stream]:
    """Every item `version` answered as a shadow model: disagreements first."""
    return [shadow_stream(version, False), shadow_stream(version, True)]


@dataclass
class Comparison:
    """A shadow version against the live answers it was given beside."""

    version: str
    shadowed: int = 0
    agreed: int = 0
    #: (live label, shadow label) → how many, for the items where they differ
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: the live versions that answered these items → how many each
    live_versions: Counter[str] = field(default_factory=Counter)
    reviewed: int = 0  # reviewed items both answered, less the excluded ones: both accuracies' base
    live_right: int = 0
    shadow_right: int = 0
    excluded: int = 0  # reviewed items either model was trained on

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.shadowed if self.shadowed else None

    @property
    def live_accuracy(self) -> float | None:
        return self.live_right / self.reviewed if self.reviewed else None

    @property
    def shadow_accuracy(self) -> float | None:
        return self.shadow_right / self.reviewed if self.reviewed else None

    @property
    def live_label(self) -> str:
        """The live version(s) compared with, most items first: `v1`, or `v1 (230), v0 (10)`."""
        if len(self.live_versions) == 1:
            return next(iter(self.live_versions))
        return ", ".join(f"{v} ({n})" for v, n in self.live_versions.most_common()) or "—"


def tally(items: Iterable[Mapping[str, Any]], version: str,
          trained_on: Mapping[str, frozenset[str]] | None = None) -> Comparison:
    """The comparison of `version` over `items` (plain values, as `query_all` yields them)."""
    found = Comparison(version)
    learned = trained_on or {}
    for item in items:
        if item.get("status") != Status.CLASSIFIED.value or item.get("shadow_version") != version:
            continue  # (the index holds only such items; anything else is not a shadow answer)
        live, shadow = str(item.get("model_label")), str(item.get("shadow_label"))
        live_version = str(item.get("model_version") or "?")
        found.shadowed += 1
        found.live_versions[live_version] += 1
        if live == shadow:
            found.agreed += 1
        else:
            found.changes[(live, shadow)] += 1
        human = item.get("human_label")
        if not human:
            continue
        photo = image_id(str(item.get("image")), str(item.get("etag") or ""))
        if photo in learned.get(version, ()) or photo in learned.get(live_version, ()):
            found.excluded += 1
            continue
        found.reviewed += 1
        found.live_right += live == human
        found.shadow_right += shadow == human
    return found


def compare(ddb: Any, table: str, version: str,
            trained_on: Mapping[str, frozenset[str]] | None = None) -> Comparison:
    """`version`'s shadow answers in `table`, both partitions of the shadow-index."""
    items = (item for stream in shadow_streams(version) for item in query_all(ddb, table, stream, FIELDS))
    return tally(items, version, trained_on)


def gate_failures(c: Comparison, required: int) -> list[str]:
    """Why `promote --require-shadow required` refuses the version (empty: it passes), with the numbers."""
    failures = []
    if c.shadowed < required:
        failures.append(f"{c.version} answered {plural(c.shadowed, 'upload')} as the shadow model, fewer "
                        f"than the {required} required")
    if c.reviewed == 0:
        excluded = f" ({c.excluded} more left out: a model was trained on them)" if c.excluded else ""
        failures.append(f"none of them is reviewed{excluded}, so nothing shows its reviewed accuracy did not "
                        "drop (review some: the page's \"live vs shadow disagree\" view)")
    elif c.shadow_right < c.live_right:
        failures.append(f"its reviewed accuracy drops: {percent(c.shadow_accuracy)} ({c.shadow_right} of "
                        f"{c.reviewed}) against the live model's {percent(c.live_accuracy)} "
                        f"({c.live_right} of {c.reviewed})")
    return failures


@dataclass(frozen=True)
class Verdict:
    """A comparison judged as `promote VERSION --require-shadow require --min-accuracy min_accuracy`
    would judge it: `failures` says why it would refuse (empty: it would pass)."""

    comparison: Comparison
    require: int
    min_accuracy: float
    failures: list[str]

    @property
    def changes(self) -> list[tuple[tuple[str, str], int]]:
        """The label changes, live → shadow, most frequent first."""
        return sorted(self.comparison.changes.items(), key=lambda kv: (-kv[1], kv[0]))


def judge(c: Comparison, manifest: Manifest | None, require: int, min_accuracy: float) -> Verdict:
    """The promote gate's verdict on `c`: the quality gate's accuracy bar on the version's manifest
    (`manifest`, None when it could not be read and verified), then the shadow comparison's."""
    accuracy = manifest.metrics.get("accuracy") if manifest else None
    failures = []
    if not isinstance(accuracy, int | float):
        failures.append(f"no validation accuracy of {c.version} could be read (its manifest: see the "
                        "warnings)")
    elif accuracy < min_accuracy:
        failures.append(f"validation accuracy {accuracy:.4f} is below --min-accuracy {min_accuracy:.4f}")
    return Verdict(c, require, min_accuracy, failures + gate_failures(c, require))


def summary(c: Comparison) -> str:
    """One line with the numbers: what a refusal and the page say."""
    return (f"{plural(c.shadowed, 'upload')} shadowed, agreement {percent(c.agreement)}; reviewed "
            f"{c.reviewed} (excluded {c.excluded}): shadow {percent(c.shadow_accuracy)}, live "
            f"{percent(c.live_accuracy)}")
