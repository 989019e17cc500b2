"""Pages for people, server-rendered HTML (no JavaScript): the feed list and the status page.

``GET /`` and ``GET /feeds/`` list every feed per language with its subscribe links and the
language's latest items: what a reader sees before adding a feed to a reader app.
``GET /status`` is the operators' view of :func:`~syndication.views.snapshot.snapshot`,
behind the bearer token ``SYNDICATION_STATUS_TOKEN`` (``Authorization: Bearer ...`` or
``?token=``); 503 when no token is configured, 401 without the right one. It shows no
secret. ``GET /feed.xsl`` is the stylesheet that shows RSS and Atom in a browser.

Pages follow the feeds' caching rules: a strong ETag from the bytes, 304 on a matching
``If-None-Match``, and ``Cache-Control`` (the feeds' value for the public list,
``private, no-cache`` for the status page).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import anyio.to_thread
import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feeds.catalog import FeedRef, UnknownFeedError, feed_title, parse_feed_path
from feeds.documents import OPML_PATH, DocumentInfo, DocumentStore
from feeds.render import STYLESHEET_PATH
from syndication.config import Config
from syndication.settings import Settings
from syndication.store import Store
from syndication.views.snapshot import Reading, snapshot

__all__ = ["Pages", "feed_list"]

# Latest items shown per language on the feed list.
LATEST = 5
_KIND_ORDER = {"all": 0, "category": 1, "tag": 2, "author": 3}
_FORMATS = {
    "rss": ("RSS", "application/rss+xml"),
    "atom": ("Atom", "application/atom+xml"),
    "json": ("JSON Feed", "application/feed+json"),
}
_HTML = "text/html; charset=utf-8"


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("syndication", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def render_page(name: str, **values: Any) -> bytes:
    """A page from ``syndication/templates`` (autoescaped: every value is outsiders' text)."""
    return _environment().get_template(name).render(**values).encode()


def feed_list(store: Store, config: Config) -> dict[str, Any]:
    """What the feed list shows: per language, every feed with its links and the latest items."""
    feeds = config.feeds
    by_ref: dict[FeedRef, dict[str, DocumentInfo]] = {}
    for doc in DocumentStore(store).documents():
        if doc.path == OPML_PATH:
            continue
        try:
            ref, fmt = parse_feed_path(doc.path, feeds)
        except UnknownFeedError:
            continue  # a document config no longer serves
        by_ref.setdefault(ref, {})[fmt] = doc
    languages: dict[str, list[tuple[FeedRef, dict[str, DocumentInfo]]]] = {}
    for ref, docs in by_ref.items():
        languages.setdefault(ref.language, []).append((ref, docs))
    out = []
    for code in sorted(languages, key=lambda c: (c not in feeds.languages, c)):
        configured = feeds.languages.get(code)
        rows = []
        for ref, docs in languages[code]:
            first = next(iter(docs.values()))
            title = first.title or feed_title(ref, feeds)
            links = [
                {"name": _FORMATS[fmt][0], "type": _FORMATS[fmt][1], "url": docs[fmt].path}
                for fmt in feeds.formats
                if fmt in docs
            ]
            row = {"title": title, "links": links, "count": first.items}
            rows.append((_KIND_ORDER[ref.kind], title, row))
        rows.sort(key=lambda r: (r[0], r[1]))
        ids = store.feed_article_ids(FeedRef(code, "all").id, LATEST)
        latest = [
            {
                "title": a.title,
                "url": a.url,
                "summary": a.summary,
                "published": a.published_at.isoformat(),
            }
            for a in store.get_articles(ids)
            if a is not None
        ]
        out.append(
            {
                "code": code,
                "title": feed_title(FeedRef(code, "all"), feeds),
                "description": configured.description if configured else "",
                "feeds": [row for _, _, row in rows],
                "latest": latest,
            }
        )
    return {"site_name": feeds.site_name, "languages": out, "opml_url": OPML_PATH}


def _respond(request: Request, body: bytes, media_type: str, cache_control: str) -> Response:
    """200 with a strong ETag, or 304 when the client has these bytes already."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Authorization"}
    if request.method == "HEAD":
        body = b""
    match = request.headers.get("if-none-match", "")
    if match and etag in [t.strip().removeprefix("W/") for t in match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


class Pages:
    """The HTML pages of one server."""

    def __init__(self, store: Store, settings: Settings, config: Config, reading: Reading) -> None:
        self.store = store
        self.settings = settings
        self.config = config
        self.reading = reading
        self.stylesheet = files("syndication").joinpath("templates", "feed.xsl").read_bytes()

    def routes(self) -> list[Route]:
        """The routes of every page."""
        methods = ["GET", "HEAD"]
        return [
            Route("/", self.feeds_page, methods=methods),
            Route("/feeds", self.feeds_page, methods=methods),
            Route("/feeds/", self.feeds_page, methods=methods),
            Route("/status", self.status_page, methods=methods),
            Route(STYLESHEET_PATH, self.stylesheet_file, methods=methods),
        ]

    async def feeds_page(self, request: Request) -> Response:
        """Every feed per language with subscribe links and the latest items."""
        values = await anyio.to_thread.run_sync(feed_list, self.store, self.config)
        body = render_page("feeds.html", title=f"{values['site_name']}: feeds", **values)
        return _respond(request, body, _HTML, self.config.feeds.cache_control)

    async def stylesheet_file(self, request: Request) -> Response:
        """The XSLT stylesheet named by every RSS and Atom document."""
        return _respond(request, self.stylesheet, "text/xsl", self.config.feeds.cache_control)

    def _authorised(self, request: Request) -> Response | None:
        token = self.settings.status_token.get_secret_value() if self.settings.status_token else ""
        if not token:
            return Response(
                "status: SYNDICATION_STATUS_TOKEN is not set on the server\n",
                status_code=503,
                media_type="text/plain; charset=utf-8",
                headers={"Cache-Control": "no-store"},
            )
        given = request.query_params.get("token", "")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response(
                "status: a bearer token is required (Authorization: Bearer ..., or ?token=)\n",
                status_code=401,
                media_type="text/plain; charset=utf-8",
                headers={"WWW-Authenticate": 'Bearer realm="status"', "Cache-Control": "no-store"},
            )
        return None

    async def status_page(self, request: Request) -> Response:
        """The operators' view: queues, processes, feeds, posts, the next 24 hours, failures."""
        refused = self._authorised(request)
        if refused is not None:
            return refused
        now = time.time()
        build: Callable[[], dict[str, Any]] = lambda: snapshot(  # noqa: E731
            self.store, self.reading, now, details=True
        )
        snap = await anyio.to_thread.run_sync(build)
        statuses = sorted({s for counts in snap["posts"].values() for s in counts})
        body = render_page(
            "status.html", title="Status", snap=snap, statuses=statuses, now=_when(now)
        )
        return _respond(request, body, _HTML, "private, no-cache")
