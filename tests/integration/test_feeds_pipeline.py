"""Feeds end to end: a real worker renders every affected feed after publish, update, unpublish."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser

from feeds.catalog import feed_indexer
from feeds.documents import DocumentStore
from feeds.storage import RENDER_INTERVAL
from syndication.config import load_config
from syndication.ingest import Ingestor
from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import load_samples, wait_until
from workers.app import create_app


def _doc(docs: DocumentStore, path: str) -> bytes | None:
    doc = docs.get(path)
    return doc.body if doc else None


def test_publish_update_unpublish_reach_every_affected_feed(
    settings: Settings, store: Store, worker_factory
) -> None:
    """Samples render into valid feeds; an update and a retraction show up in every feed."""
    worker = worker_factory(settings, "-c", "1")
    app = create_app(settings)
    samples = load_samples()
    for event in samples:
        app.send_task("syndication.ingest", (event,))
    docs = DocumentStore(store)
    wait_until(
        lambda: all(s == "applied" for s in store.event_states([e["id"] for e in samples])),
        message="samples applied",
    )
    wait_until(
        lambda: not store.dirty_feeds() and _doc(docs, "/feeds/vi/category/heritage.atom"),
        message="feeds rendered",
    )

    for path in (
        "/feeds/vi/all.rss",
        "/feeds/en/all.atom",
        "/feeds/ja/all.rss",
        "/feeds/vi/category/heritage.atom",
        "/feeds/ja/author/sato-hanako.atom",
    ):
        parsed = feedparser.parse(_doc(docs, path))
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.entries, path
    vi = feedparser.parse(_doc(docs, "/feeds/vi/all.rss"))
    assert vi.feed.language == "vi"
    assert vi.entries[0].title == "Cảnh báo bão số 12 hướng vào miền Trung"  # newest first
    en_json = json.loads(_doc(docs, "/feeds/en/all.json") or b"{}")
    assert any(i["title"] == "Coffee exports hit a record high" for i in en_json["items"])

    # An update changes the title in every feed of the article, keeping its id.
    before = {
        e.id: e.title
        for e in feedparser.parse(_doc(docs, "/feeds/vi/category/heritage.atom")).entries
    }
    update = json.loads(json.dumps(samples[0]))
    update.update(id="evt-update-1", type="article.updated")
    update["article"].update(
        title="Đại Nội Huế: lễ hội kéo dài thêm một tuần", updated_at="2026-11-25T08:00:00+07:00"
    )
    app.send_task("syndication.ingest", (update,))

    def updated_everywhere() -> bool:
        for path in (
            "/feeds/vi/all.atom",
            "/feeds/vi/category/heritage.atom",
            "/feeds/vi/tag/unesco.rss",
        ):
            titles = [e.title for e in feedparser.parse(_doc(docs, path)).entries]
            if "Đại Nội Huế: lễ hội kéo dài thêm một tuần" not in titles:
                return False
        return True

    wait_until(updated_everywhere, message="update rendered in every feed")
    after = {
        e.id: e.title
        for e in feedparser.parse(_doc(docs, "/feeds/vi/category/heritage.atom")).entries
    }
    assert set(after) == set(before)  # same ids: the update kept the GUID

    # A retraction removes it from every feed and leaves an Atom tombstone.
    article_id = samples[0]["article"]["id"]  # type: ignore[index]
    app.send_task(
        "syndication.ingest",
        (
            {
                "id": "evt-retract-1",
                "type": "article.unpublished",
                "occurred_at": "2026-11-25T09:00:00+07:00",
                "article": {"id": article_id},
            },
        ),
    )

    def gone_everywhere() -> bool:
        body = _doc(docs, "/feeds/vi/category/heritage.atom") or b""
        rss = _doc(docs, "/feeds/vi/all.rss") or b""
        return b"deleted-entry" in body and b"dai-noi-hue" not in rss

    wait_until(gone_everywhere, message="retraction rendered")
    assert feedparser.parse(_doc(docs, "/feeds/vi/category/heritage.atom")).entries == []
    assert "error" not in worker.output().lower() or "Traceback" not in worker.output()


def test_a_burst_to_one_feed_renders_it_a_few_times_not_once_per_event(
    settings: Settings, store: Store, worker_factory, tmp_path: Path
) -> None:
    """Forty events touching one feed within a moment are coalesced: far fewer renders than
    events, and no more than one per render interval while they were being applied."""
    app = create_app(settings)
    base = load_samples()[0]
    for n in range(40):
        event = json.loads(json.dumps(base))
        event["id"] = f"evt-burst-{n}"
        event["article"]["id"] = f"burst-{n}"
        event["article"].pop("translation_of", None)
        app.send_task("syndication.ingest", (event,))
    worker = worker_factory(settings, "-c", "1")
    wait_until(lambda: store.feed_size("vi/all") == 40, message="burst applied")
    wait_until(lambda: not store.dirty_feeds(), message="renders done")
    renders = sum(
        1 for line in worker.output().splitlines() if "feed.rendered" in line and '"vi/all"' in line
    )
    applied = [
        float(store.r.hget(store.keys.event_status(f"evt-burst-{n}"), "at")) for n in (0, 39)
    ]
    span = max(applied) - min(applied)
    # A round may start at the first event and then once per interval, and one may follow
    # the last event.
    assert 1 <= renders <= span / RENDER_INTERVAL + 2, (renders, span)
    assert renders < 20, renders
    assert DocumentStore(store).get("/feeds/vi/all.rss") is not None


def test_a_backlog_of_dirty_feeds_is_rendered_in_bounded_rounds(
    settings: Settings, store: Store, worker_factory
) -> None:
    """More dirty feeds of one language than one round takes (a backfill of many bylines):
    a single nudge renders them all, round after round, and every author feed lists its
    article."""
    worker_factory(settings, "-c", "1")
    app = create_app(settings)
    bylines = [f"Tác giả Số {n}" for n in range(150)]
    events = [
        {
            "id": f"evt-byline-{i}",
            "type": "article.published",
            "occurred_at": "2026-11-20T08:00:00+07:00",
            "article": {
                "id": f"byline-{i}-vi",
                "url": f"https://portal.example/vi/news/byline-{i}",
                "language": "vi",
                "title": f"Bài số {i}",
                "summary": "Tóm tắt",
                "content_html": "<p>Nội dung</p>",
                "category": "news",
                "published_at": "2026-11-20T08:00:00+07:00",
                "authors": [{"name": name} for name in bylines[i * 15 : i * 15 + 15]],
            },
        }
        for i in range(10)
    ]
    for event in events:
        app.send_task("syndication.ingest", (event,))
    author_feeds = [f"vi/author/tac-gia-so-{n}" for n in range(150)]
    wait_until(
        lambda: all(s == "applied" for s in store.event_states([e["id"] for e in events])),
        message="bylines applied",
    )
    wait_until(lambda: not store.dirty_feeds(), message="every dirty feed rendered")
    # Mark them all dirty again at once and nudge one round: the rest follow by themselves.
    store.mark_dirty(author_feeds)
    app.send_task("syndication.render_feeds", (["vi/all"],))
    wait_until(lambda: not store.dirty_feeds(), message="the backlog rendered, round by round")
    docs = DocumentStore(store)
    for n in (0, 74, 149):
        body = _doc(docs, f"/feeds/vi/author/tac-gia-so-{n}.rss") or b""
        assert f"byline-{n // 15}".encode() in body, n


def test_a_render_worker_killed_in_a_round_leaves_the_feeds_owed(
    settings: Settings, store: Store, worker_factory
) -> None:
    """SIGKILL of the render worker as soon as its round has claimed the language: the
    feeds stay dirty (their marks are cleared only after the documents are written), and a
    new worker with beat renders them all (its sweep re-queues feeds dirty for 10 s)."""
    worker_factory(settings, "-Q", "ingest", "-c", "1")  # applies; renders nobody
    app = create_app(settings)
    samples = [e for e in load_samples() if e["type"] == "article.published"]
    for event in samples:
        app.send_task("syndication.ingest", (event,))
    wait_until(
        lambda: all(s == "applied" for s in store.event_states([e["id"] for e in samples])),
        message="samples applied",
    )
    owed = set(store.dirty_feeds())
    assert owed and all(f.startswith(("vi/", "en/", "ja/")) for f in owed)

    render = worker_factory(settings, "-Q", "render", "-c", "1")

    def claimed() -> bool:
        return any(k.startswith(b"round:") for k in store.r.hkeys(store.keys.render_times))

    wait_until(claimed, timeout=60, interval=0.001, message="a render round claimed")
    render.kill()
    # Whatever the kill interrupted, nothing owed was forgotten: every feed is either
    # rendered with its articles or still dirty.
    docs = DocumentStore(store)
    still = set(store.dirty_feeds())
    assert all(f in still or docs.get(f"/feeds/{f}.rss") is not None for f in owed)

    worker_factory(settings, "-Q", "render", "-c", "1", "--beat")
    wait_until(lambda: not store.dirty_feeds(), timeout=90, message="the owed feeds rendered")
    vi = _doc(docs, "/feeds/vi/all.rss") or b""
    assert all(
        e["article"]["url"].encode() in vi for e in samples if e["article"]["language"] == "vi"
    )


def test_a_round_nudge_lost_after_its_apply_leaves_the_feeds_owed(
    settings: Settings, store: Store, worker_factory
) -> None:
    """An ingesting process killed between the apply script (which set its language's
    "round asked" flag) and sending the round's message: the next event of the language,
    seeing the flag, asks nothing, yet neither change is lost; the feeds stay dirty and a
    round renders both (the flag expires, and beat's sweep re-queues feeds dirty for 10 s)."""
    config = load_config(settings.config_path)
    vi = [
        e
        for e in load_samples()
        if e["type"] == "article.published" and e["article"]["language"] == "vi"
    ]
    first, second = vi[0], vi[1]
    # Applied here and never nudged: what a process killed right after the apply leaves.
    ingestor = Ingestor(store, feed_indexer(config.feeds), settings.limits)
    assert set(ingestor.ingest(first, source="test").renders())
    assert store.r.exists(store.keys.round_asked("vi"))

    worker_factory(settings, "-c", "1", "--beat")
    create_app(settings).send_task("syndication.ingest", (second,))
    wait_until(lambda: store.event_state(second["id"]) == "applied", message="applied")
    docs = DocumentStore(store)

    def both_rendered() -> bool:
        body = _doc(docs, "/feeds/vi/all.rss") or b""
        urls = (e["article"]["url"].encode() for e in (first, second))
        return all(u in body for u in urls) and not store.dirty_feeds()

    wait_until(both_rendered, timeout=90, message="both changes rendered")
