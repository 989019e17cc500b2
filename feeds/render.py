"""RSS 2.0 and Atom 1.0 documents from articles, assembled from per-article fragments.

Rendering a feed with feedgen alone rebuilds every entry on every render, although a burst
of events changes one article and re-renders a dozen feeds it is in. Here each article
revision is serialised once per format (:func:`render_item`, cached under
:func:`fragment_key`), and a document is its header (rendered by feedgen with no entries)
with the cached fragments spliced in before the closing tag (:func:`assemble`).

The fragments are built by feedgen too (``FeedEntry.rss_entry()`` / ``atom_entry()``), with
namespaced elements added through feedgen extensions: ``media:content`` with its
``media:description`` and ``media:credit``, ``dc:creator``, ``atom:link`` translations in
RSS, and RFC 6721 ``at:deleted-entry`` tombstones in Atom. Each entry is serialised inside a
parent that declares the document's namespace prefixes, so it uses the same prefixes as the
header; the copies of those declarations lxml puts on the fragment's start tag are removed,
and the document declares each namespace once, on its root.

Everything here is pure: time comes in as ``now``, and nothing is fetched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.ext.media import MediaEntryExtension, MediaExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds import jsonfeed
from feeds.catalog import (
    FeedFormat,
    FeedRef,
    FeedsConfig,
    article_guid,
    feed_description,
    feed_label,
    feed_title,
    site_url,
)
from feeds.items import FeedItem, RenderedFeed, Tombstone

__all__ = [
    "ATOM_NS",
    "MAX_DOCUMENT_BYTES",
    "MAX_ITEM_BYTES",
    "MEDIA_NS",
    "TOMBSTONE_NS",
    "FeedItem",
    "RenderedFeed",
    "Tombstone",
    "assemble",
    "fragment_key",
    "fragments_wanted",
    "render_feed",
    "render_item",
]

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"

# The XSLT stylesheet that shows RSS and Atom in a browser (``syndication/templates``).
STYLESHEET_PATH = "/feed.xsl"

# Google News' limits: a feed document over 2 MB or an item over 1 MB is not read.
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
MAX_ITEM_BYTES = 1024 * 1024

# Bump when the item markup changes, so cached fragments of the old shape are not reused.
_FRAGMENT_SCHEMA = "1"
_GENERATOR = "syndication"

# The prefixes each document declares on its root (feedgen adds atom and content to RSS).
_RSS_NSMAP = {"atom": ATOM_NS, "content": CONTENT_NS, "dc": DC_NS, "media": MEDIA_NS}
_ATOM_NSMAP = {"dc": DC_NS, "media": MEDIA_NS, "at": TOMBSTONE_NS}


# --- feedgen extensions -------------------------------------------------------------------


class _MediaEntry(MediaEntryExtension):  # type: ignore[misc]
    """feedgen's media extension plus ``media:description`` and ``media:credit``.

    feedgen only writes ``media:content`` attributes; the caption and credit are child
    elements of that ``media:content`` (Media RSS 1.5.1).
    """

    def __init__(self) -> None:
        super().__init__()
        self._caption: str | None = None
        self._credit: str | None = None

    def caption(self, description: str | None, credit: str | None) -> None:
        """Set the text of ``media:description`` and ``media:credit``."""
        self._caption = description
        self._credit = credit

    def extend_atom(self, entry: Any) -> Any:
        entry = super().extend_atom(entry)
        for content in entry.iterchildren(f"{{{MEDIA_NS}}}content"):
            if self._caption:
                etree.SubElement(
                    content, f"{{{MEDIA_NS}}}description", type="plain"
                ).text = self._caption
            if self._credit:
                etree.SubElement(content, f"{{{MEDIA_NS}}}credit").text = self._credit
        return entry

    def extend_rss(self, item: Any) -> Any:
        return self.extend_atom(item)


class _Links(BaseEntryExtension):  # type: ignore[misc]
    """An entry's links: the article, its lead image, and ``hreflang`` translations.

    feedgen 1.0 writes Atom entry links without their attributes (``atom_entry`` reuses the
    loop variable ``link`` for the new element, so ``rel``, ``type`` and ``hreflang`` are
    read from the empty element); an image link then becomes a second bare alternate link,
    which RFC 4287 forbids. So in Atom this extension replaces those links with complete
    ones. In RSS feedgen's ``<link>`` and ``<enclosure>`` are right, and the translations
    are added as ``atom:link`` (feedgen's ``link()`` would make the last alternate link the
    RSS ``<link>``, which must stay the article itself).
    """

    def __init__(self) -> None:
        self._links: tuple[dict[str, str], ...] = ()
        self._translations: tuple[tuple[str, str], ...] = ()

    def set(
        self, links: tuple[dict[str, str], ...], translations: tuple[tuple[str, str], ...]
    ) -> None:
        """Set the Atom links (attribute dicts) and the ``(language, url)`` translations."""
        self._links = links
        self._translations = translations

    def _add_translations(self, entry: Any, tag: str) -> None:
        for language, url in self._translations:
            etree.SubElement(
                entry, tag, rel="alternate", type="text/html", hreflang=language, href=url
            )

    def extend_atom(self, entry: Any) -> Any:
        broken = list(entry.iterchildren("link"))
        position = entry.index(broken[0]) if broken else len(entry)
        for element in broken:
            entry.remove(element)
        for offset, attributes in enumerate(self._links):
            link = etree.Element("link", attributes)
            entry.insert(position + offset, link)
        self._add_translations(entry, "link")
        return entry

    def extend_rss(self, item: Any) -> Any:
        self._add_translations(item, f"{{{ATOM_NS}}}link")
        return item


class _Tombstones(BaseExtension):  # type: ignore[misc]
    """Feed-level extension: declares ``at:`` and writes RFC 6721 ``at:deleted-entry``."""

    def __init__(self) -> None:
        self._tombstones: tuple[tuple[str, str, str], ...] = ()

    def set(self, tombstones: tuple[tuple[str, str, str], ...]) -> None:
        """Set the ``(ref, when, link)`` triples to write."""
        self._tombstones = tombstones

    def extend_ns(self) -> dict[str, str]:
        return {"at": TOMBSTONE_NS}

    def extend_atom(self, feed: Any) -> Any:
        for ref, when, link in self._tombstones:
            deleted = etree.SubElement(feed, f"{{{TOMBSTONE_NS}}}deleted-entry", ref=ref, when=when)
            # feedgen writes the Atom namespace as a plain xmlns attribute, so its elements
            # (and ours) are unqualified in lxml's view and Atom-namespaced in the output.
            etree.SubElement(deleted, "link", rel="alternate", href=link)
        return feed


class _Hub(BaseExtension):  # type: ignore[misc]
    """Feed-level extension: the WebSub ``rel="hub"`` link.

    feedgen's ``link()`` refuses ``rel="hub"`` and writes only the self link into RSS.
    """

    def __init__(self) -> None:
        self._href = ""

    def set(self, href: str) -> None:
        """Set the hub URL."""
        self._href = href

    def extend_atom(self, feed: Any) -> Any:
        etree.SubElement(feed, "link", rel="hub", href=self._href)
        return feed

    def extend_rss(self, feed: Any) -> Any:
        channel = feed.find("channel")
        etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel="hub", href=self._href)
        return feed


# --- items ----------------------------------------------------------------------------------


def _item_settings(config: FeedsConfig) -> str:
    # Only these settings change an item's bytes; the rest (titles, caps, hub) shape the
    # header, so changing them keeps every cached fragment valid.
    return "\x1f".join((_FRAGMENT_SCHEMA, config.base_url, config.content))


def fragment_key(item: FeedItem, fmt: FeedFormat, config: FeedsConfig) -> str:
    """The cache key of one item's fragment: ``{article id}/{version}/{fmt}/{digest}``.

    The digest covers the item-shaping settings and the translations, which can change
    without a new article revision. The key is Redis-safe (no spaces). Computed once per
    item, format and settings (kept on the item).
    """
    return _key(item, fmt, _item_settings(config))


def fragments_wanted(
    items: Iterable[FeedItem], formats: Sequence[FeedFormat], config: FeedsConfig
) -> list[tuple[str, FeedFormat]]:
    """The keys (with formats) of the fragments ``items`` do not carry yet."""
    settings = _item_settings(config)
    wanted = ((item, fmt) for item in items for fmt in formats)
    return [(_key(i, f, settings), f) for i, f in wanted if (f, settings) not in i.fragments]


def _key(item: FeedItem, fmt: FeedFormat, settings: str) -> str:
    key = item.keys.get((fmt, settings))
    if key is None:
        article = item.article
        parts = [settings, str(item.enclosure_length or "")]
        parts.extend(f"{lang}\x1e{url}" for lang, url in item.translations)
        digest = hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()
        version = f"{article.version.timestamp():.6f}"
        key = item.keys[(fmt, settings)] = f"{article.id}/{version}/{fmt}/{digest[:12]}"
    return key


def _entry(item: FeedItem, config: FeedsConfig, *, summary_only: bool) -> FeedEntry:
    article = item.article
    fe = FeedEntry()
    fe.register_extension("media", _MediaEntry)
    fe.register_extension("dc", DcEntryExtension, atom=False, rss=True)
    fe.register_extension("links", _Links)
    fe.guid(article_guid(article.id, config), permalink=False)
    fe.title(article.title)
    links = [
        {"rel": "alternate", "type": "text/html", "hreflang": article.language, "href": article.url}
    ]
    fe.link(href=article.url, rel="alternate")
    fe.published(article.published_at)
    fe.updated(article.version)
    for author in article.authors:
        fe.author({"name": author.name, **({"uri": author.url} if author.url else {})})
        fe.dc.dc_creator(author.name)
    fe.category([{"term": term} for term in dict.fromkeys((article.category, *article.tags))])
    full = config.content == "full" and not summary_only and article.content_html
    if full:
        fe.content(article.content_html, type="html")
    if article.summary:
        fe.summary(article.summary)
    elif not full:
        fe.summary(article.title)
    image = article.image
    length = item.enclosure_length
    if image is not None:
        media_type = image.type or "image/jpeg"
        # RSS 2.0 requires an enclosure's length, and "0" would be a lie readers download
        # to check; with the size unknown (not declared, not fetched) RSS has no enclosure
        # and the image is in media:content alone. Atom's length is optional (RFC 4287).
        if length:
            fe.link(href=image.url, rel="enclosure", type=media_type, length=str(length))
        enclosure = {"rel": "enclosure", "type": media_type, "href": image.url}
        if length:
            enclosure["length"] = str(length)
        links.append(enclosure)
        media: dict[str, str | None] = {"url": image.url, "medium": "image", "type": media_type}
        for key, value in (
            ("width", image.width),
            ("height", image.height),
            ("fileSize", length),
        ):
            if value:
                media[key] = str(value)
        media["group"] = None
        fe.media.content(media)
        fe.media.caption(image.caption, image.credit)
    if article.source is not None and article.source.url:
        fe.source(url=article.source.url, title=article.source.name)
    fe.links.set(tuple(links), item.alternates())
    return fe


@lru_cache(maxsize=2)
def _declarations(fmt: FeedFormat) -> bytes:
    # The namespace declarations lxml copies onto an entry serialised inside our parent, in
    # the order it writes them: found once by serialising an empty entry the same way.
    parent = etree.Element("root", nsmap=_RSS_NSMAP if fmt == "rss" else _ATOM_NSMAP)
    tag = "item" if fmt == "rss" else "entry"
    child = etree.SubElement(parent, tag)
    text: bytes = etree.tostring(child)
    return text[len(tag) + 1 : -2]


def _serialise(element: Any, fmt: FeedFormat) -> bytes:
    parent = etree.Element("root", nsmap=_RSS_NSMAP if fmt == "rss" else _ATOM_NSMAP)
    parent.append(element)
    data: bytes = etree.tostring(element, encoding="utf-8")
    tag = b"<item" if fmt == "rss" else b"<entry"
    declarations = _declarations(fmt)
    if data.startswith(tag + declarations):
        # The root declares the same prefixes; dropping the copies keeps items small.
        data = tag + data[len(tag) + len(declarations) :]
    return data


def render_item(item: FeedItem, fmt: FeedFormat, config: FeedsConfig) -> bytes:
    """Serialise one item (``<item>``, ``<entry>`` or a JSON object) for :func:`assemble`.

    An item over 1 MB is rendered again with its summary instead of its full content.
    """
    if fmt == "json":
        return jsonfeed.render_item(item, config, MAX_ITEM_BYTES)
    data = b""
    for summary_only in (False, True):
        fe = _entry(item, config, summary_only=summary_only)
        element = fe.rss_entry() if fmt == "rss" else fe.atom_entry()
        data = _serialise(element, fmt)
        if len(data) <= MAX_ITEM_BYTES:
            break
    return data


# --- documents ------------------------------------------------------------------------------


def _header(
    ref: FeedRef,
    fmt: FeedFormat,
    config: FeedsConfig,
    updated: datetime,
    tombstones: Sequence[Tombstone],
    label: str | None = None,
) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("media", MediaExtension, None)
    fg.register_extension("dc", DcExtension, None)
    if fmt == "atom":
        fg.register_extension("tombstones", _Tombstones, None, atom=True, rss=False)
        fg.tombstones.set(
            tuple(
                (article_guid(t.article_id, config), t.deleted_at.isoformat(), t.url)
                for t in tombstones
            )
        )
    if config.websub_hub:
        fg.register_extension("hub", _Hub, None)
        fg.hub.set(config.websub_hub)
    fg.id(ref.url(fmt, config))
    fg.title(feed_title(ref, config, label))
    fg.description(feed_description(ref, config))
    fg.language(ref.language)
    fg.author({"name": config.site_name})
    fg.generator(_GENERATOR)
    # feedgen takes the last link as the RSS channel <link>: the site, not the feed itself.
    fg.link(
        href=ref.url(fmt, config),
        rel="self",
        type="application/rss+xml" if fmt == "rss" else "application/atom+xml",
    )
    fg.link(href=site_url(ref, config), rel="alternate", type="text/html")
    fg.updated(updated)
    fg.lastBuildDate(updated)
    return fg


def stylesheet_href(config: FeedsConfig) -> str:
    """Where the feeds' XSLT stylesheet is served: ``/feed.xsl`` under the site's path."""
    return urlsplit(config.base_url).path.rstrip("/") + STYLESHEET_PATH


def _with_stylesheet(head: bytes, config: FeedsConfig) -> bytes:
    # A browser shows the feed through the stylesheet as a page; feed readers ignore the
    # processing instruction. It must come after the XML declaration, before the root.
    pi = f'<?xml-stylesheet type="text/xsl" href="{stylesheet_href(config)}"?>\n'.encode()
    end = head.index(b"?>") + 2 if head.startswith(b"<?xml ") else 0
    return head[:end] + b"\n" + pi + head[end:].lstrip(b"\n")


def assemble(
    ref: FeedRef,
    fmt: FeedFormat,
    fragments: Sequence[bytes],
    config: FeedsConfig,
    *,
    updated: datetime,
    tombstones: Sequence[Tombstone] = (),
    label: str | None = None,
) -> bytes:
    """Build a document from its header and item fragments (newest first, as given).

    ``updated`` is the feed's ``updated`` / ``lastBuildDate``. Tombstones appear in Atom only.
    ``label`` is the author's or tag's name as the articles write it (for the title).
    """
    if fmt == "json":
        return jsonfeed.assemble(ref, fragments, config, label)
    fg = _header(ref, fmt, config, updated, tombstones, label)
    head: bytes = fg.rss_str() if fmt == "rss" else fg.atom_str()
    head = _with_stylesheet(head, config)
    close = b"</channel>" if fmt == "rss" else b"</feed>"
    cut = head.rindex(close)
    return b"".join((head[:cut], *fragments, head[cut:]))


def _newest_first(items: Iterable[FeedItem]) -> list[FeedItem]:
    given = list(items)
    unique = {item.article.id: item for item in given}
    if len(unique) == len(given):  # the usual case: one revision of each article
        return sorted(given, key=_order, reverse=True)
    unique = {}
    for item in given:
        current = unique.get(item.article.id)
        if current is None or item.article.version > current.article.version:
            unique[item.article.id] = item
    return sorted(unique.values(), key=_order, reverse=True)


def _order(item: FeedItem) -> tuple[datetime, str]:
    return item.article.published_at, item.article.id


def _live_tombstones(
    tombstones: Iterable[Tombstone], items: Sequence[FeedItem], config: FeedsConfig, now: datetime
) -> list[Tombstone]:
    present = {item.article.id for item in items}
    since = now - timedelta(days=config.tombstone_days)
    return sorted(
        (t for t in tombstones if t.deleted_at >= since and t.article_id not in present),
        key=lambda t: (t.deleted_at, t.article_id),
        reverse=True,
    )


def render_feed(
    ref: FeedRef,
    fmt: FeedFormat,
    items: Iterable[FeedItem],
    config: FeedsConfig,
    now: datetime,
    tombstones: Iterable[Tombstone] = (),
    fragment_cache: MutableMapping[str, bytes] | None = None,
) -> RenderedFeed:
    """Render one document: newest first, capped at ``max_items`` and at 2 MB.

    Fragments are read from and written to ``fragment_cache`` (any mapping; the storage
    layer backs it with Redis) under :func:`fragment_key`. The output depends on ``now``
    only through which tombstones are still shown and the date of an empty feed.
    """
    chosen = _newest_first(items)[: config.max_items]
    cache: MutableMapping[str, bytes] = {} if fragment_cache is None else fragment_cache
    fragments: list[bytes] = []
    settings = _item_settings(config)
    for item in chosen:
        fragment = item.fragments.get((fmt, settings))
        if fragment is None:
            key = _key(item, fmt, settings)
            fragment = cache.get(key)
            if fragment is None:
                fragment = render_item(item, fmt, config)
                cache[key] = fragment
            item.fragments[(fmt, settings)] = fragment
        fragments.append(fragment)
    live = _live_tombstones(tombstones, chosen, config, now) if fmt == "atom" else []
    label = feed_label(ref, (i.article for i in chosen), config)
    title = feed_title(ref, config, label)
    while True:
        times = [i.article.version for i in chosen[: len(fragments)]]
        times += [t.deleted_at for t in live]
        updated = max(times, default=now)
        body = assemble(ref, fmt, fragments, config, updated=updated, tombstones=live, label=label)
        if len(body) <= MAX_DOCUMENT_BYTES or not fragments:
            return RenderedFeed(body, len(fragments), title)
        # Drop the oldest items until the document fits; estimate how many at once.
        excess = len(body) - MAX_DOCUMENT_BYTES
        while excess > 0 and fragments:
            excess -= len(fragments.pop()) + 1
