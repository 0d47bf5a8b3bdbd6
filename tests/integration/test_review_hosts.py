"""`catdog review`'s Host allowlist holds for every bind address (issue 19, finding 2).

Before, `--host 0.0.0.0` or `--host 127.0.0.2` turned the Host check off (a DNS-rebinding page
could read the token and write reviews), and `--host ::1` printed `http://::1:P/`, a URL no
browser opens, while `http://[::1]:P/` was answered 400. Real `catdog review` processes over a
`catdog local up`, asked over real sockets with the Host header a browser (or a rebinding page)
would send.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from catdog_local.state import LocalState
from tests.support.aws import fake_aws_env
from tests.support.processes import review_server, review_stack
from tests.support.review import publish_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalState, dict[str, str]]]:
    with review_stack(tmp_path_factory) as found:
        yield found


@pytest.fixture
def aws(stack: tuple[LocalState, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    state, env = stack
    fake_aws_env(monkeypatch, state.region, state.endpoint)
    publish_manifest(state.region, state.bucket, "v1")
    return env


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    """GET `url`, optionally with another Host header (what a page on a rebound DNS name sends)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", "/", skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_a_non_default_loopback_address_keeps_the_host_check(aws: dict[str, str]) -> None:
    env = aws
    with review_server(env, "--host", "127.0.0.2") as (url, _):
        port = urlsplit(url).port
        assert url == f"http://127.0.0.2:{port}/"
        assert _get(url)[0] == 200
        status, body = _get(url, f"attacker.example:{port}")
        assert status == 400 and "unexpected Host header" in body and 'name="catdog-token"' not in body
        assert _get(url, f"localhost:{port}")[0] == 200


def test_all_interfaces_answer_only_loopback_and_the_names_allowed(aws: dict[str, str]) -> None:
    env = aws
    with review_server(env, "--host", "0.0.0.0", "--allow-host", "Review-Box.lan") as (url, lines):
        port = urlsplit(url).port
        assert url == f"http://127.0.0.1:{port}/"
        assert "anyone who can reach it can read the photos" in "".join(lines)
        assert _get(url)[0] == 200 and _get(url, f"review-box.lan:{port}")[0] == 200
        for rebound in (f"attacker.example:{port}", f"10.1.2.3:{port}", f"review-box.lan:{port + 1}"):
            assert _get(url, rebound)[0] == 400, rebound


def test_ipv6_loopback_is_printed_in_brackets_and_answers(aws: dict[str, str]) -> None:
    env = aws
    with review_server(env, "--host", "::1") as (url, _):
        assert re.fullmatch(r"http://\[::1\]:\d+/", url), url
        status, body = _get(url)  # http.client sends Host: [::1]:PORT, as a browser does
        assert status == 200 and 'name="catdog-token"' in body
        assert _get(url, f"attacker.example:{urlsplit(url).port}")[0] == 400
