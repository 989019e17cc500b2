"""`syndication serve` on real Redis: stored feeds, signed events, health, metrics."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import feedparser
import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.applications import Starlette

from feeds.catalog import FeedRef, feed_indexer
from feeds.storage import FeedStorage
from syndication.config import Config
from syndication.events import parse_event
from syndication.ingest import feed_ids_for
from syndication.ops import Ops
from syndication.server import create_app, signature_for
from syndication.settings import Limits, Settings
from syndication.store import Store
from tests.conftest import wait_until
from tests.unit.test_events import EVENT

SECRET = "test-webhook-secret"
ALL_RSS = "/feeds/vi/all.rss"


def make_event(n: int, **article: object) -> dict[str, Any]:
    """The valid sample event with its own event and article ids and some article fields changed."""
    doc = copy.deepcopy(EVENT)
    doc["id"] = f"evt-{n:05d}"
    doc["article"]["id"] = f"art-{n:05d}"  # type: ignore[index]
    doc["article"].update(article)  # type: ignore[union-attr]
    return doc


def publish_and_render(store: Store, config: Config, event: dict[str, Any]) -> None:
    """Apply an event to the store and render every feed it touches, as the workers would."""
    parsed = parse_event(event)
    feeds = feed_ids_for(parsed, feed_indexer(config.feeds))
    store.apply_event(parsed, feeds)
    storage = FeedStorage(store)
    for feed_id in feeds:
        storage.render(FeedRef.from_id(feed_id), config.feeds)
    storage.render_index([FeedRef.from_id(f) for f in feeds], config.feeds)


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Headers that sign ``body`` the way a CMS does."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Syndication-Timestamp": stamp,
        "X-Syndication-Signature": signature_for(secret.encode(), stamp, body),
        "Content-Type": "application/json",
    }


def call(app: Starlette, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to the ASGI app in-process, through httpx."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def secret_settings(settings: Settings) -> Settings:
    """The test's settings with a webhook secret."""
    return settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})


@pytest.fixture
def queued() -> list[dict[str, Any]]:
    """What the app handed to its enqueue callable."""
    return []


@pytest.fixture
def app(secret_settings: Settings, config: Config, store: Store, queued: list[dict[str, Any]]):
    """The app on the test's Redis, queuing into a list, revalidating feeds on every request."""
    return create_app(secret_settings, config, enqueue=queued.append, store=store, freshness_ttl=0)


@pytest.fixture
def rendered(store: Store, config: Config) -> None:
    """One published article rendered into every feed it belongs to, and the OPML index."""
    publish_and_render(store, config, make_event(1))


# --- feeds ---------------------------------------------------------------------------------
@pytest.mark.usefixtures("rendered")
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/feeds/vi/all.rss", "application/rss+xml; charset=utf-8"),
        ("/feeds/vi/all.atom", "application/atom+xml; charset=utf-8"),
        ("/feeds/vi/all.json", "application/feed+json; charset=utf-8"),
        ("/feeds/vi/category/heritage.rss", "application/rss+xml; charset=utf-8"),
        ("/feeds/index.opml", "text/x-opml; charset=utf-8"),
    ],
)
def test_feeds_are_served_with_their_content_type(
    app: Starlette, store: Store, path: str, content_type: str
) -> None:
    """Each stored document is served as stored, with its content type and cache headers."""
    response = call(app, "GET", path, headers={"Accept-Encoding": "identity"})
    doc = FeedStorage(store).get(path)
    assert response.status_code == 200 and doc is not None
    assert response.headers["content-type"] == content_type
    assert response.content == doc.body
    assert response.headers["etag"] == doc.etag
    assert response.headers["last-modified"] == formatdate(doc.last_modified, usegmt=True)
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in response.headers


@pytest.mark.usefixtures("rendered")
def test_rss_served_parses_with_the_article(app: Starlette) -> None:
    """The RSS a reader fetches parses cleanly and holds the published article."""
    parsed = feedparser.parse(call(app, "GET", ALL_RSS).content)
    assert parsed.bozo == 0
    assert [e.title for e in parsed.entries] == ["Phố cổ Hội An"]


@pytest.mark.usefixtures("rendered")
def test_if_none_match_answers_304_with_weak_comparison_lists_and_star(app: Starlette) -> None:
    """A matching ETag (weak or strong, alone, in a list, or `*`) gives 304 and no body."""
    plain = {"Accept-Encoding": "identity"}
    etag = call(app, "GET", ALL_RSS, headers=plain).headers["etag"]
    assert not etag.startswith("W/")
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = call(app, "GET", ALL_RSS, headers={**plain, "If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "public, max-age=60"
    assert call(app, "GET", ALL_RSS, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.usefixtures("rendered")
def test_if_modified_since_answers_304_unless_if_none_match_is_sent(app: Starlette) -> None:
    """If-Modified-Since at or after Last-Modified gives 304, but only without If-None-Match."""
    last_modified = call(app, "GET", ALL_RSS).headers["last-modified"]
    assert (
        call(app, "GET", ALL_RSS, headers={"If-Modified-Since": last_modified}).status_code == 304
    )
    earlier = formatdate(time.time() - 86400 * 365 * 30, usegmt=True)
    assert call(app, "GET", ALL_RSS, headers={"If-Modified-Since": earlier}).status_code == 200
    both = {"If-Modified-Since": last_modified, "If-None-Match": '"other"'}
    assert call(app, "GET", ALL_RSS, headers=both).status_code == 200
    garbage = {"If-Modified-Since": "yesterday-ish"}
    assert call(app, "GET", ALL_RSS, headers=garbage).status_code == 200


@pytest.mark.usefixtures("rendered")
def test_gzip_is_sent_when_accepted_and_decompresses_to_the_same_bytes(app: Starlette) -> None:
    """With gzip accepted the stored gzip body is sent, and it inflates to the plain bytes."""
    plain = call(app, "GET", ALL_RSS, headers={"Accept-Encoding": "identity"})
    # httpx would inflate the body itself; a raw stream shows what was on the wire.
    zipped = call(app, "GET", ALL_RSS, headers={"Accept-Encoding": "br;q=1, gzip;q=0.5"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == plain.content
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.headers["etag"] == "W/" + plain.headers["etag"]
    refused = call(app, "GET", ALL_RSS, headers={"Accept-Encoding": "gzip;q=0, *"})
    assert "content-encoding" not in refused.headers


@pytest.mark.usefixtures("rendered")
def test_gzip_body_on_the_wire_is_the_documents_gzip(app: Starlette, store: Store) -> None:
    """The compressed bytes sent are the document's one gzip encoding, which decompresses
    to the stored body."""

    async def raw() -> bytes:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            client.stream("GET", ALL_RSS, headers={"Accept-Encoding": "gzip"}) as r,
        ):
            return b"".join([chunk async for chunk in r.aiter_raw()])

    doc = FeedStorage(store).get(ALL_RSS)
    assert doc is not None
    body = asyncio.run(raw())
    assert body == doc.gzip and gzip.decompress(body) == doc.body


@pytest.mark.usefixtures("rendered")
def test_head_sends_the_headers_without_a_body(app: Starlette) -> None:
    """HEAD answers with the GET headers (length included) and no body."""
    get = call(app, "GET", ALL_RSS, headers={"Accept-Encoding": "identity"})
    head = call(app, "HEAD", ALL_RSS, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers == get.headers


@pytest.mark.usefixtures("rendered")
def test_unknown_feeds_and_methods_are_refused(app: Starlette) -> None:
    """Malformed paths, disabled feeds and feeds never rendered are 404; POST on a feed is 405."""
    for path in ("/feeds/vi/all.xml", "/feeds/vi/tag/hoi-an.rss", "/feeds/en/all.rss", "/nope"):
        response = call(app, "GET", path)
        assert response.status_code == 404, path
    assert call(app, "GET", "/feeds/en/all.rss").json()["errors"][0].startswith("path:")
    response = call(app, "POST", ALL_RSS)
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


@pytest.mark.usefixtures("rendered")
def test_a_new_render_changes_the_etag_and_the_bytes_served(
    app: Starlette, store: Store, config: Config
) -> None:
    """After a re-render the server serves the new bytes under a new ETag; the old one is 200."""
    first = call(app, "GET", ALL_RSS)
    publish_and_render(store, config, make_event(2, title="Tin mới nhất"))
    second = call(app, "GET", ALL_RSS, headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]
    assert "Tin mới nhất" in second.text


@pytest.mark.usefixtures("rendered")
def test_a_cached_document_is_revalidated_once_its_ttl_has_passed(
    secret_settings: Settings, config: Config, store: Store
) -> None:
    """With a freshness TTL the cached bytes are served until it expires, then the new ones."""
    app = create_app(secret_settings, config, enqueue=list().append, store=store, freshness_ttl=0.3)
    before = call(app, "GET", ALL_RSS).headers["etag"]
    publish_and_render(store, config, make_event(3, title="Sau một lúc"))
    wait_until(
        lambda: call(app, "GET", ALL_RSS).headers["etag"] != before, timeout=5, message="new etag"
    )
    assert "Sau một lúc" in call(app, "GET", ALL_RSS).text


# --- signed events -------------------------------------------------------------------------
def test_a_signed_event_is_queued_with_202(app: Starlette, queued: list[dict[str, Any]]) -> None:
    """A correctly signed, valid event is handed to the queue and answered 202 with its id."""
    body = json.dumps(make_event(10)).encode()
    response = call(app, "POST", "/events", content=body, headers=signed(body))
    assert response.status_code == 202
    assert response.json() == {"event_id": "evt-00010", "status": "queued"}
    assert [e["id"] for e in queued] == ["evt-00010"]
    assert queued[0]["article"]["title"] == "Phố cổ Hội An"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "x-syndication-timestamp: required"),
        ({"X-Syndication-Timestamp": "now"}, "x-syndication-timestamp: not Unix seconds"),
        ({"X-Syndication-Timestamp": "{now}"}, "x-syndication-signature: required"),
    ],
)
def test_unsigned_events_are_refused_with_401(
    app: Starlette,
    store: Store,
    queued: list[dict[str, Any]],
    headers: dict[str, str],
    message: str,
) -> None:
    """Without a timestamp and a signature the event is refused, named, and not dead-lettered."""
    headers = {k: v.replace("{now}", str(int(time.time()))) for k, v in headers.items()}
    response = call(app, "POST", "/events", content=b"{}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": [message]}
    assert queued == [] and store.count_dead_letters() == 0


def test_a_wrong_signature_is_refused_with_401(
    app: Starlette, queued: list[dict[str, Any]]
) -> None:
    """A signature made with another secret, or over other bytes, is refused."""
    body = json.dumps(make_event(11)).encode()
    for headers in (signed(body, secret="not-the-secret"), signed(body + b" ")):
        response = call(app, "POST", "/events", content=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"] == ["x-syndication-signature: does not match the body"]
    assert queued == []


def test_a_stale_or_future_timestamp_is_refused_with_401(
    app: Starlette, queued: list[dict[str, Any]]
) -> None:
    """A correctly signed request from outside the 300 s window is a replay: refused."""
    body = json.dumps(make_event(12)).encode()
    for stamp in (int(time.time()) - 301, int(time.time()) + 301):
        response = call(app, "POST", "/events", content=body, headers=signed(body, timestamp=stamp))
        assert response.status_code == 401
        assert "outside the 300 s window" in response.json()["errors"][0]
    assert queued == []


def test_an_oversize_body_is_refused_with_413(
    secret_settings: Settings, config: Config, store: Store
) -> None:
    """A body over the event size limit is refused before it is parsed or queued."""
    small = secret_settings.model_copy(update={"limits": Limits(event_bytes=2_000)})
    queued: list[dict[str, Any]] = []
    app = create_app(small, config, enqueue=queued.append, store=store)
    body = json.dumps(make_event(13, summary="x" * 3_000)).encode()
    response = call(app, "POST", "/events", content=body, headers=signed(body))
    assert response.status_code == 413
    assert response.json() == {"errors": ["event: larger than 2000 bytes"]}

    async def chunked() -> httpx.Response:
        async def chunks():  # no Content-Length: the limit is enforced while reading
            for i in range(0, len(body), 500):
                yield body[i : i + 500]

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/events", content=chunks(), headers=signed(body))

    assert asyncio.run(chunked()).status_code == 413
    assert queued == [] and store.count_dead_letters() == 0


def test_malformed_json_is_refused_with_422_and_kept(
    app: Starlette, store: Store, queued: list[dict[str, Any]]
) -> None:
    """A signed body that is not JSON gets 422 with a named error and becomes a dead letter."""
    body = b'{"id": "evt-broken", '
    response = call(app, "POST", "/events", content=body, headers=signed(body))
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith("event: not valid JSON")
    [letter] = store.dead_letters()
    assert letter.source == "http" and letter.raw == body.decode()
    assert response.json()["dead_letter"] == letter.id and queued == []


def test_an_invalid_event_is_refused_with_field_named_errors_and_kept(
    app: Starlette, store: Store, queued: list[dict[str, Any]]
) -> None:
    """A signed but invalid event gets 422 naming each bad field, and is kept for replay."""
    body = json.dumps(make_event(14, url="not a url", language="en_GB")).encode()
    response = call(app, "POST", "/events", content=body, headers=signed(body))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "article.url: not an absolute http(s) URL" in errors
    assert any(e.startswith("article.language:") for e in errors)
    assert store.count_dead_letters() == 1
    assert store.event_state("evt-00014") == "rejected"
    assert queued == []


def test_without_a_secret_events_are_refused_with_503(
    settings: Settings, config: Config, store: Store
) -> None:
    """With no webhook secret configured nothing can be authenticated, so nothing is accepted."""
    queued: list[dict[str, Any]] = []
    app = create_app(
        settings.model_copy(update={"webhook_secret": None}),
        config,
        enqueue=queued.append,
        store=store,
    )
    body = json.dumps(make_event(15)).encode()
    response = call(app, "POST", "/events", content=body, headers=signed(body))
    assert response.status_code == 503
    assert "SYNDICATION_WEBHOOK_SECRET" in response.json()["errors"][0]
    assert SECRET not in response.text and queued == []


def test_a_queue_failure_answers_503_so_the_sender_retries(
    secret_settings: Settings, config: Config, store: Store
) -> None:
    """When the queue refuses the event, the sender is told to retry (503)."""

    def broken(event: dict[str, Any]) -> None:
        raise ConnectionError("broker down")

    app = create_app(secret_settings, config, enqueue=broken, store=store)
    body = json.dumps(make_event(16)).encode()
    response = call(app, "POST", "/events", content=body, headers=signed(body))
    assert response.status_code == 503
    assert response.json() == {"errors": ["queue: could not queue the event; retry later"]}


def test_openapi_describes_every_endpoint(app: Starlette) -> None:
    """The OpenAPI 3.1 document lists the endpoints and the event schema from the models."""
    doc = call(app, "GET", "/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert {"/events", "/healthz", "/readyz", "/metrics", "/feeds/{lang}/all.{ext}"} <= set(
        doc["paths"]
    )
    assert set(doc["paths"]["/events"]["post"]["responses"]) == {"202", "401", "413", "422", "503"}
    assert "ArticlePublished" in doc["components"]["schemas"]


# --- health, readiness, metrics ---------------------------------------------------------------
def test_healthz_answers_while_the_process_is_up(app: Starlette) -> None:
    """`/healthz` needs nothing but the process."""
    response = call(app, "GET", "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def beat_now(store: Store, *roles: str, age: float = 0.0) -> None:
    """Write heartbeats as workers and beat do: process name -> Unix time last seen."""
    for role in roles:
        Ops(store).beat(role, f"{role}-1@test", time.time() - age)


def test_readyz_fails_without_worker_and_beat_heartbeats(app: Starlette, store: Store) -> None:
    """With no worker or beat seen, or seen too long ago, `/readyz` is 503 naming them."""
    response = call(app, "GET", "/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["workers", "beat"]
    assert response.json()["checks"]["redis"] == {"ok": True}
    beat_now(store, "worker", "beat", age=61)
    assert call(app, "GET", "/readyz").json()["failing"] == ["workers", "beat"]


def test_readyz_passes_with_fresh_heartbeats(app: Starlette, store: Store) -> None:
    """With a worker and beat seen in the last minute and no backlog, `/readyz` is 200."""
    beat_now(store, "worker", "beat")
    response = call(app, "GET", "/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert body["checks"]["workers"]["alive"] == ["worker-1@test"]
    assert body["checks"]["backlog"]["total"] == 0


def test_readyz_fails_when_the_backlog_passes_the_limit(
    secret_settings: Settings, config: Config, store: Store
) -> None:
    """Inbox entries plus queued tasks above the limit make `/readyz` name the backlog."""
    app = create_app(secret_settings, config, enqueue=list().append, store=store, backlog_limit=2)
    beat_now(store, "worker", "beat")
    for n in range(3):
        store.inbox_add(json.dumps(make_event(20 + n)))
    response = call(app, "GET", "/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["backlog"]
    assert response.json()["checks"]["backlog"]["inbox"] == 3


def scrape(app: Starlette) -> dict[str, float]:
    """`/metrics` parsed into ``{"name{label=value,...}": value}``."""
    response = call(app, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


@pytest.mark.usefixtures("rendered")
def test_metrics_change_as_events_flow(app: Starlette, store: Store) -> None:
    """Accepted and rejected counters, request counts and Redis gauges move with the traffic."""
    before = scrape(app)
    body = json.dumps(make_event(30)).encode()
    call(app, "POST", "/events", content=body, headers=signed(body))
    call(app, "POST", "/events", content=body, headers=signed(body, secret="wrong"))
    call(app, "GET", ALL_RSS)
    store.inbox_add(json.dumps(make_event(31)))
    after = scrape(app)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta("syndication_events_accepted_total{source=http}") == 1
    assert delta("syndication_events_rejected_total{reason=bad_signature}") == 1
    assert delta("syndication_http_requests_total{route=/feeds,status=200}") == 1
    assert delta("syndication_http_requests_total{route=/events,status=202}") == 1
    assert after["syndication_inbox_length{}"] == 1
    assert after["syndication_documents{}"] == len(FeedStorage(store).documents())
    assert after["syndication_queue_length{queue=ingest}"] == 0
    assert after["syndication_dead_letters{}"] == 0
    assert after["syndication_redis_up{}"] == 1
    text = call(app, "GET", "/metrics").text
    for name, kind in (
        ("ingest_seconds", "histogram"),
        ("render_seconds", "histogram"),
        ("delivery_seconds", "histogram"),
        ("delivery_lag_seconds", "histogram"),
        ("feeds_rendered_total", "counter"),
        ("posts_total", "counter"),
    ):
        assert f"# TYPE syndication_{name} {kind}" in text


# --- real HTTP ---------------------------------------------------------------------------------
@pytest.fixture
def served(app: Starlette) -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10, message="uvicorn started")
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.usefixtures("rendered")
def test_real_uvicorn_serves_feeds_304s_and_gzip(served: str, store: Store) -> None:
    """Over a real socket: 200 with gzip, 304 on the ETag, HEAD without a body."""
    doc = FeedStorage(store).get(ALL_RSS)
    assert doc is not None
    with httpx.Client(base_url=served) as client:
        first = client.get(ALL_RSS)
        assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
        assert first.content == doc.body
        again = client.get(ALL_RSS, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        head = client.head(ALL_RSS, headers={"Accept-Encoding": "identity"})
        assert head.content == b"" and head.headers["content-length"] == str(len(doc.body))
        assert client.get("/healthz").json() == {"status": "ok"}


def test_a_signed_event_posted_over_http_is_applied_by_a_worker(
    secret_settings: Settings, config: Config, store: Store, worker_factory
) -> None:
    """End to end: POST /events to a real server, the Celery task runs, the feed shows it."""
    worker_factory(secret_settings, "-c", "1")
    app = create_app(secret_settings, config, store=store, freshness_ttl=0)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=10, message="uvicorn started")
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        body = json.dumps(make_event(40, title="Qua HTTP")).encode()
        with httpx.Client(base_url=base) as client:
            response = client.post("/events", content=body, headers=signed(body))
            assert response.status_code == 202, response.text
            wait_until(
                lambda: store.event_state("evt-00040") == "applied",
                timeout=60,
                message="event applied by the worker",
            )
            feed = wait_until(
                lambda: (r := client.get(ALL_RSS)).status_code == 200 and r,
                timeout=60,
                message="feed rendered",
            )
            assert "Qua HTTP" in feed.text  # type: ignore[attr-defined]
    finally:
        server.should_exit = True
        thread.join(10)
