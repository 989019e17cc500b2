"""IndexNow on real Redis and real workers, against a local endpoint that speaks the protocol
and checks our key file the way a search engine does."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from feeds.catalog import feed_indexer
from feeds.indexnow import IndexNow
from syndication.config import Config, load_config
from syndication.ingest import Ingestor
from syndication.server import create_app
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.indexnow import IndexNowSandbox
from syndication.worklist import WorkList
from tests.conftest import wait_until
from tests.integration.test_pipeline import run_cli
from tests.integration.test_sitemaps import news_event, unpublish
from workers.app import create_app as create_celery_app
from workers.handles import DRAIN_INBOX, INGEST

KEY = "5e1c0a9b7d3f4e2a8b6c"
HOST = "portal.example"


def url(n: int) -> str:
    """The URL of article ``n`` (see ``news_event``)."""
    return f"https://{HOST}/vi/news/{n}"


@dataclass
class Site:
    """The IndexNow endpoint, our server publishing the key file, and the config for both."""

    endpoint: IndexNowSandbox
    server: httpx.Client
    config: Config

    def posts(self) -> list[str | None]:
        """The fault (or None) that answered each submission, in order."""
        return [r.fault for r in self.endpoint.requests_to("POST", "/indexnow")]


@contextlib.contextmanager
def _serve(app: Starlette) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=10, message="uvicorn started")
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def site(settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """IndexNow configured against a local endpoint, whose key checks reach our server."""
    monkeypatch.setenv("INDEXNOW_KEY", KEY)  # workers inherit the test's environment
    with IndexNowSandbox() as endpoint:
        (settings.config_path / "search.yaml").write_text(
            "search:\n"
            "  indexnow:\n"
            f"    endpoint: {endpoint.endpoint}\n"
            f"    host: {HOST}\n"
            "    batch_window: 1\n"
            "    retry_base: 0.5\n",
            encoding="utf-8",
        )
        config = load_config(settings.config_path)
        app = create_app(settings, config, enqueue=list().append, store=store)
        with _serve(app) as base, httpx.Client(base_url=base) as client:
            endpoint.key_hosts[HOST] = base
            yield Site(endpoint, client, config)


def owed(store: Store) -> int:
    """How many articles still owe an IndexNow submission."""
    return WorkList(store, "indexnow").size()


def test_config_check_accepts_and_validates_the_search_section(
    site: Site, settings: Settings
) -> None:
    """`syndication config check` accepts the section and names the file and path of a
    mistake in it, exiting 1."""
    ok = run_cli(settings, "config", "check")
    said = " ".join(ok.stderr.split())  # rich wraps long lines
    assert ok.exit_code == 0 and "news sitemaps on; IndexNow for portal.example" in said
    search = settings.config_path / "search.yaml"
    search.write_text("search: {indexnow: {host: portal.example, batch_size: 0}}\n")
    bad = run_cli(settings, "config", "check")
    assert bad.exit_code == 1
    said = " ".join(bad.stderr.split())
    assert f"{search}:1: search.indexnow.batch_size: expected greater than or equal to 1" in said


def test_the_key_file_is_served_as_plain_text(site: Site) -> None:
    """``GET /{key}.txt`` answers the key itself; another name is not found."""
    response = site.server.get(f"/{KEY}.txt")
    assert response.status_code == 200 and response.text == KEY
    assert response.headers["content-type"].startswith("text/plain")
    assert site.server.get("/0000000000000000.txt").status_code == 404


def test_publish_update_and_retraction_are_each_submitted_once_in_batches(
    site: Site, settings: Settings, store: Store, worker_factory
) -> None:
    """Each revision and the retraction go out once (the endpoint verified our key file), a
    repeated event or revision goes out never, and a burst of publishes goes in one request."""
    worker_factory(settings, "-c", "1")
    app = create_celery_app(settings)
    first = news_event(1, title="Hội An")
    INGEST.send(app, first, "test")
    wait_until(lambda: site.endpoint.submitted() == [url(1)], timeout=60, message="publish sent")
    body = site.endpoint.requests_to("POST", "/indexnow")[0].json
    assert body == {
        "host": HOST,
        "key": KEY,
        "keyLocation": f"https://{HOST}/{KEY}.txt",
        "urlList": [url(1)],
    }

    INGEST.send(app, first, "test")  # the same event again: a duplicate
    INGEST.send(app, first | {"id": "evt-same-revision"}, "test")  # same revision, new event
    wait_until(
        lambda: store.event_state("evt-same-revision") == "applied" and owed(store) == 0,
        timeout=30,
        message="the repeated revision worked off",
    )
    assert site.endpoint.submitted() == [url(1)]

    updated = datetime.now(UTC).isoformat(timespec="seconds")
    INGEST.send(
        app,
        first | {"id": "evt-update"} | {"article": first["article"] | {"updated_at": updated}},
        "test",
    )
    wait_until(lambda: len(site.endpoint.submitted()) == 2, timeout=30, message="update sent")

    # A burst as a CMS sends one: five XADDs to the inbox, applied by one drain.
    for n in range(10, 15):
        store.inbox_add(json.dumps(news_event(n)))
    DRAIN_INBOX.send(app)
    wait_until(lambda: len(site.endpoint.submitted()) == 7, timeout=30, message="burst sent")
    assert sorted(site.endpoint.batches[-1]) == [url(n) for n in range(10, 15)]

    INGEST.send(app, unpublish(1, "evt-retract"), "test")
    wait_until(lambda: len(site.endpoint.submitted()) == 8, timeout=30, message="retraction sent")
    assert site.endpoint.batches == [[url(1)], [url(1)], site.endpoint.batches[2], [url(1)]]
    assert site.posts() == [None] * 4  # every request accepted, none refused
    wait_until(lambda: owed(store) == 0, timeout=30, message="nothing left owed")


def test_rate_limits_and_outages_are_retried_and_refusals_dropped(
    site: Site, settings: Settings, store: Store, worker_factory
) -> None:
    """A 429 (with Retry-After) and a 503 are retried until accepted; a 422 drops its batch
    for good, logged for an operator, and later changes still go out."""
    worker = worker_factory(settings, "-c", "1")
    app = create_celery_app(settings)
    site.endpoint.fail_next(
        429, {"Retry-After": "1"}, {"code": "TooManyRequests"}, path="/indexnow"
    )
    INGEST.send(app, news_event(1), "test")
    wait_until(lambda: site.endpoint.submitted() == [url(1)], timeout=60, message="after a 429")
    assert site.posts() == ["fail", None]

    site.endpoint.fail_next(503, path="/indexnow")
    INGEST.send(app, news_event(2), "test")
    wait_until(lambda: len(site.endpoint.submitted()) == 2, timeout=30, message="after a 503")
    assert site.posts() == ["fail", None, "fail", None]

    site.endpoint.fail_next(422, body={"code": "UrlNotOnHost"}, path="/indexnow")
    INGEST.send(app, news_event(3), "test")
    wait_until(lambda: len(site.posts()) == 5 and owed(store) == 0, timeout=30, message="422")
    INGEST.send(app, news_event(4), "test")
    wait_until(lambda: len(site.endpoint.submitted()) == 3, timeout=30, message="next change")
    assert site.endpoint.submitted() == [url(1), url(2), url(4)]
    assert "indexnow.refused" in worker.output() and "UrlNotOnHost" in worker.output()


def _apply(settings: Settings, store: Store, config: Config, *events: dict) -> None:
    ingestor = Ingestor(store, feed_indexer(config.feeds), settings.limits, owe=("indexnow",))
    for event in events:
        assert ingestor.ingest(event, source="test").status == "applied"


def test_a_key_file_without_our_key_is_refused_and_dropped(
    site: Site, settings: Settings, store: Store
) -> None:
    """When the key file does not hold the key sent, the endpoint answers 403: nothing is
    retried, and the change is not remembered as submitted."""
    assert site.config.search.indexnow is not None
    _apply(settings, store, site.config, news_event(1))
    wrong = IndexNow(store, site.config.search.indexnow, environ={"INDEXNOW_KEY": "f" * 16})
    report = wait_until(lambda: (r := wrong.run()).requests and r, message="a settled batch")
    assert (report.refused, report.submitted, owed(store)) == (1, 0, 0)  # type: ignore[attr-defined]
    assert site.endpoint.submitted() == [] and wrong.submitted_token("art-00001") is None


def test_urls_off_the_host_are_skipped_and_a_missing_key_keeps_the_work(
    site: Site, settings: Settings, store: Store
) -> None:
    """A URL on another host is never sent (it would fail the batch); without a key the work
    stays owed, backed off, and nothing is sent until the key is there."""
    assert site.config.search.indexnow is not None
    foreign = news_event(1, url="https://elsewhere.example/vi/news/1")
    _apply(settings, store, site.config, foreign, news_event(2))
    keyless = IndexNow(store, site.config.search.indexnow, environ={})
    assert keyless.run().deferred and owed(store) == 2 and site.posts() == []
    assert (WorkList(store, "indexnow").next_due() or 0) > datetime.now(UTC).timestamp()

    keyed = IndexNow(store, site.config.search.indexnow, environ={"INDEXNOW_KEY": KEY})
    wait_until(lambda: keyed.run() and owed(store) == 0, message="the backed-off work sent")
    assert site.endpoint.submitted() == [url(2)] and site.posts() == [None]
    assert keyed.submitted_token("art-00001") is None
