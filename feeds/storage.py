"""The shell that renders feeds: load their inputs from Redis, render, store the documents.

Feeds render together (a render round): one round trip of script calls reads every feed's
newest ``max_items`` ids with their versions, stories and image sizes (:mod:`feeds.inputs`),
one MGET the article revisions and item fragments this process has not seen, and one
transaction writes every document. Nothing read grows with the number of stored articles.
Documents are stored with a strong ETag from the content and the time the bytes last
changed. Rendering a language's ``all`` feed also renders that language's news sitemap
(:mod:`feeds.sitemaps`).
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
from feeds.inputs import FeedReader
from feeds.opml import render_opml
from feeds.render import FeedItem, Tombstone, fragments_wanted, render_feed
from feeds.sitemaps import NewsSitemaps, news_sitemap_path
from syndication.config.search import SitemapsConfig
from syndication.events import Article
from syndication.store import Store, text_of
from syndication.store_scripts import ROUND_ASKED_MS
from syndication.worklist import WorkList

# Cached item fragments expire unless a render uses them again.
FRAGMENT_TTL = 14 * 24 * 3600
# Item fragments kept per process (about 1.5 KB each).
FRAGMENT_CACHE = 6000


# A language renders at most one round of its dirty feeds per this many seconds; a feed that
# has been quiet renders as soon as its event is applied (the leading edge).
RENDER_INTERVAL = 0.05

# KEYS: the render times hash, then each language's "round asked" flag (Keys.round_asked).
# ARGV: now, interval, fields (``round:<language>``, in the flags' order)...
# A field (a language's round) whose time is ``interval`` or more ago is claimed (its time
# becomes now, answer '') and its flag deleted, before the round reads the dirty feeds: an
# event applied after that asks a new round. For another, the answer is the seconds it must
# still wait.
_CLAIM = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local last = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if now - last >= interval then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
    redis.call('DEL', KEYS[i - 1])
    out[#out + 1] = ''
  else
    -- At most one interval, whatever the clocks of the claimers say.
    out[#out + 1] = tostring(math.min(interval, interval - (now - last)))
  end
end
return out
"""


@dataclass(frozen=True)
class RenderReport:
    """What one feed render did."""

    feed_id: str
    written: tuple[str, ...]
    changed: tuple[str, ...]
    items: int
    seconds: float
    # The feed's dirty mark when its inputs were read (None: it was clean).
    dirty_mark: float | None = None


class FeedStorage(DocumentStore):
    """Reads a feed's inputs, renders it, and keeps the documents."""

    def __init__(self, store: Store, *, sitemaps: SitemapsConfig | None = None) -> None:
        super().__init__(store)
        self.store = store
        self._fragments: OrderedDict[str, bytes] = OrderedDict()
        self._feed_items: OrderedDict[tuple[object, ...], FeedItem] = OrderedDict()
        self.reader = FeedReader(store)
        self._claim = store.r.register_script(_CLAIM)
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
    def load(
        self, refs: Sequence[FeedRef], config: FeedsConfig, now: float
    ) -> list[tuple[list[FeedItem], list[Tombstone], float | None]]:
        """Each feed's newest ``max_items`` articles with their translations' languages and
        URLs, its tombstones within the configured window, and its dirty mark as read with
        them (None when it was clean).

        One round trip of script calls reads the versions, stories and image sizes
        (:mod:`feeds.inputs`); article bodies are read, in one more, only for revisions this
        process has not parsed before.
        """
        since = now - config.tombstone_days * 86400
        every = self.reader.read([r.id for r in refs], config.max_items, since)
        if not every:
            return []
        # The round's feeds share one description of each article and story.
        metas = {i.article_id: i for inputs in every for i in inputs.listed}
        others, stories = every[0].others, dict(every[0].stories)
        wanted = [(aid, m.version) for aid, m in metas.items()]
        wanted += [(aid, version) for aid, (version, _) in others.items()]
        parsed = self.store.articles_at(wanted)
        # Listed in a feed's index means live; translations say so in their meta.
        live = set(metas) | {aid for aid, (_, is_live) in others.items() if is_live}
        sizes = {aid: m.image_size for aid, m in metas.items() if m.image_size is not None}
        old = [parsed[aid] for aid, m in metas.items() if not m.story and aid in parsed]
        if old:  # metas written before the story and image were recorded in them
            self._load_older(old, stories, parsed, live, sizes)
        items: dict[str, FeedItem] = {}
        for aid in metas:
            article = parsed.get(aid)
            if article is None:
                continue
            translations = tuple(
                (parsed[m].language, parsed[m].url)
                for m in sorted(stories.get(article.story_id, ()))
                if m != aid and m in parsed and m in live
            )
            items[aid] = self._item(article, translations, sizes.get(aid) or None)
        return [
            (
                [items[i.article_id] for i in inputs.listed if i.article_id in items],
                [
                    Tombstone(aid, parsed[aid].url, datetime.fromtimestamp(when, UTC))
                    for aid, when, _ in inputs.tombstones
                    if aid in parsed
                ],
                inputs.dirty_mark,
            )
            for inputs in every
        ]

    def _item(
        self, article: Article, translations: tuple[tuple[str, str], ...], length: int | None
    ) -> FeedItem:
        # The same item as in the last rounds (its fragment keys computed once), or a new one.
        ident = (article.id, article.version, translations, length)
        item = self._feed_items.get(ident)
        if item is None:
            item = self._feed_items[ident] = FeedItem(article, translations, image_length=length)
            if len(self._feed_items) > FRAGMENT_CACHE:
                self._feed_items.popitem(last=False)
        else:
            self._feed_items.move_to_end(ident)
        return item

    def _load_older(
        self,
        articles: Sequence[Article],
        stories: dict[str, tuple[str, ...]],
        parsed: dict[str, Article],
        live: set[str],
        sizes: dict[str, int],
    ) -> None:
        """Complete :meth:`load`'s inputs for articles whose meta has no story or image."""
        missing = sorted({a.story_id for a in articles} - set(stories))
        pipe = self.r.pipeline(transaction=False)
        for story in missing:
            pipe.smembers(self.keys.translations(story))
        for story, ids in zip(missing, pipe.execute(), strict=True):
            stories[story] = tuple(text_of(m) for m in ids)
        others = sorted({m for s in missing for m in stories[s]} - set(parsed))
        for other, (article, is_live) in zip(
            others, self.store.current_articles(others), strict=True
        ):
            if article is not None and is_live:
                parsed[other] = article
                live.add(other)
        images = {a.id: a.image.url for a in articles if a.image is not None}
        fetched = self.fetched_sizes(list(images.values()))
        sizes.update((aid, fetched[url]) for aid, url in images.items() if url in fetched)

    def fetched_sizes(self, urls: Sequence[str]) -> dict[str, int]:
        """Sizes in bytes of the lead images already fetched (for posts), by URL."""
        pipe = self.r.pipeline(transaction=False)
        for url in urls:
            pipe.hstrlen(self.keys.media_for_url(url), "data")
        return {url: int(n) for url, n in zip(urls, pipe.execute(), strict=True) if int(n)}

    # --- rendering ------------------------------------------------------------------------
    def render(self, ref: FeedRef, config: FeedsConfig, now: float | None = None) -> RenderReport:
        """Render every configured format of one feed and store the documents."""
        return self.render_many([ref], config, now)[0]

    def render_many(
        self, refs: Sequence[FeedRef], config: FeedsConfig, now: float | None = None
    ) -> list[RenderReport]:
        """Render every configured format of several feeds and store the documents.

        The feeds share their reads (one round trip for every feed's inputs, one for the
        fragments this process lacks) and their write (one transaction); each report's
        ``seconds`` is its feed's share of the whole.
        """
        started = time.perf_counter()
        stamp = time.time() if now is None else now
        enabled = [r for r in refs if is_feed_enabled(r, config)]
        if not enabled:
            return [RenderReport(r.id, (), (), 0, 0.0) for r in refs]
        loaded = dict(zip(enabled, self.load(enabled, config, stamp), strict=True))
        # Feeds of a round share item objects (see load): each item's keys once.
        unique = {id(i): i for items, _, _ in loaded.values() for i in items}.values()
        wanted = fragments_wanted(unique, config.formats, config)
        cache: dict[str, bytes] = {k: v for k, _ in wanted if (v := self._fragments.get(k))}
        unknown = [(k, fmt) for k, fmt in wanted if k not in cache]
        if unknown:
            stored = self.r.mget([self.keys.fragment(k, fmt) for k, fmt in unknown])
            cache.update(
                (k, v) for (k, _), v in zip(unknown, stored, strict=True) if isinstance(v, bytes)
            )
        fresh_from = set(cache)
        when = datetime.fromtimestamp(stamp, UTC)
        docs: dict[FeedRef, list[NewDocument]] = {}
        for ref, (items, tombstones, _) in loaded.items():
            docs[ref] = []
            for fmt in config.formats:
                doc = render_feed(ref, fmt, items, config, when, tombstones, fragment_cache=cache)
                docs[ref].append(
                    NewDocument(
                        ref.path(fmt), doc.body, CONTENT_TYPES[fmt], doc.item_count, doc.title
                    )
                )
        new = {k: v for k, v in cache.items() if k not in fresh_from}
        self._remember_fragments(cache)

        def keep_fragments(pipe: Pipeline) -> None:
            for key, fragment in new.items():
                pipe.set(self.keys.fragment(key, key.split("/")[2]), fragment, ex=FRAGMENT_TTL)
            if loaded:
                pipe.hset(self.keys.render_times, mapping={r.id: repr(stamp) for r in loaded})

        # The documents, the work they owe and the new fragments in one transaction.
        every = [d for ds in docs.values() for d in ds]
        changed = set(self.put_many(every, stamp, owe=self.owed_by(config), also=keep_fragments))
        share = (time.perf_counter() - started) / max(1, len(loaded))
        reports = {}
        for ref, ds in docs.items():
            written = tuple(d.path for d in ds)
            moved = [p for p in written if p in changed]
            if self.sitemaps is not None and ref.kind == "all":
                # Every publish, update and retraction of the language dirties its ``all``
                # feed, so its news sitemap follows each of them.
                owed = self.owed_by(config, feed=False)
                if self.sitemaps.render_language(ref.language, config, stamp, owe=owed):
                    moved.append(news_sitemap_path(ref.language))
            count = ds[-1].items if ds else 0
            mark = loaded[ref][2]
            reports[ref] = RenderReport(ref.id, written, tuple(moved), count, share, mark)
        return [reports.get(r) or RenderReport(r.id, (), (), 0, 0.0) for r in refs]

    def claim_rounds(
        self, languages: Sequence[str], now: float, interval: float = RENDER_INTERVAL
    ) -> tuple[list[str], dict[str, float]]:
        """Claim a render round for each language whose last round started at least
        ``interval`` ago, atomically (its round time becomes ``now``); return those, and
        for the others the seconds left until their next round may start."""
        if not languages:
            return [], {}
        fields = [f"round:{language}" for language in languages]
        flags = [self.keys.round_asked(language) for language in languages]
        waits = self._claim(
            keys=[self.keys.render_times, *flags], args=[repr(now), interval, *fields]
        )
        claimed = [lang for lang, w in zip(languages, waits, strict=True) if not w]
        early = {lang: float(w) for lang, w in zip(languages, waits, strict=True) if w}
        return claimed, early

    def flag_rounds(self, languages: Iterable[str]) -> list[str]:
        """Of ``languages``, those whose round nobody has asked since their last claim:
        their "round asked" flag is set now, and the caller asks their rounds. For the
        others a round already asked will read their dirty feeds."""
        wanted = sorted(set(languages))
        if not wanted:
            return []
        pipe = self.r.pipeline(transaction=False)
        for language in wanted:
            pipe.set(self.keys.round_asked(language), 1, nx=True, px=ROUND_ASKED_MS)
        return [lang for lang, set_ in zip(wanted, pipe.execute(), strict=True) if set_]

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
    """The outcome of refreshing dirty feeds."""

    # One per feed.
    reports: tuple[RenderReport, ...]
    # Feeds that changed again while they rendered: another render must follow.
    again: tuple[str, ...]


def refresh_feeds(
    storage: FeedStorage, config: FeedsConfig, feed_ids: Sequence[str], now: float | None = None
) -> Refresh:
    """Render feeds together and clear their dirty marks, except where a feed changed again
    after its inputs were read (the mark is read in the same atomic step as the inputs)."""
    refs = []
    for feed_id in feed_ids:
        try:
            refs.append(FeedRef.from_id(feed_id))
        except (ValueError, LookupError):
            storage.store.claim_dirty(feed_id)
    reports = storage.render_many(refs, config, now)
    marks = {r.feed_id: r.dirty_mark for r in reports if r.dirty_mark is not None}
    return Refresh(tuple(reports), tuple(storage.store.finish_dirty(marks)))
