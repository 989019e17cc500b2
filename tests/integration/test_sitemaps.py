"""News sitemaps on real Redis and real workers: following publish, update and retraction,
served with ETag/304/gzip, exported, and dropping articles as their two days run out."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from feeds.catalog import feed_indexer
from feeds.sitemaps import NEWS_LIMIT, news_sitemap_path
from feeds.storage import FeedStorage, refresh_feeds
from syndication.config import Config, load_config
from syndication.ingest import Ingestor
from syndication.server import create_app
from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import wait_until
from tests.integration.test_pipeline import make_event
from tests.unit.sitemapcheck import check_news_sitemap, check_sitemap_index
from workers.app import create_app as create_celery_app
from workers.handles import INGEST, SWEEP

VI_NEWS = news_sitemap_path("vi")
BASE = "http://127.0.0.1:8000"  # the sample config's base_url


def news_event(n: int, *, hours_ago: float = 1.0, lang: str = "vi", **article: Any) -> dict:
    """A publish of article ``n`` (in ``lang``) published ``hours_ago`` before now."""
    published = datetime.now(UTC) - timedelta(hours=hours_ago)
    article.setdefault("url", f"https://portal.example/{lang}/news/{n}")
    return make_event(
        n, language=lang, published_at=published.isoformat(timespec="seconds"), **article
    )


def unpublish(n: int, event_id: str) -> dict:
    """A retraction of article ``n``, made now."""
    return {
        "id": event_id,
        "type": "article.unpublished",
        "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "article": {"id": f"art-{n:05d}"},
    }


def configure(settings: Settings, export: Path | None = None) -> Config:
    """Name the Vietnamese edition, and optionally export documents to ``export``."""
    (settings.config_path / "search.yaml").write_text(
        'search:\n  sitemaps:\n    publication_names: {vi: "Báo Mẫu"}\n', encoding="utf-8"
    )
    if export is not None:
        feeds_yaml = settings.config_path / "feeds.yaml"
        text = feeds_yaml.read_text(encoding="utf-8")
        feeds_yaml.write_text(text.replace("  # export_dir:", f"  export_dir: {export}\n  #"))
    return load_config(settings.config_path)


@contextlib.contextmanager
def serving(settings: Settings, config: Config, store: Store) -> Iterator[httpx.Client]:
    """``syndication serve``'s app under a real uvicorn; yields a client for it."""
    app = create_app(settings, config, enqueue=list().append, store=store, freshness_ttl=0)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=10, message="uvicorn started")
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def served_titles(client: httpx.Client) -> list[str]:
    """The titles the served Vietnamese news sitemap lists, after checking every rule."""
    response = client.get(VI_NEWS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    return [item.title for item in check_news_sitemap(response.content, datetime.now(UTC))]


def test_the_news_sitemap_follows_publish_update_and_retraction(
    settings: Settings, store: Store, worker_factory, tmp_path: Path
) -> None:
    """Published articles of the last two days appear (newest first, per language), an update
    changes the entry, a retraction removes it at once; each state is served with ETag, 304
    and gzip, listed in the sitemap index, and exported."""
    export = tmp_path / "static"
    config = configure(settings, export)
    worker_factory(settings, "-c", "1")
    app = create_celery_app(settings)
    INGEST.send(app, news_event(1, title="Hội An về đêm", hours_ago=3), "test")
    INGEST.send(app, news_event(2, title="Áo dài & lụa", hours_ago=1), "test")
    INGEST.send(app, news_event(3, title="Tin cũ", hours_ago=72), "test")
    INGEST.send(app, news_event(4, title="Hue by night", lang="en"), "test")
    with serving(settings, config, store) as client:
        wait_until(
            lambda: client.get(VI_NEWS).status_code == 200 and len(served_titles(client)) == 2,
            timeout=60,
            message="both recent Vietnamese articles in the sitemap",
        )
        assert served_titles(client) == ["Áo dài & lụa", "Hội An về đêm"]  # never "Tin cũ"
        items = check_news_sitemap(client.get(VI_NEWS).content)
        assert {(i.name, i.language) for i in items} == {("Báo Mẫu", "vi")}
        assert items[0].loc == "https://portal.example/vi/news/2"
        en_news = news_sitemap_path("en")
        response = wait_until(
            lambda: (r := client.get(en_news)).status_code == 200 and r,
            timeout=30,
            message="the English sitemap rendered",
        )
        en = check_news_sitemap(response.content)  # type: ignore[attr-defined]
        assert [(i.title, i.name, i.language) for i in en] == [
            ("Hue by night", "Vietnam Portal (sample)", "en")
        ]
        first = client.get(VI_NEWS, headers={"Accept-Encoding": "gzip"})
        assert first.headers["content-encoding"] == "gzip"
        again = client.get(VI_NEWS, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        index = wait_until(
            lambda: (
                (r := client.get("/sitemap.xml")).status_code == 200
                and len(check_sitemap_index(r.content)) == 2
                and r
            ),
            timeout=30,
            message="the index lists both languages",
        )
        locs = [loc for loc, _ in check_sitemap_index(index.content)]  # type: ignore[attr-defined]
        assert locs == [BASE + news_sitemap_path("en"), BASE + VI_NEWS]

        INGEST.send(
            app,
            news_event(
                2,
                title="Áo dài và lụa",
                hours_ago=1,
                updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            | {"id": "evt-update-2"},
            "test",
        )
        wait_until(
            lambda: served_titles(client) == ["Áo dài và lụa", "Hội An về đêm"],
            timeout=30,
            message="the update in the sitemap",
        )
        assert (
            client.get(VI_NEWS, headers={"If-None-Match": first.headers["etag"]}).status_code == 200
        )

        INGEST.send(app, unpublish(1, "evt-retract-1"), "test")
        wait_until(
            lambda: served_titles(client) == ["Áo dài và lụa"],
            timeout=30,
            message="the retracted article gone from the sitemap",
        )
        exported = export / "sitemaps" / "vi" / "news.xml"
        wait_until(
            lambda: (
                exported.exists()
                and [i.title for i in check_news_sitemap(exported.read_bytes())]
                == ["Áo dài và lụa"]
            ),
            timeout=30,
            message="the export following the retraction",
        )
        assert check_sitemap_index((export / "sitemap.xml").read_bytes())


def test_an_article_leaves_the_news_sitemap_when_its_two_days_run_out(
    settings: Settings, store: Store, worker_factory
) -> None:
    """No event is needed: the periodic sweep re-renders a sitemap once an article in it has
    been published for more than two days."""
    config = configure(settings)
    worker_factory(settings, "-c", "1")
    app = create_celery_app(settings)
    with serving(settings, config, store) as client:
        INGEST.send(app, news_event(6, title="Còn mới"), "test")
        wait_until(
            lambda: client.get(VI_NEWS).status_code == 200 and served_titles(client),
            timeout=60,
            message="the worker up and the sitemap rendered",
        )
        left = 6.0  # seconds of its two days the second article has left when published
        expires_at = time.time() + left
        INGEST.send(app, news_event(5, title="Sắp hết hạn", hours_ago=48 - left / 3600), "test")
        wait_until(
            lambda: len(served_titles(client)) == 2, timeout=left, message="both articles listed"
        )
        wait_until(lambda: time.time() > expires_at + 1, message="the second article's two days")
        SWEEP.send(app)
        wait_until(
            lambda: (
                [i.title for i in check_news_sitemap(client.get(VI_NEWS).content)] == ["Còn mới"]
            ),
            timeout=30,
            message="the expired article dropped by the sweep",
        )


def test_a_news_sitemap_lists_the_newest_thousand_and_reads_cached_entries(
    settings: Settings, store: Store
) -> None:
    """Past 1,000 recent articles only the newest 1,000 are listed, newest first; a render
    after an update shows the new title (entries are cached per revision)."""
    config = configure(settings)
    ingestor = Ingestor(store, feed_indexer(config.feeds), settings.limits)
    events = [news_event(n, title=f"Bài {n}", hours_ago=(n + 1) / 60) for n in range(1005)]
    ingestor.ingest_batch(events, source="test")
    storage = FeedStorage(store, sitemaps=config.search.sitemaps)
    refresh_feeds(storage, config.feeds, ["vi/all"])
    doc = storage.get(VI_NEWS)
    assert doc is not None and doc.items == NEWS_LIMIT
    titles = [i.title for i in check_news_sitemap(doc.body, datetime.now(UTC))]
    assert titles == [f"Bài {n}" for n in range(NEWS_LIMIT)]

    updated = datetime.now(UTC).isoformat(timespec="seconds")
    ingestor.ingest(
        news_event(0, title="Bài mới", hours_ago=1 / 60, updated_at=updated) | {"id": "evt-u0"},
        source="test",
    )
    refresh_feeds(storage, config.feeds, ["vi/all"])
    doc = storage.get(VI_NEWS)
    assert doc is not None and check_news_sitemap(doc.body)[0].title == "Bài mới"


def test_sitemaps_of_unknown_languages_or_when_disabled_are_not_found(
    settings: Settings, store: Store
) -> None:
    """A language config does not list is a 404, and so is every sitemap when disabled."""
    config = configure(settings)
    with serving(settings, config, store) as client:
        assert client.get("/sitemaps/fr/news.xml").status_code == 404
        assert client.get(VI_NEWS).json() == {"errors": [f"path: not rendered yet: {VI_NEWS!r}"]}
    off = Config.model_validate(config.model_dump() | {"search": {"sitemaps": {"enabled": False}}})
    with serving(settings, off, store) as client:
        assert client.get("/sitemap.xml").status_code == 404
