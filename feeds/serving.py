"""Serving feeds and sitemaps: the in-process document cache, conditional GET, gzip, and the
ASGI handler.

Feeds are the hot path. Each process keeps every document it served (bytes, gzip bytes, ETag
and prebuilt headers) in memory and trusts it for ``freshness_ttl`` seconds; after that, one
``HGET`` of the ETag (off the event loop) tells whether the document changed, and only then is
the body fetched again. Documents are read from Redis, never rendered here.
"""

from __future__ import annotations

import asyncio
import json
import time
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache

import anyio.to_thread
import redis
import structlog
from starlette.types import Receive, Scope, Send

from feeds.catalog import UnknownFeedError, parse_feed_path
from feeds.documents import OPML_PATH, Document, DocumentStore
from feeds.sitemaps import is_sitemap_enabled, is_sitemap_path
from syndication import metrics
from syndication.config import Config

log = structlog.get_logger(__name__)


# --- conditional requests and content coding (pure) -----------------------------------------
_STAR = frozenset({b"*"})


@lru_cache(maxsize=1024)
def _entity_tags(header: bytes) -> frozenset[bytes]:
    """The opaque tags of an ``If-None-Match`` list, ``W/`` dropped (weak comparison)."""
    tags = set()
    for part in header.split(b","):
        tag = part.strip()
        if tag == b"*":
            return _STAR
        tags.add(tag.removeprefix(b"W/"))
    return frozenset(tags)


def is_etag_match(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 §13.1.2: does any tag in the list weakly match ``etag`` (or is it ``*``)?"""
    tags = _entity_tags(if_none_match)
    return tags is _STAR or etag.removeprefix(b"W/") in tags


@lru_cache(maxsize=1024)
def _http_date(header: bytes) -> float | None:
    try:
        return parsedate_to_datetime(header.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def is_not_modified_since(if_modified_since: bytes, last_modified: float) -> bool:
    """RFC 9110 §13.1.3: true when the document did not change after the given date.

    An unparseable date is ignored (the condition is then false, and the full body is sent).
    """
    since = _http_date(if_modified_since)
    return since is not None and int(last_modified) <= since


@lru_cache(maxsize=1024)
def accepts_gzip(accept_encoding: bytes) -> bool:
    """RFC 9110 §12.5.3: is gzip acceptable (named, or by ``*``, with a non-zero q)?"""
    star: bool | None = None
    for part in accept_encoding.lower().split(b","):
        name, _, params = part.partition(b";")
        q = 1.0
        for param in params.split(b";"):
            key, _, value = param.strip().partition(b"=")
            if key == b"q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        coding = name.strip()
        if coding in (b"gzip", b"x-gzip"):
            return q > 0
        if coding == b"*":
            star = q > 0
    return bool(star)


# --- the in-process document cache ----------------------------------------------------------
class _Entry:
    """One document as this process serves it, with every header list built once."""

    __slots__ = (
        "body",
        "etag",
        "fresh_until",
        "gzip",
        "last_modified",
        "ok",
        "ok_gzip",
        "unmodified",
        "unmodified_gzip",
    )

    def __init__(self, doc: Document, cache_control: str, fresh_until: float) -> None:
        self.etag = doc.etag.encode()
        self.last_modified = doc.last_modified
        self.body = doc.body
        self.gzip = doc.gzip
        self.fresh_until = fresh_until
        # The gzip body is a different byte sequence from the same content: its validator is
        # the weak form of the same tag (as Django's GZipMiddleware does), which If-None-Match
        # still matches because it compares weakly.
        gzip_etag = b"W/" + self.etag
        common = [
            (b"last-modified", formatdate(doc.last_modified, usegmt=True).encode()),
            (b"cache-control", cache_control.encode()),
            (b"vary", b"Accept-Encoding"),
        ]
        self.unmodified = [(b"etag", self.etag), *common]
        self.unmodified_gzip = [(b"etag", gzip_etag), *common]
        self.ok = [
            *self.unmodified,
            (b"content-type", doc.content_type.encode()),
            (b"content-length", str(len(doc.body)).encode()),
        ]
        self.ok_gzip = [
            *self.unmodified_gzip,
            (b"content-type", doc.content_type.encode()),
            (b"content-encoding", b"gzip"),
            (b"content-length", str(len(doc.gzip)).encode()),
        ]


class RedisUnavailable(Exception):
    """Redis did not answer and the document is not cached in this process."""


class DocumentCache:
    """Documents by path, trusted for ``ttl`` seconds, then revalidated by ETag."""

    def __init__(self, documents: DocumentStore, cache_control: str, ttl: float) -> None:
        self.documents = documents
        self.cache_control = cache_control
        self.ttl = ttl
        self.entries: dict[str, _Entry] = {}
        # One refresh per path at a time: concurrent requests for a stale path wait for it.
        self._inflight: dict[str, asyncio.Future[_Entry | None]] = {}

    async def get(self, path: str) -> _Entry | None:
        """The current document at ``path``, or None when none is stored."""
        entry = self.entries.get(path)
        if entry is not None and time.monotonic() < entry.fresh_until:
            return entry
        pending = self._inflight.get(path)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._inflight[path] = future
        try:
            entry = await anyio.to_thread.run_sync(self._refresh, path, entry)
        except RedisUnavailable as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so asyncio does not warn when nobody waits
            raise
        else:
            future.set_result(entry)
            return entry
        finally:
            del self._inflight[path]

    def _refresh(self, path: str, old: _Entry | None) -> _Entry | None:
        fresh_until = time.monotonic() + self.ttl
        try:
            etag = self.documents.etag(path)
            if etag is None:
                self.entries.pop(path, None)
                return None
            if old is not None and old.etag == etag.encode():
                old.fresh_until = fresh_until
                return old
            doc = self.documents.get(path)
        except redis.RedisError as exc:
            # Serving a document a few seconds old beats failing while Redis restarts.
            if old is not None:
                log.warning("feed.stale_served", path=path, error=type(exc).__name__)
                return old
            raise RedisUnavailable(path) from None
        if doc is None:
            self.entries.pop(path, None)
            return None
        entry = _Entry(doc, self.cache_control, fresh_until)
        self.entries[path] = entry
        return entry


def _json_body(status: int, document: object) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(document, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store" if status >= 500 else b"public, max-age=10"),
    ]
    return headers, body


def is_document_path(path: str) -> bool:
    """Whether a request path is one :class:`FeedEndpoint` answers (by its shape): a feed,
    the OPML index, a news sitemap or the sitemap index."""
    # "/feeds/" itself is the feed list page, for people.
    return (path.startswith("/feeds/") and path != "/feeds/") or is_sitemap_path(path)


class FeedEndpoint:
    """A plain ASGI app for ``GET``/``HEAD`` of stored documents (``/feeds/...``,
    ``/sitemap.xml``, ``/sitemaps/{lang}/news.xml``): bytes from the cache, no render."""

    def __init__(self, cache: DocumentCache, config: Config) -> None:
        self.cache = cache
        self.feeds = config.feeds
        self.sitemaps = config.search.sitemaps
        self._counted = {
            (route, s): metrics.HTTP_REQUESTS.labels(route, str(s))
            for route in ("/feeds", "/sitemaps")
            for s in (200, 304, 404, 405, 503)
        }

    def _is_feed_path(self, path: str) -> UnknownFeedError | None:
        if path == OPML_PATH:
            return None
        if is_sitemap_path(path):
            if is_sitemap_enabled(path, self.sitemaps, self.feeds):
                return None
            return UnknownFeedError(f"path: no such sitemap: {path!r}")
        try:
            parse_feed_path(path, self.feeds)
        except UnknownFeedError as exc:
            return exc
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        path: str = scope["path"]
        route = "/feeds" if path.startswith("/feeds/") else "/sitemaps"
        if method not in ("GET", "HEAD"):
            await self._error(
                send, route, 405, f"method: {method} not allowed", ((b"allow", b"GET, HEAD"),)
            )
            return
        # A path already cached was valid when cached, and config does not change in-process.
        if path not in self.cache.entries and (problem := self._is_feed_path(path)):
            await self._error(send, route, 404, str(problem))
            return
        try:
            entry = await self.cache.get(path)
        except RedisUnavailable:
            await self._error(send, route, 503, "redis: unavailable", ((b"retry-after", b"5"),))
            return
        if entry is None:
            await self._error(send, route, 404, f"path: not rendered yet: {path!r}")
            return
        if_none_match = if_modified_since = accept = b""
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"if-modified-since":
                if_modified_since = value
            elif name == b"accept-encoding":
                accept = value
        gzipped = bool(accept) and accepts_gzip(accept)
        # If-Modified-Since counts only when the client sent no If-None-Match (RFC 9110 §13.2.2).
        if (if_none_match and is_etag_match(if_none_match, entry.etag)) or (
            not if_none_match
            and if_modified_since
            and is_not_modified_since(if_modified_since, entry.last_modified)
        ):
            headers = entry.unmodified_gzip if gzipped else entry.unmodified
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            self._counted[route, 304].inc()
            return
        headers, body = (entry.ok_gzip, entry.gzip) if gzipped else (entry.ok, entry.body)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        self._counted[route, 200].inc()

    async def _error(
        self,
        send: Send,
        route: str,
        status: int,
        message: str,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        headers, body = _json_body(status, {"errors": [message]})
        headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self._counted[route, status].inc()
