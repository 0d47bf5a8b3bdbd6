"""The review page in a real browser: a `catdog review` process over a `catdog local up` process.

Keys and clicks as a person uses them, then a reload and a look at the table item itself; the
grid's screenshot is kept at build/review-grid.png (build/ is not committed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from catdog_local.state import LocalState
from tests.support.aws import fake_aws_env
from tests.support.browser import chromium, require_browser
from tests.support.paths import REPO
from tests.support.processes import review_server, review_stack
from tests.support.review import HOSTILE_KEY, Photo, item, publish_manifest, put_photos

pytestmark = pytest.mark.slow

SCREENSHOT = REPO / "build" / "review-grid.png"
#: Oldest first: the page shows them newest first, so the grid starts with the last one.
PHOTOS = [Photo(f"uploads/pets/cat-{i}.jpg", "cat", 0.97 - i / 100) for i in range(6)] + [
    Photo("uploads/pets/odd.jpg", "unknown", 0.52), Photo(HOSTILE_KEY, "dog", 0.66),
    Photo("uploads/pets/broken.jpg", "failed", body=b"GIF89a but not really"),
    Photo("uploads/pets/dog-2.jpg", "dog", 0.91), Photo("uploads/pets/dog-1.jpg", "dog", 0.88)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalState, dict[str, str]]]:
    require_browser()  # before starting two servers for nothing
    with review_stack(tmp_path_factory) as found:
        yield found


@pytest.fixture
def aws(stack: tuple[LocalState, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> tuple[LocalState, Any]:
    state, env = stack
    fake_aws_env(monkeypatch, state.region, state.endpoint)
    return state, env


def _wait_until(page: Any, expression: str, timeout: float = 20) -> None:
    """Poll a JS expression (page.wait_for_function evaluates strings, which the page's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.1)


def _uri(state: LocalState, key: str) -> str:
    return f"s3://{state.bucket}/{key}"


def test_review_with_keys_and_clicks_then_reload_and_the_table_agrees(aws: tuple[LocalState, Any]) -> None:
    state, env = aws
    publish_manifest(state.region, state.bucket, "v1")
    etags = put_photos(state, state.region, PHOTOS)
    with review_server(env, "--reviewer", "tester", "--page-size", "20") as (url, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        tiles = page.locator("figure.tile")
        assert tiles.count() == len(PHOTOS)
        odd = page.locator("figure.tile", has_text="odd.jpg").inner_text()  # the model's `unknown`
        assert "model: unknown (none of its labels), looks most like cat 52.0%" in odd
        _wait_until(page, "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # the newest photo has the focus: 1 = cat (the model said dog)
        first = tiles.nth(0)
        assert "dog-1.jpg" in first.inner_text()
        page.keyboard.press("1")
        first.locator(".msg").filter(has_text="saved").wait_for()
        # the header follows without a reload (issue 19: it stayed stale until one): the reviewed
        # count, and v1's row in the accuracy table (it said dog, the reviewer cat)
        _wait_until(page, "document.querySelector('a[data-count=\"?view=reviewed\"] .n').textContent === '1'")
        v1_row = page.inner_text("table.accuracy").split("\n")[1].split("\t")
        assert v1_row == ["v1 (live)", "1", "0", "0.0%", "0"]
        # the focus moved on to dog-2: s skips it, and the failed one after it (which has no buttons)
        page.keyboard.press("s")
        page.keyboard.press("s")
        focused = page.evaluate("document.activeElement.querySelector('.key').textContent")
        assert "\\x1b[2J\\u202egpj.jpg" in focused  # the hostile key, shown as text with visible escapes
        page.keyboard.press("0")  # unknown: none of the labels
        tiles.nth(3).locator(".msg").filter(has_text="saved").wait_for()
        # a click on a label button (cat-5, two tiles further)
        tiles.nth(5).locator("button[data-label='dog']").click()
        tiles.nth(5).locator(".msg").filter(has_text="saved").wait_for()

        page.reload()
        assert page.locator("figure.tile.reviewed").count() == 3
        assert page.locator("figure.tile img[onerror]").count() == 0 and not dialogs and not errors

        assert item(state.region, state.table, _uri(state, "uploads/pets/dog-1.jpg"))["human_label"] == "cat"
        hostile = item(state.region, state.table, _uri(state, HOSTILE_KEY))
        assert (hostile["human_label"], hostile["label"], hostile["reviewed_by"]) == ("unknown", "unknown",
                                                                                      "tester")
        assert item(state.region, state.table, _uri(state, "uploads/pets/cat-5.jpg"))["human_label"] == "dog"
        assert "human_label" not in item(state.region, state.table, _uri(state, "uploads/pets/dog-2.jpg"))

        # a re-upload while the page is open: the review is refused and the tile says why
        stale = tiles.nth(1)
        reupload = Photo("uploads/pets/dog-2.jpg", "cat", 0.7, body=b"\xff" + bytes(50))
        put_photos(state, state.region, [reupload])
        stale.locator("button[data-label='cat']").click()
        stale.locator(".msg").filter(has_text="re-uploaded after the page was loaded").wait_for()
        assert "human_label" not in item(state.region, state.table, _uri(state, "uploads/pets/dog-2.jpg"))
        assert etags  # every photo had a real object behind it

        # the views, the accuracy table and paging, as links a person follows
        page.goto(url + "?view=failed")
        assert page.locator("figure.tile").count() == 1 and "not_an_image" in page.inner_text("main")
        page.goto(url + "?view=reviewed")
        assert page.locator("figure.tile").count() == 3
        assert "v1 (live)" in page.inner_text("table.accuracy")
        page.goto(url + "?size=5")
        assert page.locator("figure.tile").count() == 5
        page.click("a[rel=next]")
        assert page.locator("figure.tile").count() == 5
