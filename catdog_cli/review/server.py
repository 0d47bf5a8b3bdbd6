"""`catdog review`: a local web page over the results table and the bucket, and its one write.

`ReviewService` does the work (pages, thumbnails, reviews) and knows nothing of HTTP, so it is
tested directly; `create_app` is a thin Flask layer over it; `serve` runs it on Werkzeug's
threaded server bound to 127.0.0.1 (a free port by default).

The page uses the caller's AWS credentials, so it must not be a way for another web site to use
them. One rule, whatever address it binds: a request is answered only when its Host is on the
allowlist (`allowed_hosts`: the loopback names, the bound address, and names given with
`--allow-host`, each with the port), which defeats DNS rebinding; a review needs a per-server
token in a header a cross-site form cannot send; a thumbnail is never made for another site's
page (`Sec-Fetch-Site`); and the Content-Security-Policy allows only this page's own nonce-tagged
script.
"""

from __future__ import annotations

import ipaddress
import secrets
import signal
import sys
import threading
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, g, jsonify, request
from werkzeug.serving import make_server

from catdog.model_repo import ModelRepo
from catdog.results import UNKNOWN_LABEL, ResultsTable, ReviewResult
from catdog_cli import exit_codes
from catdog_cli.display import percent, printable
from catdog_cli.dynamo_items import plain_item
from catdog_cli.identity import caller_identity
from catdog_cli.review import stats
from catdog_cli.review.cache import TtlCache
from catdog_cli.review.catalog import Catalog
from catdog_cli.review.preflight import aws_message, preflight
from catdog_cli.review.templates import render, shown_key, shown_label
from catdog_cli.review.thumbnails import Thumb, Thumbnailer, placeholder
from catdog_cli.review.views import DEFAULT_THRESHOLD, MAX_PAGE_SIZE, View, ViewError, fetch_page
from catdog_cli.targets import table_and_bucket

DEFAULT_PAGE_SIZE = 60
#: How long the counts and the reviewed accuracy are reused (each is a read of whole partitions).
STATS_TTL_SECONDS = 20.0


@dataclass
class Reply:
    """An HTTP answer without the HTTP: status, and a JSON body or HTML text."""

    status: int
    json: dict[str, Any] | None = None
    html: str | None = None


@dataclass
class ReviewService:
    """Everything the page does, against one table and one bucket, with the caller's credentials."""

    ddb: Any
    table: str
    bucket: str
    writer: ResultsTable
    catalog: Catalog
    thumbnailer: Thumbnailer
    reviewer: str
    page_size: int = DEFAULT_PAGE_SIZE
    threshold: float = DEFAULT_THRESHOLD
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _write_lock: threading.Lock = field(default_factory=threading.Lock)
    _stats: TtlCache = field(default_factory=lambda: TtlCache(STATS_TTL_SECONDS))

    # -- the grid ----------------------------------------------------------------------------------
    def page(self, args: dict[str, str], nonce: str) -> Reply:
        """The grid for the URL's parameters; a clear message in the page when it cannot be made."""
        context: dict[str, Any] = {
            "token": self.token, "nonce": nonce, "table": self.table, "bucket": self.bucket, "live": None,
            "labels": [], "items": [], "counts": None, "links": [], "version_links": [], "accuracy": [],
            "current": "", "error": None, "first_url": "?", "next_url": None, "thumb_url": self.thumb_url,
            "warnings": [],
            "view": View(threshold=self.threshold),
        }
        status = 200
        try:
            view = self._view(args)
            context["view"] = view
            size = self._size(args.get("size"))
            context["live"] = self.catalog.live()
            labels = self.catalog.live_labels()
            every_label = self.catalog.all_labels()
            context["labels"] = labels
            page = fetch_page(self.ddb, self.table, view.streams(every_label), args.get("cursor"), size)
            context["items"] = page.items
            base = view.query_args() | ({"size": str(size)} if size != self.page_size else {})
            context["first_url"] = "?" + urlencode(base)
            if page.cursor:
                context["next_url"] = "?" + urlencode(base | {"cursor": page.cursor})
            context.update(self._header(view, every_label))
            context["warnings"] = self.catalog.warnings()
        except ViewError as exc:
            status, context["error"] = 400, str(exc)
        except (ClientError, BotoCoreError) as exc:
            status = 502
            context["error"] = (f"could not read the results table {self.table} or the bucket "
                                f"{self.bucket}: {printable(aws_message(exc))}")
        return Reply(status, html=render("page", **context))

    def _view(self, args: dict[str, str]) -> View:
        """The URL's view; "live vs shadow disagree" without a version is the shadow model's."""
        view = View.parse(args.get("view"), args.get("value"), args.get("threshold") or self.threshold)
        shadow = self.catalog.shadow() if view.kind == "disagree" and not view.value else None
        return replace(view, value=shadow.version) if shadow else view

    def _size(self, raw: str | None) -> int:
        if not raw:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ViewError(f"page size {raw!r} is not a number") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ViewError(f"page size {size} is outside 1..{MAX_PAGE_SIZE}")
        return size

    def _header(self, view: View, labels: list[str]) -> dict[str, Any]:
        counts = self._stats.get(("counts", tuple(labels), view.threshold),
                                 lambda: stats.counts(self.ddb, self.table, labels, view.threshold))
        accuracy = self._stats.get(("accuracy", tuple(labels)), lambda: stats.reviewed_accuracy(
            self.ddb, self.table, labels, self.catalog.trained_on()))
        low = View("low", threshold=view.threshold)
        entries: list[tuple[View, int]] = [(View("all"), counts.total), (View("unknown"), counts.unknown),
                                           (low, counts.low), (View("failed"), counts.failed),
                                           (View("reviewed"), counts.reviewed),
                                           (View("unreviewed"), counts.classified - counts.reviewed)]
        entries += [(View("label", label), n) for label, n in counts.per_label.items()]
        shadow = self.catalog.shadow()
        disagree = view if view.kind == "disagree" else View("disagree", shadow.version) if shadow else None
        if disagree is not None:  # a link only while a shadow model is set (or its view is shown)
            entries.append((disagree, self._stats.get(("disagree", disagree.value), lambda: stats.count(
                self.ddb, self.table, disagree.streams([])[0]))))
        links = [("?" + urlencode(v.query_args()), v.title(), n) for v, n in entries]
        versions = [View("model", v) for v in self.catalog.versions()]
        return {"counts": counts, "accuracy": accuracy, "links": links, "current": view.title(),
                "version_links": [("?" + urlencode(v.query_args()), v.title()) for v in versions]}

    def header_numbers(self, args: dict[str, str]) -> Reply:
        """The header's counts and the accuracy table as JSON, for the page to refresh itself after a
        save (debounced by the page, and cached here for STATS_TTL_SECONDS unless a review cleared it)."""
        try:
            view = self._view(args)
            header = self._header(view, self.catalog.all_labels())
        except ViewError as exc:
            return _refuse(400, str(exc))
        except (ClientError, BotoCoreError) as exc:
            return _refuse(502, f"the results table said {printable(aws_message(exc))}")
        live = self.catalog.live()
        rows = [{"version": printable(row.version), "live": bool(live and live.version == row.version),
                 "reviewed": row.reviewed, "agreed": row.agreed, "accuracy": percent(row.accuracy),
                 "excluded": row.excluded} for row in header["accuracy"]]
        return Reply(200, json={"counts": [[href, n] for href, _, n in header["links"]], "accuracy": rows})

    def thumb_url(self, item: dict[str, Any]) -> str:
        params = {"image": str(item.get("image", "")), "etag": str(item.get("etag") or "")}
        return "thumb?" + urlencode(params)

    # -- thumbnails --------------------------------------------------------------------------------
    def thumb(self, image: str | None, etag: str | None) -> Thumb | Reply:
        if not image:
            return Reply(400, json={"error": "which image? (?image=s3://bucket/key&etag=...)"})
        try:
            self.thumbnailer.key_of(image)
        except ValueError as exc:
            return Reply(400, json={"error": str(exc)})
        if not etag:
            return placeholder("no etag", self.thumbnailer.side)  # failed before the object was read
        hit = self.thumbnailer.cached(image, etag)
        if hit is not None:
            return hit
        # Only the object versions the table describes: /thumb is not a way to read (or fill the
        # cache with) any object of the bucket.
        try:
            found = self.ddb.get_item(TableName=self.table, Key={"image": {"S": image}},
                                      ProjectionExpression="etag").get("Item")
        except (ClientError, BotoCoreError) as exc:
            return Reply(502, json={"error": f"the results table said {printable(aws_message(exc))}"})
        if not found:
            return placeholder("not in the table", self.thumbnailer.side)  # never cached
        if plain_item(found).get("etag") != etag:
            return placeholder("changed since", self.thumbnailer.side)  # re-uploaded since the page
        return self.thumbnailer.get(image, etag)

    # -- the one write -------------------------------------------------------------------------------
    def review(self, body: Any) -> Reply:
        """Record a human label; nothing is written unless every check passes."""
        nothing = "nothing was written"
        if not isinstance(body, dict):
            return _refuse(400, f"send a JSON object {{image, etag, label}}; {nothing}")
        image, etag, label = body.get("image"), body.get("etag"), body.get("label")
        if not (isinstance(image, str) and isinstance(etag, str) and isinstance(label, str)
                and image and etag and label):
            return _refuse(400, f"image, etag and label are required strings; {nothing}")
        if not image.startswith(f"s3://{self.bucket}/"):
            return _refuse(400, f"not an image of s3://{self.bucket}/; {nothing}")
        shown = shown_key({"image": image})
        try:
            raw = self.ddb.get_item(TableName=self.table, Key={"image": {"S": image}}, ConsistentRead=True)
            if "Item" not in raw:
                return _refuse(404, f"no image {shown} in the results table; {nothing}")
            item = plain_item(raw["Item"])
            allowed = [*self.catalog.live_labels(), *sorted(set(item.get("scores") or {})), UNKNOWN_LABEL]
            if label not in allowed:
                choices = ", ".join(dict.fromkeys(a for a in allowed if a != UNKNOWN_LABEL))
                return _refuse(400, f"label {printable(label)!r} is not one of the model's labels "
                                    f"({choices}) or {UNKNOWN_LABEL}; {nothing}")
            with self._write_lock:  # one boto3 resource, used by one thread at a time
                outcome = self.writer.record_review(image, etag=etag, human_label=label,
                                                    reviewer=self.reviewer)
        except ValueError as exc:  # a label the table cannot take (catdog.labels): refused, not a 500
            return _refuse(400, f"{printable(exc)}; {nothing}")
        except (ClientError, BotoCoreError) as exc:
            return _refuse(502, f"not saved: the results table said {printable(aws_message(exc))}")
        if outcome.result is ReviewResult.WRITTEN:
            self._stats.clear()
            return Reply(200, json={"ok": True, "image": image, "label": label,
                                    "shown": shown_label(label), "reviewed_by": self.reviewer})
        if outcome.result is ReviewResult.MISSING:
            return _refuse(404, f"not saved: {shown} is no longer in the results table")
        if outcome.result is ReviewResult.STALE:
            return _refuse(409, "not saved: this photo was re-uploaded after the page was loaded (the table "
                                "now describes another version of it); reload the page to review the new one")
        stored = outcome.item or {}
        why = printable(stored.get("error") or stored.get("reason") or "")
        return _refuse(409, f"not saved: {shown} is {printable(stored.get('status'))} now"
                            f"{f' ({why})' if why else ''}; only classified images can be reviewed")


def _refuse(status: int, message: str) -> Reply:
    return Reply(status, json={"error": message})


#: The names this machine always answers to, whatever the bound address.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def url_host(host: str) -> str:
    """A host as a URL and a Host header write it: an IPv6 address in brackets, names in lower case."""
    bare = host.strip().strip("[]").lower()
    return f"[{bare}]" if ":" in bare else bare


def allowed_hosts(bound: str, port: int, extra: Sequence[str] = ()) -> set[str]:
    """Every `Host` header the server answers: the loopback names, the bound address and the names
    given with --allow-host, each with the port. The same rule for every bind address: on 0.0.0.0
    another machine's browser reaches the page only by a name the user allowed."""
    return {f"{url_host(name)}:{port}" for name in (*LOOPBACK_NAMES, bound, *extra) if name.strip()}


def page_url(bound: str, port: int) -> str:
    """The URL to print: a wildcard address is reached through loopback."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(bound.strip("[]"), bound)
    return f"http://{url_host(shown)}:{port}/"


def create_app(service: ReviewService, allowed: set[str]) -> Any:
    """The Flask app: `/` (the grid), `/thumb`, `/stats` (the header's numbers), `POST /review`; only
    for the Host names in `allowed`."""
    app = Flask("catdog_review")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    hosts = {h.lower() for h in allowed}  # host names are case-insensitive

    @app.before_request
    def guard() -> Any:
        g.nonce = secrets.token_urlsafe(16)
        if request.host.lower() not in hosts:
            return Response("unexpected Host header: this server answers only as "
                            f"{' or '.join(sorted(hosts))} (more names: catdog review --allow-host NAME)\n",
                            status=400, mimetype="text/plain")
        site = request.headers.get("Sec-Fetch-Site", "same-origin")
        if (request.path in ("/thumb", "/stats") or request.method == "POST") and site not in ("same-origin",
                                                                                             "none"):
            # another site's page: an <img> would make this server fetch objects with your credentials
            return Response("refused: a request from another site's page\n", status=403,
                            mimetype="text/plain")
        if request.method == "POST" and not secrets.compare_digest(
                request.headers.get("X-Catdog-Token", ""), service.token):
            return jsonify(error="missing or wrong page token: reload the page"), 403
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        nonce = getattr(g, "nonce", "")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; img-src 'self' data:; style-src 'nonce-{nonce}'; "
            f"script-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def send(reply: Reply) -> Response:
        if reply.json is not None:
            response = jsonify(reply.json)
            response.status_code = reply.status
            return response
        return Response(reply.html or "", status=reply.status, mimetype="text/html")

    @app.get("/")
    def grid() -> Response:
        return send(service.page(request.args.to_dict(), g.nonce))

    @app.get("/stats")
    def numbers() -> Response:
        return send(service.header_numbers(request.args.to_dict()))

    @app.get("/thumb")
    def thumb() -> Response:
        made = service.thumb(request.args.get("image"), request.args.get("etag"))
        if isinstance(made, Reply):
            return send(made)
        response = Response(made.body, mimetype=made.content_type)
        if made.ok:  # keyed by etag: the bytes behind this URL never change
            response.headers["Cache-Control"] = "private, max-age=86400, immutable"
        return response

    @app.post("/review")
    def review() -> Response:
        return send(service.review(request.get_json(silent=True)))

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    return app


@dataclass
class ReviewSettings:
    table: str
    bucket: str
    reviewer: str | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    threshold: float = DEFAULT_THRESHOLD
    models_prefix: str = ModelRepo.prefix


def build_service(settings: ReviewSettings, thumbnailer: Thumbnailer | None = None) -> ReviewService:
    """The service over the named table and bucket, after `preflight` (with the caller's credentials)."""
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    preflight(ddb, s3, settings.table, settings.bucket)
    if not 1 <= settings.page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"--page-size {settings.page_size} is outside 1..{MAX_PAGE_SIZE}")
    View.parse("low", threshold=settings.threshold)  # a bad --threshold fails here, not on every page
    return ReviewService(
        ddb=ddb, table=settings.table, bucket=settings.bucket, writer=ResultsTable.named(settings.table),
        catalog=Catalog(ModelRepo(s3, settings.bucket, settings.models_prefix)),
        thumbnailer=thumbnailer or Thumbnailer(s3, settings.bucket),
        reviewer=caller_identity(settings.reviewer), page_size=settings.page_size,
        threshold=settings.threshold)


def serve(service: ReviewService, host: str, port: int, *, allow_hosts: Sequence[str] = (),
          open_browser: bool = False, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM; `on_ready(url)` once the socket listens (port 0 = a free one)."""
    server = make_server(host.strip("[]"), port, None, threaded=True)  # type: ignore[arg-type]
    bound = server.server_port
    server.app = create_app(service, allowed_hosts(host, bound, allow_hosts))
    url = page_url(host, bound)
    if on_ready:
        on_ready(url)
    if open_browser:
        webbrowser.open(url)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.thumbnailer.close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.strip().lower() == "localhost"


def run(*, table: str | None, bucket: str | None, stack: str | None, reviewer: str | None, page_size: int,
        threshold: float, host: str, port: int, open_browser: bool, allow_hosts: Sequence[str] = ()) -> int:
    """`catdog review`: serve the page until Ctrl-C; the exit code."""
    table_name, bucket_name = table_and_bucket(table, bucket, stack)
    service = build_service(ReviewSettings(table=table_name, bucket=bucket_name, reviewer=reviewer,
                                           page_size=page_size, threshold=threshold))
    if not _is_loopback(host):
        print(f"catdog review: listening on {printable(host)}: anyone who can reach it can read the "
              "photos and write reviews with your AWS credentials", file=sys.stderr)
        if not allow_hosts:
            print("catdog review: other machines' browsers must address it by a name you allow: "
                  "--allow-host NAME (requests for any other Host are refused)", file=sys.stderr)

    def ready(url: str) -> None:
        print(f"catdog review: {url}  (table {printable(table_name)}, bucket {printable(bucket_name)}, "
              f"reviewer {printable(service.reviewer)}; Ctrl-C to stop)", flush=True)

    serve(service, host, port, allow_hosts=allow_hosts, open_browser=open_browser, on_ready=ready)
    return exit_codes.OK
