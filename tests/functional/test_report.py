"""`catdog report`: one static, self-contained, read-only HTML file with the gallery and the summary."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from catdog.results import ResultsTable
from catdog_cli.main import main
from catdog_local.provision import Stack
from tests.functional.conftest import REGION
from tests.support.review import HOSTILE_KEY, Photo, publish_manifest, put_photos

PHOTOS = [Photo("uploads/c1.jpg", "cat", 0.95), Photo("uploads/c2.jpg", "cat", 0.71),
          Photo("uploads/d1.jpg", "dog", 0.99, "v2"), Photo(HOSTILE_KEY, "dog", 0.93, "v2"),
          Photo("uploads/u.jpg", "unknown", 0.55), Photo("uploads/bad.jpg", "failed", body=b"%PDF-1.4 nope")]


def test_the_report_is_self_contained_read_only_and_summarises_the_table(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "cache"))
    publish_manifest(REGION, stack.bucket, "v2")
    etags = put_photos(stack, REGION, PHOTOS)
    writer = ResultsTable.named(stack.table)
    d1 = f"s3://{stack.bucket}/uploads/d1.jpg"
    writer.record_review(d1, etag=etags["uploads/d1.jpg"], human_label="cat", reviewer="ann")
    out = tmp_path / "share" / "report.html"
    assert main(["report", "--output", str(out), "--table", stack.table, "--bucket", stack.bucket]) == 0
    assert f"wrote {out}: 6 images" in capsys.readouterr().out
    html = out.read_text()

    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 6 and all(s.startswith(("data:image/jpeg;base64,", "data:image/svg+xml;base64,"))
                                     for s in sources)
    assert "<script" not in html and "thumb?" not in html and not re.search(r"(href|src)=\"https?:", html)
    assert "default-src 'none'; img-src data:" in html
    assert "<button" not in html  # read-only
    assert "&lt;img src=x onerror=" in html and "<img src=x" not in html and "\x1b" not in html

    assert re.search(r"<td>all \(classified \+ failed\)</td><td>6</td>", html)
    assert re.search(r"<td>label cat</td><td>3</td>", html)  # two by the model, one by a person
    assert re.search(r"<td>unknown</td><td>1</td>", html) and re.search(r"<td>failed</td><td>1</td>", html)
    histogram = html[html.index("histogram"):html.index("Reviewed accuracy")]
    assert [m for m in re.findall(r"<tr><td>(\w+)</td>", histogram)] == ["cat", "dog", "unknown"]
    assert re.search(r"v2 \(live\)</td>\s*<td>1</td><td>0</td><td>0.0%", html)


def test_a_limit_keeps_the_newest_and_zero_gives_the_summary_only(stack: Stack, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "cache"))
    put_photos(stack, REGION, PHOTOS)
    out = tmp_path / "r.html"
    names = ["--table", stack.table, "--bucket", stack.bucket]
    assert main(["report", "-o", str(out), "--limit", "2", *names]) == 0
    html = out.read_text()
    assert html.count('<figure class="tile') == 2 and "bad.jpg" in html and "u.jpg" in html  # the newest two
    assert "(of 6)" in html
    assert main(["report", "-o", str(out), "--limit", "0", *names]) == 0
    assert '<figure class="tile' not in out.read_text()


def test_a_missing_table_is_one_line_on_stderr_and_no_file(stack: Stack, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", "-o", str(out), "--table", "nope", "--bucket", stack.bucket]) == 2
    assert "no results table 'nope'" in capsys.readouterr().err and not out.exists()


def test_the_report_is_written_through_a_fresh_temp_file_never_through_a_planted_symlink(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19, finding 8: `report` wrote a predictable OUTPUT.tmp and followed a symlink planted there."""
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "cache"))
    put_photos(stack, REGION, PHOTOS[:2])
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("must stay as it is")
    out = shared / "report.html"
    (shared / "report.html.tmp").symlink_to(victim)  # what another user of the folder could plant
    names = ["--table", stack.table, "--bucket", stack.bucket]
    assert main(["report", "-o", str(out), *names]) == 0
    assert victim.read_text() == "must stay as it is"
    assert out.is_file() and not out.is_symlink() and "<h1>catdog report</h1>" in out.read_text()
    assert sorted(p.name for p in shared.iterdir()) == ["report.html", "report.html.tmp"]  # no leftovers

    out.unlink()
    out.symlink_to(victim)  # the output name itself a link: replaced, not followed
    assert main(["report", "-o", str(out), *names]) == 0
    assert victim.read_text() == "must stay as it is" and not out.is_symlink()
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # a new file's usual mode


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
