"""The embedded AWS: a moto server on 127.0.0.1 that boto3 reaches through `AWS_ENDPOINT_URL`.

boto3 honours `AWS_ENDPOINT_URL` natively, so the handler, the worker and every CLI command talk
to the local endpoint without a single code path of their own. moto is imported only here, and only
when a server is started, so `catdog --help` and the Lambda path never load it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from catdog.errors import CatdogError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_REGION = "us-east-1"
#: moto accepts any credentials; these only stop botocore from looking for real ones.
DUMMY_CREDENTIALS: dict[str, str] = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def endpoint_url(port: int, host: str = DEFAULT_HOST) -> str:
    """The URL clients on this machine use; a wildcard bind is still reached through loopback."""
    if host in ("0.0.0.0", "::", ""):
        host = DEFAULT_HOST
    return f"http://{host}:{port}"


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port nothing listens on right now (tests start several servers side by side)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = DEFAULT_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until_ready(endpoint: str, timeout: float = 30.0) -> None:
    """Block until the server answers HTTP, so the first boto3 call never races its start-up."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered: good enough
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise CatdogError(f"the local AWS endpoint {endpoint} did not answer within {timeout:.0f}s ({last})")


def apply_endpoint_env(
    endpoint: str, region: str = DEFAULT_REGION, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Point boto3 at `endpoint` (and give it dummy credentials if it has none); returns what was set."""
    env = os.environ if environ is None else environ
    changes = {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    for name, value in DUMMY_CREDENTIALS.items():
        if not env.get(name):
            changes[name] = value
    env.update(changes)
    return changes


#: Who reads AWS_ENDPOINT_URL and who does not: AWS CLI v1 ignores it for `aws sqs` (and releases
#: before 1.29, with botocore before 1.31, for every service); `--endpoint-url` works everywhere.
AWS_CLI_V1_NOTE = ('boto3, SAM and AWS CLI v2 (2.13+) read AWS_ENDPOINT_URL; AWS CLI v1 needs '
                   '--endpoint-url "$AWS_ENDPOINT_URL" (always for `aws sqs`)')


def export_lines(endpoint: str, region: str = DEFAULT_REGION) -> list[str]:
    """The shell lines a user pastes so the `aws` CLI, SAM and scripts use the local endpoint too."""
    return [
        f"export AWS_ENDPOINT_URL={endpoint}",
        f"export AWS_DEFAULT_REGION={region}",
        *(f"export {k}={v}" for k, v in DUMMY_CREDENTIALS.items()),
    ]


class LocalAws:
    """A moto server in a thread of this process. Use as a context manager; stops on exit.
    Port 0 binds a free port chosen by the OS; `port` and `endpoint` then give the real one."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> None:
        self.host = host
        self.port = port
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        return endpoint_url(self.port, self.host)

    def start(self) -> LocalAws:
        if port_in_use(self.port, DEFAULT_HOST if self.host in ("0.0.0.0", "::") else self.host):
            raise CatdogError(
                f"port {self.port} on {self.host} is already in use (another `catdog local up`?); "
                "pick another with --port"
            )
        try:  # moto takes ~270 ms to import: only a command that serves a stack pays for it
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise CatdogError("moto is not installed: run `make install` (the [local] extra)") from exc
        # One access-log line per request would bury the output people came for.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        if self.port == 0:  # the OS picked one when binding: what the endpoint and state file name
            self.port = int(self._server.get_host_and_port()[1])
        wait_until_ready(self.endpoint)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def endpoint_env(endpoint: str, region: str = DEFAULT_REGION) -> Iterator[None]:
    """Temporarily point this process's boto3 at `endpoint`; restores the environment afterwards."""
    saved = dict(os.environ)
    apply_endpoint_env(endpoint, region)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
