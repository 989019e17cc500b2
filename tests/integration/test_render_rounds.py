"""Render rounds on real Redis: a round renders what each feed renders alone, translations
come and go, metas and documents an older release wrote still render and serve, rounds are
spaced per language, and dirty marks are cleared only when nothing changed meanwhile."""

from __future__ import annotations

import gzip
import time
from typing import Any, cast

import pytest
from lxml import etree

from feeds.catalog import FeedRef, FeedsConfig, feed_indexer
from feeds.storage import FeedStorage, Refresh, refresh_feeds
from syndication.config import load_config
from syndication.config.feeds import FeedFormat
from syndication.ingest import Ingestor
from syndication.settings import Settings
from syndication.store import Store
from syndication.store_scripts import DIRTY_MARK_UNIT

ATOM = "{http://www.w3.org/2005/Atom}"
LEAD = "https://images.portal.example/hue-2001/lead.jpg"
FORMATS: tuple[FeedFormat, ...] = ("rss", "atom", "json")


def publish(
    aid: str,
    lang: str,
    title: str,
    *,
    minute: int = 0,
    author: str = "Nguyễn Thị Hương",
    category: str = "heritage",
    translation_of: str | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """A publish event of article ``aid`` written in ``lang``."""
    article: dict[str, Any] = {
        "id": aid,
        "url": f"https://portal.example/{lang}/{aid}",
        "language": lang,
        "title": title,
        "summary": f"{title} — tóm tắt",
        "content_html": f"<p>{title}</p>",
        "category": category,
        "tags": ["unesco"],
        "authors": [{"name": author}],
        "published_at": f"2026-11-20T08:{minute:02d}:00+07:00",
    }
    if translation_of:
        article["translation_of"] = translation_of
    if image:
        article["image"] = {"url": image, "caption": "Lễ tế Nam Giao", "type": "image/jpeg"}
    return {
        "id": f"evt-{aid}",
        "type": "article.published",
        "occurred_at": article["published_at"],
        "article": article,
    }


def unpublish(aid: str) -> dict[str, Any]:
    return {
        "id": f"evt-{aid}-gone",
        "type": "article.unpublished",
        "occurred_at": "2026-11-21T00:00:00+00:00",
        "article": {"id": aid},
    }


HUE = [
    publish("hue-vi", "vi", "Đại Nội Huế rực rỡ mùa lễ hội", minute=30, image=LEAD),
    publish("hue-en", "en", "Hue's Imperial City glows", minute=31, translation_of="hue-vi"),
    publish("hue-ja", "ja", "フエ王宮、祭りの季節に輝く", minute=32, translation_of="hue-vi"),
    publish("pho-vi", "vi", "Phở Hà Nội sáng sớm", minute=10, author="Trần Văn Bình"),
    publish("hoian-vi", "vi", "Hội An về đêm", minute=20, category="people"),
]


@pytest.fixture
def feeds(settings: Settings) -> FeedsConfig:
    return load_config(settings.config_path).feeds


def apply(
    store: Store, settings: Settings, feeds: FeedsConfig, events: list[dict[str, Any]], **kw: Any
) -> None:
    ingestor = Ingestor(store, feed_indexer(feeds), settings.limits)
    for event in events:
        assert ingestor.ingest(event, source="test", **kw).status == "applied"


def bodies(storage: FeedStorage, refs: list[FeedRef]) -> dict[str, bytes]:
    out = {}
    for ref in refs:
        for fmt in FORMATS:
            doc = storage.get(ref.path(fmt))
            assert doc is not None, ref.path(fmt)
            out[ref.path(fmt)] = doc.body
    return out


def rss_item(body: bytes, url: str) -> Any:
    for item in etree.fromstring(body).iter("item"):
        if item.findtext("link") == url:
            return item
    raise AssertionError(f"no item links {url}")


def translations(body: bytes, url: str) -> dict[str, str]:
    """The ``hreflang`` links of the RSS item of ``url``."""
    links = rss_item(body, url).findall(f"{ATOM}link")
    return {x.get("hreflang"): x.get("href") for x in links if x.get("rel") == "alternate"}


def test_a_round_renders_what_each_feed_renders_alone(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """vi/all, its category, tag and author feeds rendered in one round give the same bytes
    as each rendered alone (by another process, with no shared caches) at the same time."""
    apply(store, settings, feeds, HUE)
    refs = [FeedRef.from_id(f) for f in store.dirty_feeds() if f.startswith("vi/")]
    ids = {r.id for r in refs}
    assert {"vi/all", "vi/category/heritage", "vi/category/people", "vi/tag/unesco"} <= ids
    assert {"vi/author/nguyen-thi-huong", "vi/author/tran-van-binh"} <= ids
    now = time.time()
    reports = FeedStorage(store).render_many(refs, feeds, now)
    assert [r.feed_id for r in reports] == [r.id for r in refs]
    in_round = bodies(FeedStorage(store), refs)
    counts = {r.feed_id: r.items for r in reports}
    assert counts["vi/all"] == 3 and counts["vi/author/tran-van-binh"] == 1
    alone = FeedStorage(store)
    for ref in refs:
        report = alone.render(ref, feeds, now)
        assert report.items == counts[ref.id] and report.changed == ()
    assert bodies(FeedStorage(store), refs) == in_round
    assert translations(in_round["/feeds/vi/all.rss"], "https://portal.example/vi/hue-vi") == {
        "en": "https://portal.example/en/hue-en",
        "ja": "https://portal.example/ja/hue-ja",
    }


def test_an_unpublished_translation_drops_out_of_the_links(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """An item links its live translations by language; after one is unpublished the next
    render links only the others (in every format)."""
    apply(store, settings, feeds, HUE)
    storage = FeedStorage(store)
    vi_all, en_all = FeedRef("vi", "all"), FeedRef("en", "all")
    storage.render_many([vi_all, en_all], feeds, time.time())
    hue_vi, hue_en = "https://portal.example/vi/hue-vi", "https://portal.example/en/hue-en"
    ja = "https://portal.example/ja/hue-ja"
    rss = storage.get(vi_all.path("rss"))
    assert rss is not None and translations(rss.body, hue_vi) == {"en": hue_en, "ja": ja}
    en = storage.get(en_all.path("rss"))
    assert en is not None and translations(en.body, hue_en) == {"vi": hue_vi, "ja": ja}
    apply(store, settings, feeds, [unpublish("hue-ja")])
    report = storage.render(vi_all, feeds, time.time())
    assert set(report.changed) == {vi_all.path(f) for f in FORMATS}
    rss = storage.get(vi_all.path("rss"))
    assert rss is not None and translations(rss.body, hue_vi) == {"en": hue_en}
    atom, feed = storage.get(vi_all.path("atom")), storage.get(vi_all.path("json"))
    assert atom is not None and feed is not None
    assert ja.encode() not in atom.body and ja.encode() not in feed.body
    assert hue_en.encode() in atom.body and hue_en.encode() in feed.body


@pytest.mark.parametrize("older", [("hue-vi",), ("hue-vi", "hue-en", "hue-ja", "pho-vi")])
def test_metas_of_an_older_release_render_as_complete_ones(
    store: Store, settings: Settings, feeds: FeedsConfig, older: tuple[str, ...]
) -> None:
    """Metas without ``story`` and ``image`` (an older release wrote them) still give an
    item its translation links and its enclosure length from the fetched lead image."""
    apply(store, settings, feeds, HUE)
    store.r.hset(store.keys.media_for_url(LEAD), mapping={"data": b"\xff\xd8" * 6000})
    refs = [FeedRef("vi", "all"), FeedRef("vi", "category", "heritage"), FeedRef("en", "all")]
    now = time.time()
    FeedStorage(store).render_many(refs, feeds, now)
    complete = bodies(FeedStorage(store), refs)
    item = rss_item(complete["/feeds/vi/all.rss"], "https://portal.example/vi/hue-vi")
    assert item.find("enclosure").get("length") == "12000"
    assert set(translations(complete["/feeds/vi/all.rss"], item.findtext("link"))) == {"en", "ja"}
    for aid in older:
        store.r.hdel(store.keys.article_meta(aid), "story", "image")
        assert store.r.hmget(store.keys.article_meta(aid), "story", "image") == [None, None]
    reports = FeedStorage(store).render_many(refs, feeds, now)
    assert all(r.changed == () for r in reports)
    assert bodies(FeedStorage(store), refs) == complete


def test_a_document_of_an_older_release_is_served_then_replaced(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """An uncompressed document (``body`` field) is served as it was, gzip included; the next
    render stores it compressed and drops the old field."""
    path, key = "/feeds/vi/all.rss", store.keys.rendered("/feeds/vi/all.rss")
    old = "<rss><channel><title>Cổng thông tin Việt Nam</title></channel></rss>".encode()
    store.r.hset(
        key,
        mapping={
            "body": old,
            "etag": '"0123456789abcdef0123456789abcdef"',
            "last_modified": 1_700_000_000.0,
            "content_type": "application/rss+xml; charset=utf-8",
            "items": 0,
            "rendered_at": 1_700_000_000.0,
        },
    )
    storage = FeedStorage(store)
    doc = storage.get(path)
    assert doc is not None and doc.body == old and gzip.decompress(doc.gzip) == old
    assert (doc.etag, doc.last_modified, doc.items) == (
        '"0123456789abcdef0123456789abcdef"',
        1.7e9,
        0,
    )
    apply(store, settings, feeds, HUE)
    report = storage.render(FeedRef("vi", "all"), feeds, time.time())
    assert path in report.changed
    stored = cast(dict[bytes, bytes], store.r.hgetall(key))
    assert b"body" not in stored and b"gzip" in stored
    new = storage.get(path)
    assert new is not None and new.body != old and b"hue-vi" in new.body
    assert gzip.decompress(stored[b"gzip"]) == new.body and int(stored[b"size"]) == len(new.body)


def test_an_older_release_document_with_the_same_bytes_is_rewritten_compressed(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """After an upgrade a render that gives the very same bytes still replaces the
    uncompressed copy, under the same ETag."""
    apply(store, settings, feeds, HUE)
    storage = FeedStorage(store)
    path, key = "/feeds/vi/all.rss", store.keys.rendered("/feeds/vi/all.rss")
    now = time.time()
    storage.render(FeedRef("vi", "all"), feeds, now)
    current = storage.get(path)
    assert current is not None
    store.r.hdel(key, "gzip", "format")
    store.r.hset(key, "body", current.body)  # as the older release kept it
    storage.render(FeedRef("vi", "all"), feeds, now + 1)
    stored = cast(dict[bytes, bytes], store.r.hgetall(key))
    assert b"body" not in stored and gzip.decompress(stored[b"gzip"]) == current.body
    # Same bytes, same strong ETag: clients revalidating with If-None-Match still get a 304.
    assert stored[b"etag"].decode() == current.etag


def test_rounds_are_spaced_per_language(store: Store) -> None:
    """Within the interval a language's round is refused with the wait left; another
    language is claimable; a refusal does not push the next round back."""
    storage = FeedStorage(store)
    assert storage.claim_rounds(["vi"], 1000.0, 0.5) == (["vi"], {})
    claimed, early = storage.claim_rounds(["vi", "en"], 1000.2, 0.5)
    assert claimed == ["en"] and set(early) == {"vi"}
    assert 0 < early["vi"] <= 0.5 and early["vi"] == pytest.approx(0.3)
    claimed, early = storage.claim_rounds(["vi", "en"], 1000.4, 0.5)
    assert claimed == [] and early["vi"] == pytest.approx(0.1) and early["en"] == pytest.approx(0.3)
    # A claimer whose clock is behind waits at most one interval before asking again.
    claimed, early = storage.claim_rounds(["en"], 990.0, 0.5)
    assert claimed == [] and early["en"] == pytest.approx(0.5)
    assert storage.claim_rounds(["vi"], 1000.5, 0.5) == (["vi"], {})
    assert storage.claim_rounds(["en", "ja"], 1000.7, 0.5) == (["en", "ja"], {})
    assert storage.claim_rounds([], 1000.8, 0.5) == ([], {})


def test_dirty_marks_are_cleared_only_when_nothing_changed_meanwhile(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """``refresh_feeds`` clears the marks it rendered; a change applied between a round's
    read and its finish (``refresh_feeds`` is render_many then finish_dirty) keeps its
    feeds dirty and names them for another render."""
    apply(store, settings, feeds, HUE[:2], now=1_800_000_000.0)
    dirty = store.dirty_feeds()
    assert "vi/all" in dirty and "en/all" in dirty
    done = refresh_feeds(FeedStorage(store), feeds, dirty, time.time())
    assert done.again == () and store.dirty_feeds() == []
    assert {r.dirty_mark for r in done.reports} == {1_800_000_000 * DIRTY_MARK_UNIT}

    apply(store, settings, feeds, [HUE[3]], now=1_800_000_100.0)  # pho-vi
    refs = [FeedRef.from_id(f) for f in store.dirty_feeds()]
    reports = FeedStorage(store).render_many(refs, feeds, time.time())
    marks = {r.feed_id: r.dirty_mark for r in reports if r.dirty_mark is not None}
    assert set(marks) == {r.id for r in refs}
    assert set(marks.values()) == {1_800_000_100 * DIRTY_MARK_UNIT}
    apply(store, settings, feeds, [HUE[4]], now=1_800_000_200.0)  # hoian-vi, meanwhile
    again = store.finish_dirty(marks)
    # The round's feeds hoian-vi touched; not pho-vi's own author and category feeds.
    assert set(again) == {"vi/all", "vi/tag/unesco"}
    newly = {"vi/category/people", "vi/author/nguyen-thi-huong"}  # not in the round at all
    assert set(store.dirty_feeds()) == set(again) | newly
    assert store.finish_dirty({"vi/author/tran-van-binh": 1.0}) == []  # clean: nothing owed
    last = refresh_feeds(FeedStorage(store), feeds, store.dirty_feeds(), time.time())
    assert last.again == () and store.dirty_feeds() == []


def test_every_change_moves_a_dirty_mark_on_even_at_the_same_time(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """Two changes stamped with the same time (two workers, one clock tick), or a change from
    a clock that is behind, still give the feed a new mark: a round that read the first
    mark renders the feed again instead of clearing it. Marks written in seconds by the
    previous release are cleared like any other."""
    apply(store, settings, feeds, [HUE[3]], now=1_800_000_000.0)  # pho-vi
    refs = [FeedRef.from_id(f) for f in store.dirty_feeds()]
    marks = {
        r.feed_id: r.dirty_mark
        for r in FeedStorage(store).render_many(refs, feeds, time.time())
        if r.dirty_mark is not None
    }
    assert set(marks.values()) == {1_800_000_000 * DIRTY_MARK_UNIT}
    same_time = publish("pho-vi-2", "vi", "Phở gánh", author="Trần Văn Bình", minute=11)
    apply(store, settings, feeds, [same_time], now=1_800_000_000.0)
    assert set(store.finish_dirty(marks)) == {r.id for r in refs}
    scored = store.r.zrange(store.keys.dirty_feeds, 0, -1, withscores=True)
    marks = {bytes(f).decode(): float(score) for f, score in scored}
    assert set(marks.values()) == {1_800_000_000 * DIRTY_MARK_UNIT + 1}
    behind = publish("pho-vi-3", "vi", "Bún chả", author="Trần Văn Bình", minute=12)
    apply(store, settings, feeds, [behind], now=1_700_000_000.0)  # a clock far behind
    assert set(store.finish_dirty(marks)) == set(marks)
    # A mark of the previous release (seconds, with a fraction) clears when nothing moved it.
    store.r.zadd(store.keys.dirty_feeds, {"vi/all": 1_800_000_300.25})
    refs = [FeedRef.from_id(f) for f in store.dirty_feeds()]
    done = refresh_feeds(FeedStorage(store), feeds, [r.id for r in refs], time.time())
    assert done.again == () and store.dirty_feeds() == []


def test_empty_rounds_render_without_error(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """No feeds, feeds with no articles, a feed whose only article was unpublished, and an id
    that names no feed: every round completes."""
    storage = FeedStorage(store)
    assert refresh_feeds(storage, feeds, [], time.time()) == Refresh((), ())
    empty = refresh_feeds(storage, feeds, ["vi/all", "ja/category/heritage"], time.time())
    assert [r.items for r in empty.reports] == [0, 0] and empty.again == ()
    assert storage.get("/feeds/ja/category/heritage.json") is not None
    apply(store, settings, feeds, [HUE[2], unpublish("hue-ja")])
    store.mark_dirty(["not a feed"])
    gone = refresh_feeds(storage, feeds, [*store.dirty_feeds(), "not a feed"], time.time())
    assert {r.feed_id: r.items for r in gone.reports}["ja/all"] == 0
    assert gone.again == () and store.dirty_feeds() == []
    atom = storage.get("/feeds/ja/all.atom")
    assert atom is not None and b"deleted-entry" in atom.body and b"hue-ja" in atom.body


def test_one_event_of_a_burst_asks_its_languages_round(
    store: Store, settings: Settings, feeds: FeedsConfig
) -> None:
    """The first event that dirties a language's feeds asks its round; the next ones, which
    dirty other feeds of it before that round claims the language, do not (the round will
    read them); once it has claimed, the next event asks again. A round lost on its way
    holds new asks back only until its flag expires."""
    ingestor = Ingestor(store, feed_indexer(feeds), settings.limits)

    def rounds(event: dict[str, Any]) -> tuple[dict[str, float], tuple[str, ...]]:
        outcome = ingestor.ingest(event, source="test")
        assert outcome.status == "applied" and outcome.dirtied
        return outcome.renders(), outcome.dirtied

    asked, dirtied = rounds(HUE[0])  # hue-vi
    assert set(asked) == set(dirtied) and "vi/all" in asked
    flag = store.keys.round_asked("vi")
    assert 0 < store.r.pttl(flag) <= 5000
    # pho-vi: newly dirty feeds of its own (author), but vi's round is already asked.
    asked, dirtied = rounds(HUE[3])
    assert asked == {} and "vi/author/tran-van-binh" in dirtied
    asked, _ = rounds(HUE[1])  # hue-en: another language asks its own round
    assert set(asked) and {f.partition("/")[0] for f in asked} == {"en"}
    # The round claims vi (deleting its flag) before it reads the dirty feeds: what is
    # applied from then on asks again.
    assert FeedStorage(store).claim_rounds(["vi"], time.time()) == (["vi"], {})
    assert store.r.exists(flag) == 0
    refresh_feeds(FeedStorage(store), feeds, [f for f in store.dirty_feeds() if f[:2] == "vi"])
    asked, _ = rounds(HUE[4])  # hoian-vi
    assert "vi/all" in asked and "vi/category/people" in asked
    # A round lost on its way: once the flag is gone, the next change asks again.
    store.r.delete(flag)
    store.claim_dirty("vi/all")
    asked, _ = rounds(publish("hue2-vi", "vi", "Huế mưa", minute=40))
    assert "vi/all" in asked


def test_a_round_asks_for_what_it_leaves_only_when_nobody_has(store: Store) -> None:
    """What a round leaves (or finds changed after its read) needs its language's round
    asked once: by whoever asks first after the round's claim."""
    storage = FeedStorage(store)
    assert storage.claim_rounds(["vi", "en"], time.time()) == (["vi", "en"], {})
    assert storage.flag_rounds(["vi", "en", "vi"]) == ["en", "vi"]
    assert storage.flag_rounds(["vi"]) == []  # asked: that round will read it
    assert storage.claim_rounds(["vi"], time.time() + 1) == (["vi"], {})
    assert storage.flag_rounds(["vi", "en"]) == ["vi"]
    assert storage.flag_rounds([]) == []
