"""Google News sitemaps: one per language (``/sitemaps/{lang}/news.xml``) and their index
(``/sitemap.xml``), stored as documents like the feeds.

A news sitemap lists the language's articles published in the last two days, newest first,
at most 1,000 (Google's limits), each with ``news:publication`` (name and language),
``news:publication_date`` and ``news:title``. It is rendered whenever the language's ``all``
feed is (every publish, update and retraction of that language marks that feed dirty), so a
retraction leaves it at once; the periodic sweep re-renders a sitemap when one of its articles
has aged past the two days.

The rendering functions are pure; :class:`NewsSitemaps` is the shell that reads the feed
index and the articles from Redis and stores the documents. Each article's ``<url>`` element
is cached per revision and read with the others in one script call, so a render costs a few
milliseconds, not up to 1,000 article bodies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import langcodes
from lxml import etree

from feeds.documents import DocumentStore
from syndication.config.feeds import FeedsConfig
from syndication.config.search import SitemapsConfig
from syndication.store import Store, text_of
from syndication.worklist import WorkList

__all__ = [
    "CONTENT_TYPE",
    "NEWS_LIMIT",
    "NEWS_WINDOW",
    "SITEMAP_INDEX_PATH",
    "NewsEntry",
    "NewsSitemaps",
    "assemble_news_sitemap",
    "is_sitemap_enabled",
    "is_sitemap_path",
    "news_language",
    "news_sitemap_path",
    "news_url_fragment",
    "render_news_sitemap",
    "render_sitemap_index",
    "sitemap_language",
    "w3c_datetime",
]

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
CONTENT_TYPE = "application/xml; charset=utf-8"
SITEMAP_INDEX_PATH = "/sitemap.xml"
# Google News reads articles published in the last two days, at most 1,000 per sitemap.
NEWS_WINDOW = 2 * 86400.0
NEWS_LIMIT = 1000

_SM = "{" + SITEMAP_NS + "}"
_NEWS = "{" + NEWS_NS + "}"
_NEWS_PATH = re.compile(r"/sitemaps/(?P<lang>[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*)/news\.xml")
# Cached entries outlive the window a little, then expire: no sitemap needs them after it.
_ENTRY_TTL = int(NEWS_WINDOW) + 3600


# --- paths (pure) -----------------------------------------------------------------------------
def news_sitemap_path(language: str) -> str:
    """Where a language's news sitemap is served: ``/sitemaps/vi/news.xml``."""
    return f"/sitemaps/{language}/news.xml"


def sitemap_language(path: str) -> str | None:
    """The language of a news sitemap path, or None when ``path`` is not one."""
    match = _NEWS_PATH.fullmatch(path)
    return match.group("lang") if match else None


def is_sitemap_path(path: str) -> bool:
    """Whether ``path`` is the sitemap index or a news sitemap (by shape, not by config)."""
    return path == SITEMAP_INDEX_PATH or sitemap_language(path) is not None


def is_sitemap_enabled(path: str, config: SitemapsConfig, feeds: FeedsConfig) -> bool:
    """Whether config serves the sitemap at ``path``: sitemaps are on and, when config lists
    languages, the news sitemap's language is one of them."""
    if not config.enabled or not is_sitemap_path(path):
        return False
    language = sitemap_language(path)
    return not (language and feeds.languages and language not in feeds.languages)


# --- rendering (pure) -------------------------------------------------------------------------
@dataclass(frozen=True)
class NewsEntry:
    """One article as a news sitemap lists it."""

    url: str
    title: str
    published: datetime


def news_language(tag: str) -> str:
    """The ``news:language`` Google wants for a BCP 47 tag: the ISO 639 code (``vi``, ``en``,
    ``fil``), except Chinese: ``zh-tw`` for Traditional script, ``zh-cn`` for Simplified."""
    language = langcodes.Language.get(tag)
    code = (language.language or "und").lower()
    if code == "zh":
        # zh-TW, zh-HK and zh-Hant all maximize to the Traditional script.
        return "zh-tw" if language.maximize().script == "Hant" else "zh-cn"
    return code


def w3c_datetime(moment: datetime) -> str:
    """A W3C Datetime (``2026-11-20T08:00:00+07:00``), in the offset it was given with."""
    if moment.tzinfo is None:
        raise ValueError("moment: naive datetime (a time zone is required)")
    return moment.isoformat(timespec="seconds")


def _xml(root: etree._Element) -> bytes:
    body: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return body


_URLSET_OPEN = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<urlset xmlns="{SITEMAP_NS}" xmlns:news="{NEWS_NS}">\n'
).encode()
_URLSET_CLOSE = b"</urlset>\n"
# Text is already XML-legal (events.py removes illegal characters); escaping the markup
# characters is all that is left. A carriage return is escaped too, or parsers would read it
# back as a line feed.
_ESCAPES = {"\r": "&#13;"}


def _text(value: str) -> str:
    return escape(value, _ESCAPES)


def news_url_fragment(entry: NewsEntry, *, publication: str, language: str) -> bytes:
    """One article's ``<url>`` element of a news sitemap (cached per article revision)."""
    return (
        "  <url>\n"
        f"    <loc>{_text(entry.url)}</loc>\n"
        "    <news:news>\n"
        "      <news:publication>\n"
        f"        <news:name>{_text(publication)}</news:name>\n"
        f"        <news:language>{_text(language)}</news:language>\n"
        "      </news:publication>\n"
        f"      <news:publication_date>{w3c_datetime(entry.published)}</news:publication_date>\n"
        f"      <news:title>{_text(entry.title)}</news:title>\n"
        "    </news:news>\n"
        "  </url>\n"
    ).encode()


def assemble_news_sitemap(fragments: Iterable[bytes]) -> bytes:
    """A news sitemap made of ``<url>`` fragments, in order."""
    return _URLSET_OPEN + b"".join(fragments) + _URLSET_CLOSE


def render_news_sitemap(entries: Sequence[NewsEntry], *, publication: str, language: str) -> bytes:
    """A news sitemap (``urlset`` with the ``news:`` extension) listing ``entries`` in order.

    ``language`` is the ``news:language`` code (see :func:`news_language`).
    """
    return assemble_news_sitemap(
        news_url_fragment(e, publication=publication, language=language) for e in entries
    )


def render_sitemap_index(sitemaps: Sequence[tuple[str, datetime]]) -> bytes:
    """A sitemap index listing each (absolute URL, last modified) in order."""
    root = etree.Element(_SM + "sitemapindex", nsmap={None: SITEMAP_NS})
    for loc, modified in sitemaps:
        sitemap = etree.SubElement(root, _SM + "sitemap")
        etree.SubElement(sitemap, _SM + "loc").text = loc
        etree.SubElement(sitemap, _SM + "lastmod").text = w3c_datetime(modified)
    return _xml(root)


# --- the shell --------------------------------------------------------------------------------
# KEYS: the language's ``all`` feed index. ARGV: lowest publish time, limit, article meta key
# prefix, fragment key prefix, fragment key suffix. Returns (id, fragment key, cached fragment
# or "") per article, newest first: one round trip instead of one HGET per article.
_READ_FRAGMENTS = """
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local version = redis.call('HGET', ARGV[3] .. id, 'version') or ''
  local key = ARGV[4] .. id .. '/' .. version .. ARGV[5]
  table.insert(out, id)
  table.insert(out, key)
  table.insert(out, redis.call('GET', key) or '')
end
return out
"""


class NewsSitemaps:
    """Renders and stores the news sitemaps and the sitemap index."""

    def __init__(self, documents: DocumentStore, store: Store, config: SitemapsConfig) -> None:
        self.documents = documents
        self.store = store
        self.r = store.r
        self.keys = store.keys
        self.config = config
        self._read = store.r.register_script(_READ_FRAGMENTS)

    def publication(self, language: str, feeds: FeedsConfig) -> str:
        """The publication name Google News knows the language's edition by."""
        return self.config.publication_names.get(language) or feeds.site_name

    def _index(self, language: str) -> str:
        # The language's ``all`` feed: every live article of the language, by publish time.
        return self.keys.feed_index(f"{language}/all")

    def load_fragments(self, language: str, feeds: FeedsConfig, now: float) -> list[bytes]:
        """The ``<url>`` fragments of the language's articles published since two days before
        ``now``, newest first: cached ones in one script call, the others rendered (and
        cached) from their articles."""
        publication = self.publication(language, feeds)
        code = news_language(language)
        # The edition's name and code are inside each fragment: a new name is a new cache key.
        digest = hashlib.sha1(f"{publication}\x1f{code}".encode(), usedforsecurity=False)
        reply = self._read(
            keys=[self._index(language)],
            args=[
                repr(now - NEWS_WINDOW),
                NEWS_LIMIT,
                self.keys.article_meta(""),
                self.keys.fragment("", "news"),
                "/" + digest.hexdigest()[:12],
            ],
        )
        ids = [text_of(reply[i]) for i in range(0, len(reply), 3)]
        keys = [text_of(reply[i + 1]) for i in range(0, len(reply), 3)]
        fragments: dict[str, bytes] = {
            aid: cached
            for aid, cached in zip(
                ids, (reply[i + 2] for i in range(0, len(reply), 3)), strict=True
            )
            if isinstance(cached, bytes) and cached
        }
        missing = [(aid, key) for aid, key in zip(ids, keys, strict=True) if aid not in fragments]
        if missing:
            articles = self.store.get_articles([aid for aid, _ in missing])
            pipe = self.r.pipeline(transaction=False)
            for (aid, key), article in zip(missing, articles, strict=True):
                if article is None:
                    continue
                entry = NewsEntry(article.url, article.title, article.published_at)
                fragment = news_url_fragment(entry, publication=publication, language=code)
                fragments[aid] = fragment
                pipe.set(key, fragment, ex=_ENTRY_TTL)
            pipe.execute()
        return [fragments[aid] for aid in ids if aid in fragments]

    def render_language(
        self, language: str, feeds: FeedsConfig, now: float, *, owe: Sequence[WorkList] = ()
    ) -> bool:
        """Render one language's news sitemap (and the index when it changed); True when the
        sitemap's bytes changed. Changed documents are recorded in the ``owe`` work lists."""
        fragments = self.load_fragments(language, feeds, now)
        body = assemble_news_sitemap(fragments)
        self.r.sadd(self.keys.sitemap_languages, language)
        path = news_sitemap_path(language)
        changed = self.documents.put(path, body, CONTENT_TYPE, len(fragments), now, owe=owe)
        if changed:
            self.render_index(feeds, now, owe=owe)
        return changed

    def languages(self, feeds: FeedsConfig) -> list[str]:
        """Every language with a news sitemap, and every configured language."""
        known = {text_of(m) for m in self.r.smembers(self.keys.sitemap_languages)}
        return sorted(known | set(feeds.languages))

    def render_index(self, feeds: FeedsConfig, now: float, *, owe: Sequence[WorkList] = ()) -> bool:
        """Render the sitemap index over every stored news sitemap; True when it changed."""
        langs = sorted(text_of(m) for m in self.r.smembers(self.keys.sitemap_languages))
        pipe = self.r.pipeline(transaction=False)
        for lang in langs:
            pipe.hget(self.keys.rendered(news_sitemap_path(lang)), "last_modified")
        listed = [
            (feeds.base_url + news_sitemap_path(lang), datetime.fromtimestamp(float(when), UTC))
            for lang, when in zip(langs, pipe.execute(), strict=True)
            if when is not None
        ]
        body = render_sitemap_index(listed)
        return self.documents.put(SITEMAP_INDEX_PATH, body, CONTENT_TYPE, len(listed), now, owe=owe)

    def refresh(self, feeds: FeedsConfig, now: float, *, owe: Sequence[WorkList] = ()) -> list[str]:
        """Re-render the sitemaps that an article aged out of since their last render (and
        those never rendered); return their languages. Cheap when nothing aged: one HGET and
        one ZCOUNT per language."""
        langs = self.languages(feeds)
        pipe = self.r.pipeline(transaction=False)
        for lang in langs:
            pipe.hget(self.keys.rendered(news_sitemap_path(lang)), "rendered_at")
        stale: list[str] = []
        for lang, rendered in zip(langs, pipe.execute(), strict=True):
            if rendered is None or self._aged(lang, float(rendered), now):
                stale.append(lang)
        for lang in stale:
            self.render_language(lang, feeds, now, owe=owe)
        return stale

    def _aged(self, language: str, rendered_at: float, now: float) -> bool:
        # Articles whose two days ran out between the last render and now.
        low, high = rendered_at - NEWS_WINDOW, now - NEWS_WINDOW
        return high > low and int(self.r.zcount(self._index(language), f"({low!r}", high)) > 0
