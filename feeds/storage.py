"""The shell that renders a feed: load its inputs from Redis, render, store the documents.

A render reads only the feed's newest ``max_items`` ids (a sorted-set range), the articles
(one MGET), their translations (one pipeline) and their cached item fragments (one MGET), so
its cost does not grow with the number of stored articles. Documents are stored with their
gzip body, a strong ETag from the content and the time the bytes last changed. Rendering a
language's ``all`` feed also renders that language's news sitemap (:mod:`feeds.sitemaps`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.client import Pipeline

from feeds.catalog import FeedRef, FeedsConfig, is_feed_enabled
from feeds.documents import CONTENT_TYPES, OPML_PATH, DocumentStore, NewDocument
from feeds.opml import render_opml
from feeds.render import FeedItem, Tombstone, fragment_key, render_feed
from feeds.sitemaps import NewsSitemaps, news_sitemap_path
from syndication.config.search import SitemapsConfig
from syndication.events import Article
from syndication.store import Store, text_of
from syndication.worklist import WorkList

# Cached item fragments expire unless a render uses them again.
FRAGMENT_TTL = 14 * 24 * 3600
# Item fragments kept per process (about 1.5 KB each).
FRAGMENT_CACHE = 6000


@dataclass(frozen=True)
class RenderReport:
    """What one feed render did."""

    feed_id: str
    written: tuple[str, ...]
    changed: tuple[str, ...]
    items: int
    seconds: float


class FeedStorage(DocumentStore):
    """Reads a feed's inputs, renders it, and keeps the documents."""

    def __init__(self, store: Store, *, sitemaps: SitemapsConfig | None = None) -> None:
        super().__init__(store)
        self.store = store
        self._fragments: OrderedDict[str, bytes] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self.websub = WorkList(store, "websub")
        self.export = WorkList(store, "export")
        # Given and enabled: each render of a language's ``all`` feed renders its news sitemap.
        self.sitemaps = (
            NewsSitemaps(self, store, sitemaps)
            if sitemaps is not None and sitemaps.enabled
            else None
        )

    def _remember_fragments(self, fragments: dict[str, bytes]) -> None:
        # Item fragments never change under their key (article version + settings digest), so
        # each process keeps the recently used ones instead of reading them on every render.
        for key, value in fragments.items():
            self._fragments[key] = value
            self._fragments.move_to_end(key)
        while len(self._fragments) > FRAGMENT_CACHE:
            self._fragments.popitem(last=False)

    def owed_by(self, config: FeedsConfig, *, feed: bool = True) -> list[WorkList]:
        """The work a changed document owes: a WebSub ping (feeds, when a hub is configured)
        and a copy in the export folder (when one is configured)."""
        owed = []
        if feed and config.websub_hub:
            owed.append(self.websub)
        if config.export_dir:
            owed.append(self.export)
        return owed

    # --- inputs --------------------------------------------------------------------------
    def load_items(self, ref: FeedRef, limit: int) -> list[FeedItem]:
        """The feed's newest ``limit`` articles with their translations' languages and URLs.

        Reads versions and story memberships, not whole articles: a revision this process
        has parsed before is reused (see :meth:`Store.current_articles`).
        """
        ids = self.store.feed_article_ids(ref.id, limit)
        articles = [a for a, _ in self.store.current_articles(ids) if a is not None]
        stories = sorted({a.story_id for a in articles})
        pipe = self.r.pipeline(transaction=False)
        for story in stories:
            pipe.smembers(self.keys.translations(story))
        members = {
            story: sorted(text_of(m) for m in ids_)
            for story, ids_ in zip(stories, pipe.execute(), strict=True)
        }
        others = sorted({m for ms in members.values() for m in ms} - {a.id for a in articles})
        known: dict[str, Article] = {a.id: a for a in articles}
        live = {a.id for a in articles}
        for other, (article, is_live) in zip(
            others, self.store.current_articles(others), strict=True
        ):
            if article is not None and is_live:
                known[other] = article
                live.add(other)
        sizes = self.fetched_sizes(
            [a.image.url for a in articles if a.image is not None and not a.image.length]
        )
        items = []
        for article in articles:
            translations = tuple(
                (known[m].language, known[m].url)
                for m in members.get(article.story_id, [])
                if m != article.id and m in known and m in live
            )
            length = sizes.get(article.image.url) if article.image is not None else None
            items.append(FeedItem(article, translations, image_length=length))
        return items

    def fetched_sizes(self, urls: Sequence[str]) -> dict[str, int]:
        """Sizes in bytes of the lead images already fetched (for posts), by URL.

        A size once found never changes (an image URL is one image), so each process keeps
        the sizes it has read and asks Redis only for the others.
        """
        unknown = [url for url in urls if url not in self._sizes]
        if unknown:
            pipe = self.r.pipeline(transaction=False)
            for url in unknown:
                pipe.hstrlen(self.keys.media_for_url(url), "data")
            for url, n in zip(unknown, pipe.execute(), strict=True):
                if int(n):
                    self._sizes[url] = int(n)
            if len(self._sizes) > FRAGMENT_CACHE:
                self._sizes.clear()
        return {url: self._sizes[url] for url in urls if url in self._sizes}

    def load_tombstones(self, ref: FeedRef, config: FeedsConfig, now: float) -> list[Tombstone]:
        """Articles removed from the feed within the configured tombstone window."""
        removed = self.store.feed_tombstones(ref.id, since=now - config.tombstone_days * 86400)
        articles = self.store.get_articles([a for a, _ in removed])
        return [
            Tombstone(aid, art.url, datetime.fromtimestamp(when, UTC))
            for (aid, when), art in zip(removed, articles, strict=True)
            if art is not None
        ]

    # --- rendering ------------------------------------------------------------------------
    def render(self, ref: FeedRef, config: FeedsConfig, now: float | None = None) -> RenderReport:
        """Render every configured format of one feed and store the documents."""
        started = time.perf_counter()
        stamp = time.time() if now is None else now
        if not is_feed_enabled(ref, config):
            return RenderReport(ref.id, (), (), 0, 0.0)
        items = self.load_items(ref, config.max_items)
        tombstones = self.load_tombstones(ref, config, stamp)
        wanted = [(fragment_key(i, fmt, config), fmt) for fmt in config.formats for i in items]
        cache: dict[str, bytes] = {k: v for k, _ in wanted if (v := self._fragments.get(k))}
        unknown = [(k, fmt) for k, fmt in wanted if k not in cache]
        if unknown:
            stored = self.r.mget([self.keys.fragment(k, fmt) for k, fmt in unknown])
            cache.update(
                (k, v) for (k, _), v in zip(unknown, stored, strict=True) if isinstance(v, bytes)
            )
        fresh_from = set(cache)
        when = datetime.fromtimestamp(stamp, UTC)
        docs = []
        count = 0
        for fmt in config.formats:
            doc = render_feed(ref, fmt, items, config, when, tombstones, fragment_cache=cache)
            count = doc.item_count
            docs.append(
                NewDocument(ref.path(fmt), doc.body, CONTENT_TYPES[fmt], doc.item_count, doc.title)
            )
        new = {k: v for k, v in cache.items() if k not in fresh_from}
        self._remember_fragments(cache)

        def keep_fragments(pipe: Pipeline) -> None:
            for key, fragment in new.items():
                pipe.set(self.keys.fragment(key, key.split("/")[2]), fragment, ex=FRAGMENT_TTL)
            pipe.hset(self.keys.render_times, ref.id, repr(stamp))

        # The documents, the work they owe and the new fragments in one transaction.
        changed = self.put_many(docs, stamp, owe=self.owed_by(config), also=keep_fragments)
        written = [d.path for d in docs]
        if self.sitemaps is not None and ref.kind == "all":
            # Every publish, update and retraction of the language dirties its ``all`` feed,
            # so its news sitemap follows each of them.
            owed = self.owed_by(config, feed=False)
            if self.sitemaps.render_language(ref.language, config, stamp, owe=owed):
                changed.append(news_sitemap_path(ref.language))
        return RenderReport(
            ref.id, tuple(written), tuple(changed), count, time.perf_counter() - started
        )

    def last_rendered(self, feed_ids: Sequence[str]) -> dict[str, float]:
        """When each feed's last render started (0 for a feed never rendered)."""
        if not feed_ids:
            return {}
        values = self.r.hmget(self.keys.render_times, list(feed_ids))
        return {f: float(v) if v else 0.0 for f, v in zip(feed_ids, values, strict=True)}

    def render_index(
        self, refs: Iterable[FeedRef], config: FeedsConfig, now: float | None = None
    ) -> bool:
        """Render the OPML list of every feed; True when it changed."""
        stamp = time.time() if now is None else now
        # Titles as the rendered feeds have them (author names as written, not slugs).
        titles = {d.path: d.title for d in self.documents() if d.title}
        body = render_opml(
            sorted(set(refs)), config, datetime.fromtimestamp(stamp, UTC), titles=titles
        )
        return self.put(
            OPML_PATH, body, CONTENT_TYPES["opml"], 0, stamp, owe=self.owed_by(config, feed=False)
        )

    def refresh_sitemaps(self, config: FeedsConfig, now: float | None = None) -> list[str]:
        """Re-render the news sitemaps an article aged out of (the periodic sweep); return
        their languages."""
        if self.sitemaps is None:
            return []
        stamp = time.time() if now is None else now
        return self.sitemaps.refresh(config, stamp, owe=self.owed_by(config, feed=False))

    def all_feeds(self, config: FeedsConfig) -> list[FeedRef]:
        """Every enabled feed that has articles or tombstones."""
        refs = []
        for feed_id in self.store.known_feeds():
            try:
                ref = FeedRef.from_id(feed_id)
            except (ValueError, LookupError):
                continue
            if is_feed_enabled(ref, config):
                refs.append(ref)
        return refs


@dataclass(frozen=True)
class Refresh:
    """The outcome of refreshing one dirty feed."""

    report: RenderReport | None
    # The feed changed again while it rendered: another render must follow.
    again: bool


def refresh_feed(
    storage: FeedStorage, config: FeedsConfig, feed_id: str, now: float | None = None
) -> Refresh:
    """Render a dirty feed and clear its mark, unless it changed again meanwhile."""
    seen = storage.store.dirty_since(feed_id)
    if seen is None:
        return Refresh(None, again=False)  # another render already took care of it
    try:
        ref = FeedRef.from_id(feed_id)
    except LookupError:
        storage.store.claim_dirty(feed_id)
        return Refresh(None, again=False)
    report = storage.render(ref, config, now)
    return Refresh(report, again=not storage.store.finish_dirty(feed_id, seen))
