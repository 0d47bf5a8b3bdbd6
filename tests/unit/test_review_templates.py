"""The page and the report show labels and versions escaped like keys (issue 19, finding 9).

Bidi and zero-width characters in labels reached the page and the report raw (keys were escaped):
a label `ca\\u202et` turned the rest of its line around. Manifests refuse such labels now, but
table items (a model's answer, a person's label, the scores) and older manifests are outside that
check, so every place a label or version is shown escapes it. Rendered here without AWS.
"""

from __future__ import annotations

from catdog.manifest import ModelPointer
from catdog_cli.review.stats import Counts, VersionAccuracy
from catdog_cli.review.templates import render
from catdog_cli.review.views import View

BIDI, ZERO_WIDTH, ESCAPE = "\u202e", "\u200b", "\x1b"
CAT, DOG = f"ca{BIDI}t", f"d{ZERO_WIDTH}og"
ITEM = {"image": "s3://b/uploads/a.jpg", "etag": "e", "status": "classified", "label": CAT,
        "model_label": DOG, "top_label": CAT, "confidence": 0.9, "model_version": f"v1{ESCAPE}[2J",
        "scores": {CAT: 0.1, DOG: 0.9}}


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
                  made_at="now", warnings=[])


def test_no_control_bidi_or_zero_width_character_reaches_the_page_or_the_report() -> None:
    for html in (_page(), _report()):
        assert BIDI not in html and ZERO_WIDTH not in html and ESCAPE not in html
        assert "ca\\u202et" in html and "d\\u200bog" in html  # shown, as visible escapes
    page = _page()
    assert "1 ca\\u202et</button>" in page and "v\\u200b2" in page and "model v2\\u202e" in page
