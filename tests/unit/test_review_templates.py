"""The page and the report show labels and versions escaped like keys (issue 19, finding 9).

Bidi and zero-width characters in labels reached the page and the report raw (keys were escaped):
a label `ca\\u202et` turned the rest of its line around. Manifests refuse such labels now, but
table items (a model's answer, a person's label, the scores) and older manifests are outside that
check, so every place a label or version is shown escapes it. Rendered here without AWS.
"""

from __future__ import annotations

from collections import Counter

from catdog.manifest import ModelPointer
from catdog_cli.review.shadow import Comparison, Verdict
from catdog_cli.review.stats import Counts, VersionAccuracy
from catdog_cli.review.templates import render
from catdog_cli.review.views import View

BIDI, ZERO_WIDTH, ESCAPE = "\u202e", "\u200b", "\x1b"
CAT, DOG = f"ca{BIDI}t", f"d{ZERO_WIDTH}og"
ITEM = {"image": "s3://b/uploads/a.jpg", "etag": "e", "status": "classified", "label": CAT,
        "model_label": DOG, "top_label": CAT, "confidence": 0.9, "model_version": f"v1{ESCAPE}[2J",
        "scores": {CAT: 0.1, DOG: 0.9}, "shadow_label": CAT, "shadow_confidence": 0.7,
        "shadow_version": f"v3{BIDI}"}
#: A shadow model's comparison, its version and labels as hostile as the table's can be.
SHADOW = Verdict(Comparison(f"v3{BIDI}", 2, 1, Counter({(DOG, CAT): 1}), Counter({f"v1{ESCAPE}": 2}),
                            1, 0, 1),
                 require=100, min_accuracy=0.9, failures=[f"{ZERO_WIDTH} fewer than the 100 required"])


def _page() -> str:
    counts = Counts(classified=1, failed=0, unknown=0, reviewed=0, low=0, threshold=0.8,
                    per_label={CAT: 1, DOG: 0})
    return render("page", token="t", nonce="n", table="tbl", bucket="b", live=ModelPointer.for_version(
        "models/", "v1"), labels=[CAT, DOG], items=[ITEM], counts=counts,
        links=[("?view=label", f"label {CAT}", 1)], version_links=[("?view=model", f"model v2{BIDI}")],
        accuracy=[VersionAccuracy(f"v{ZERO_WIDTH}2", 1, 1)], current="", error=None, first_url="?",
        next_url=None, thumb_url=lambda item: "thumb?x", view=View("label", CAT), warnings=[f"bad {BIDI}"])


def _report() -> str:
    counts = Counts(classified=1, failed=0, unknown=0, reviewed=0, low=0, threshold=0.8, per_label={CAT: 1})
    return render("report", table="tbl", bucket="b", live=None, counts=counts,
                  accuracy=[VersionAccuracy(f"v{ZERO_WIDTH}2", 1, 1)], histograms={DOG: [1] + [0] * 9},
                  edges=[str(i) for i in range(10)], items=[ITEM], tiles=[(ITEM, "data:,")], more=False,
                  made_at="now", warnings=[], shadow=SHADOW)


def test_no_control_bidi_or_zero_width_character_reaches_the_page_or_the_report() -> None:
    for html in (_page(), _report()):
        assert BIDI not in html and ZERO_WIDTH not in html and ESCAPE not in html
        assert "ca\\u202et" in html and "d\\u200bog" in html  # shown, as visible escapes
    page = _page()
    assert "1 ca\\u202et</button>" in page and "v\\u200b2" in page and "model v2\\u202e" in page


def test_the_shadow_answer_and_the_comparison_are_escaped_too() -> None:
    """Input: a shadow version with a bidi override, labels with bidi and zero-width characters, a
    live version with an escape sequence: shown, as visible escapes, in the tile and the report."""
    page, report = _page(), _report()
    assert 'class="shadow differs">shadow: ca\\u202et 70.0% · v3\\u202e' in page
    assert "Live vs shadow: v3\\u202e" in report and "d\\u200bog → ca\\u202et" in report
    assert "live v1\\x1b" in report and "would be refused: \\u200b fewer than the 100 required" in report
