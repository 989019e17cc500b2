"""``syndication serve``: the ASGI app that serves feeds and takes signed events over HTTP.

Endpoints: ``GET|HEAD /feeds/...``, ``/sitemap.xml`` and ``/sitemaps/{lang}/news.xml``
(rendered documents, read from Redis, never rendered here), ``POST /events`` (HMAC-signed
event JSON, queued in the inbox stream), ``GET /healthz``, ``GET /readyz``, ``GET /metrics``,
``GET /openapi.json``, ``GET /{key}.txt`` (the IndexNow key file, when configured); and pages
for people (:mod:`syndication.views.pages`): ``/`` and ``/feeds/`` (the feed list),
``/status`` (the operators' view, behind a token) and ``/feed.xsl``.

Feed and sitemap requests skip Starlette's router and middleware entirely: they go straight to
:class:`~feeds.serving.FeedEndpoint`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
import structlog
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from feeds.documents import DocumentStore
from feeds.indexnow import read_key
from feeds.serving import DocumentCache, FeedEndpoint, is_document_path
from syndication import metrics
from syndication.config import Config
from syndication.connection import connect
from syndication.decoding import read_limited
from syndication.errors import ConfigError
from syndication.events import ArticleEvent
from syndication.keys import Keys
from syndication.ops import Ops
from syndication.publishing import Publisher
from syndication.settings import Settings
from syndication.store import Store
from syndication.views.pages import Pages
from syndication.views.snapshot import reading_for

log = structlog.get_logger(__name__)

Enqueue = Callable[[dict[str, Any]], object]

TIMESTAMP_HEADER = "x-syndication-timestamp"
SIGNATURE_HEADER = "x-syndication-signature"
SIGNATURE_WINDOW = 300
HEARTBEAT_STALE = 60.0
BACKLOG_LIMIT = 10_000
FRESHNESS_TTL = 1.0
READY_TIMEOUT = 3.0
# Seconds POST /events waits for an unreachable Redis before answering 503 (the sender
# retries; holding its request longer only ties up a thread).
EVENT_RETRY_FOR = 1.0


# --- signed events ---------------------------------------------------------------------------
def signature_for(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Syndication-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def check_timestamp(timestamp: str | None, now: float, window: float) -> str | None:
    """Why the timestamp header is unacceptable (missing, malformed, outside the window)."""
    if not timestamp:
        return f"{TIMESTAMP_HEADER}: required"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return f"{TIMESTAMP_HEADER}: not Unix seconds"
    if abs(now - int(timestamp)) > window:
        return f"{TIMESTAMP_HEADER}: outside the {int(window)} s window (replay or clock skew)"
    return None


def is_signature_valid(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time comparison of ``signature`` with the one ``secret`` gives."""
    expected = signature_for(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode("latin-1"))


class DrainNudge:
    """Send a ``syndication.drain_inbox`` message, the Celery app made lazily on first use.

    The inbox entry is what makes an event durable; this message only saves waiting for
    beat's next tick, so losing it loses nothing.
    """

    def __init__(self, settings: Settings, config: Config) -> None:
        self._settings = settings
        self._config = config
        self._app: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """Send the nudge; blocking (call it from a worker thread)."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from workers.app import create_app as create_celery_app

                    self._app = create_celery_app(self._settings, self._config)
        from workers.handles import DRAIN_INBOX

        DRAIN_INBOX.send(self._app)


def readiness(
    store: Store, now: float, *, stale_after: float, backlog_limit: int
) -> dict[str, dict[str, Any]]:
    """Every readiness check by name, each with ``ok`` and what it saw (blocking)."""
    return Ops(store).readiness(now, stale_after=stale_after, backlog_limit=backlog_limit)


# --- OpenAPI ---------------------------------------------------------------------------------
def _errors_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"errors": {"type": "array", "items": {"type": "string"}}},
        "required": ["errors"],
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every endpoint; event schemas come from the models."""
    event_schema = TypeAdapter(ArticleEvent).json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = event_schema.pop("$defs", {})
    schemas["Event"] = event_schema
    schemas["Errors"] = _errors_schema()
    errors = {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}
    feed = {
        "parameters": [
            {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
            {"name": "If-Modified-Since", "in": "header", "schema": {"type": "string"}},
            {"name": "Accept-Encoding", "in": "header", "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {
                "description": "The document (gzip when accepted), with ETag, Last-Modified, "
                "Cache-Control and Vary: Accept-Encoding.",
                "content": {
                    t: {"schema": {"type": "string"}}
                    for t in (
                        "application/rss+xml",
                        "application/atom+xml",
                        "application/feed+json",
                        "text/x-opml",
                        "application/xml",
                    )
                },
            },
            "304": {"description": "Not modified (If-None-Match or If-Modified-Since)."},
            "404": {"description": "No such feed, or not rendered yet.", "content": errors},
        },
    }
    lang = {"name": "lang", "in": "path", "required": True, "schema": {"type": "string"}}
    ext = {
        "name": "ext",
        "in": "path",
        "required": True,
        "schema": {"enum": ["rss", "atom", "json"]},
    }
    slug = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
    paths: dict[str, Any] = {
        "/feeds/{lang}/all.{ext}": {
            "get": {**feed, "parameters": [lang, ext, *feed["parameters"]]}
        },
        "/feeds/index.opml": {"get": feed},
    }
    for kind in ("category", "author", "tag"):
        paths[f"/feeds/{{lang}}/{kind}/{{slug}}.{{ext}}"] = {
            "get": {**feed, "parameters": [lang, slug, ext, *feed["parameters"]]}
        }
    paths["/sitemap.xml"] = {"get": feed}
    paths["/sitemaps/{lang}/news.xml"] = {
        "get": {**feed, "parameters": [lang, *feed["parameters"]]}
    }
    paths["/events"] = {
        "post": {
            "summary": "Publish one article event (HMAC-SHA256 signed).",
            "description": "Sign `{timestamp}.{raw body}` with the shared secret; send the Unix "
            "time in X-Syndication-Timestamp and `sha256=<hex>` in X-Syndication-Signature. "
            f"Requests more than {SIGNATURE_WINDOW} s from the server's clock are refused.",
            "security": [{"timestamp": [], "signature": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}},
            },
            "responses": {
                "202": {
                    "description": "Queued for ingestion.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "event_id": {"type": "string"},
                                    "status": {"const": "queued"},
                                },
                            }
                        }
                    },
                },
                "401": {"description": "Missing, stale or wrong signature.", "content": errors},
                "413": {"description": "Body larger than the event size limit.", "content": errors},
                "422": {"description": "Invalid event; kept as a dead letter.", "content": errors},
                "503": {
                    "description": "No webhook secret configured, or Redis unreachable "
                    "(nothing was kept: send it again).",
                    "content": errors,
                },
            },
        }
    }
    for path, summary in (
        ("/healthz", "The process is up."),
        ("/readyz", "Redis, workers, beat and backlog are fine (503 names what is not)."),
        ("/metrics", "Prometheus text exposition."),
        ("/openapi.json", "This document."),
    ):
        paths[path] = {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "syndication", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "timestamp": {"type": "apiKey", "in": "header", "name": "X-Syndication-Timestamp"},
                "signature": {"type": "apiKey", "in": "header", "name": "X-Syndication-Signature"},
            },
        },
    }


# --- the application -------------------------------------------------------------------------
class SyndicationApp(Starlette):
    """Starlette, except that feed and sitemap requests go straight to :class:`FeedEndpoint`.

    Feeds are most of the traffic and need neither routing nor middleware, so they bypass
    both; middleware added to this app therefore never sees feed requests.
    """

    feed_endpoint: FeedEndpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch ``/feeds/...`` and the sitemaps directly; everything else through
        Starlette."""
        path = scope["path"] if scope["type"] == "http" else ""
        if is_document_path(path):
            await self.feed_endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def key_file_routes(config: Config, environ: Mapping[str, str] | None = None) -> list[Route]:
    """``GET /{key}.txt``, the IndexNow key file (the key as plain text), when IndexNow is
    configured and its key is in the environment."""
    if config.search.indexnow is None:
        return []
    try:
        key = read_key(config.search.indexnow, environ)
    except ConfigError as exc:
        log.warning("indexnow.key_file_unavailable", error=str(exc))
        return []

    async def key_file(request: Request) -> Response:
        metrics.HTTP_REQUESTS.labels("/{key}.txt", "200").inc()
        return PlainTextResponse(key, headers={"cache-control": "public, max-age=3600"})

    return [Route(f"/{key}.txt", key_file, methods=["GET", "HEAD"])]


def _reject(status: int, reason: str, message: str) -> JSONResponse:
    metrics.EVENTS_REJECTED.labels(reason).inc()
    metrics.HTTP_REQUESTS.labels("/events", str(status)).inc()
    log.info("event.refused", reason=reason, status=status)
    return JSONResponse({"errors": [message]}, status_code=status)


def create_app(
    settings: Settings,
    config: Config,
    *,
    enqueue: Enqueue | None = None,
    store: Store | None = None,
    freshness_ttl: float = FRESHNESS_TTL,
    signature_window: float = SIGNATURE_WINDOW,
    heartbeat_stale: float = HEARTBEAT_STALE,
    backlog_limit: int = BACKLOG_LIMIT,
    post_counts: metrics.PostCounts | None = None,
) -> Starlette:
    """The ASGI app for ``settings`` and ``config``.

    Args:
        enqueue: called (in a worker thread) with each valid event's JSON; defaults to
            appending it to the inbox stream and nudging a drain.
        store: the Redis store; made from ``settings`` when omitted.
        freshness_ttl: seconds a served document is trusted without asking Redis; 0 checks
            its ETag on every request.
        signature_window: how far (seconds) a request's timestamp may be from now.
        heartbeat_stale: a worker or beat not seen for this long counts as gone.
        backlog_limit: inbox plus queued tasks above which ``/readyz`` fails.
        post_counts: ``{(platform, status): count}`` for ``/metrics``, from the posts ledger.
    """
    store = store or Store(
        connect(settings), Keys(settings.prefix), event_memory_seconds=settings.event_memory_seconds
    )
    publisher = Publisher(
        store,
        settings.limits,
        append=enqueue,
        nudge=None if enqueue else DrainNudge(settings, config),
        retry_for=EVENT_RETRY_FOR,
    )
    if post_counts is None:
        post_counts = _ledger_counts(store)
    collector = metrics.RedisCollector(store, post_counts=post_counts)
    limit = settings.limits.event_bytes
    spec = openapi_document()

    async def post_event(request: Request) -> Response:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        if not secret:
            # Never accept unsigned events: without a secret nothing can be authenticated.
            return _reject(
                503, "no_secret", "webhook: SYNDICATION_WEBHOOK_SECRET is not set on the server"
            )
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        signature = request.headers.get(SIGNATURE_HEADER)
        problem = check_timestamp(timestamp, time.time(), signature_window)
        if problem or not timestamp:
            reason = "unsigned" if not (timestamp or signature) else "stale"
            return _reject(401, reason, problem or "")
        if not signature:
            return _reject(401, "unsigned", f"{SIGNATURE_HEADER}: required")
        declared = request.headers.get("content-length", "")
        too_big = f"event: larger than {limit} bytes"
        if declared.isdigit() and int(declared) > limit:
            return _reject(413, "oversize", too_big)
        body = await read_limited(request.stream(), limit)
        if body is None:
            return _reject(413, "oversize", too_big)
        if not is_signature_valid(secret.encode(), timestamp, body, signature):
            return _reject(401, "bad_signature", f"{SIGNATURE_HEADER}: does not match the body")
        try:
            # Only signed requests get here, so a stranger cannot fill the dead-letter store.
            done = await anyio.to_thread.run_sync(
                functools.partial(publisher.publish, body, source="http")
            )
        except Exception:
            # The sender keeps the event and retries on 503; the cause is logged here once.
            log.exception("event.queue_failed")
            return _reject(503, "queue_error", "queue: could not queue the event; retry later")
        if done.status == "rejected" and done.dead_letter:
            metrics.EVENTS_REJECTED.labels("invalid").inc()
            metrics.HTTP_REQUESTS.labels("/events", "422").inc()
            document: dict[str, Any] = {"errors": [str(e) for e in done.errors]}
            document.update(event_id=done.event_id, dead_letter=done.dead_letter)
            return JSONResponse(document, status_code=422)
        if done.status != "queued":
            # Redis is away: nothing was kept, so the sender must send it again.
            log.warning("event.not_kept", event_id=done.event_id, reason=done.reason)
            return _reject(503, "redis_unreachable", "queue: Redis unreachable; retry later")
        await anyio.to_thread.run_sync(publisher.nudge)
        metrics.EVENTS_ACCEPTED.labels("http").inc()
        metrics.HTTP_REQUESTS.labels("/events", "202").inc()
        log.info("event.queued", event_id=done.event_id, source="http", bytes=len(body))
        return JSONResponse({"event_id": done.event_id, "status": "queued"}, status_code=202)

    async def healthz(request: Request) -> Response:
        metrics.HTTP_REQUESTS.labels("/healthz", "200").inc()
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        def check() -> dict[str, dict[str, Any]]:
            return readiness(
                store, time.time(), stale_after=heartbeat_stale, backlog_limit=backlog_limit
            )

        try:
            with anyio.fail_after(READY_TIMEOUT):
                checks = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
        except TimeoutError:
            timeout = {"ok": False, "error": f"no answer within {READY_TIMEOUT} s"}
            checks = {name: timeout for name in ("redis", "workers", "beat", "backlog")}
        failing = [name for name, result in checks.items() if not result["ok"]]
        status = 503 if failing else 200
        metrics.HTTP_REQUESTS.labels("/readyz", str(status)).inc()
        document = {
            "status": "unready" if failing else "ready",
            "failing": failing,
            "checks": checks,
        }
        return JSONResponse(document, status_code=status)

    async def metrics_endpoint(request: Request) -> Response:
        metrics.HTTP_REQUESTS.labels("/metrics", "200").inc()
        body = await anyio.to_thread.run_sync(metrics.render, collector)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def openapi(request: Request) -> Response:
        metrics.HTTP_REQUESTS.labels("/openapi.json", "200").inc()
        return JSONResponse(spec)

    pages = Pages(store, settings, config, reading_for(settings))
    app = SyndicationApp(
        routes=[
            *pages.routes(),
            Route("/events", post_event, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            *_federation_routes(settings, config, store),
            *key_file_routes(config),
        ]
    )
    cache = DocumentCache(DocumentStore(store), config.feeds.cache_control, freshness_ttl)
    app.feed_endpoint = FeedEndpoint(cache, config)
    return app


def _federation_routes(settings: Settings, config: Config, store: Store) -> list[BaseRoute]:
    """ActivityPub's routes when actors are configured; Accepts are handed to a sender at
    once through a Celery app made on first use."""
    if not config.federation.enabled:
        return []
    from syndication.federation import Federation
    from syndication.federation.web import federation_routes

    celery: list[Any] = []

    def nudge(delivery_ids: list[str]) -> None:
        from workers.app import create_app as create_celery_app
        from workers.handles import DELIVER_ACTIVITY

        if not celery:
            celery.append(create_celery_app(settings, config))
        for delivery_id in delivery_ids:
            DELIVER_ACTIVITY.send(celery[0], delivery_id)

    return federation_routes(Federation(store, config), nudge=nudge)


def _ledger_counts(store: Store) -> metrics.PostCounts:
    """Posts by (platform, status), from the ledger's counters."""
    from syndication.posts.ledger import Ledger

    ledger = Ledger(store)

    def counts() -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for (platform, _channel, status), n in ledger.counts().items():
            out[(platform, status)] = out.get((platform, status), 0) + n
        return out

    return counts


def app_from_environment() -> Starlette:
    """The uvicorn factory of ``syndication serve``: settings and config from the environment.

    Each uvicorn worker process calls this once; ``syndication serve`` has put its options
    into the environment first.
    """
    import os

    from syndication.config import load_config
    from syndication.logging import configure_logging

    configure_logging(os.environ.get("SYNDICATION_LOG_LEVEL", "INFO"))
    settings = Settings()
    ttl = float(os.environ.get("SYNDICATION_SERVE_FRESHNESS_TTL", FRESHNESS_TTL))
    return create_app(settings, load_config(settings.config_path), freshness_ttl=ttl)
