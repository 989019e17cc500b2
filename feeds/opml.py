"""The OPML 2.0 index of every feed (``/feeds/index.opml``), as a pure function."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import format_datetime

from lxml import etree

from feeds.catalog import FeedFormat, FeedRef, FeedsConfig, feed_title, site_url

__all__ = ["render_opml"]

_FORMAT_NAMES: dict[FeedFormat, str] = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


def render_opml(
    refs: Iterable[FeedRef],
    config: FeedsConfig,
    now: datetime,
    titles: Mapping[str, str] | None = None,
) -> bytes:
    """List every feed in every configured format, grouped by language.

    ``titles`` maps a document path to the title its last render gave it (the author's
    name as written); a feed not in it gets the title config gives.

    OPML 2.0 uses ``type="rss"`` for any subscription outline, whatever the feed's format.
    """
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"{config.site_name}: feeds"
    etree.SubElement(head, "dateCreated").text = format_datetime(now)
    body = etree.SubElement(root, "body")
    by_language: dict[str, list[FeedRef]] = {}
    for ref in sorted(set(refs)):
        by_language.setdefault(ref.language, []).append(ref)
    for language, group in by_language.items():
        outline = etree.SubElement(body, "outline", text=language, title=language)
        for ref in group:
            for fmt in config.formats:
                title = (titles or {}).get(ref.path(fmt)) or feed_title(ref, config)
                etree.SubElement(
                    outline,
                    "outline",
                    type="rss",
                    text=f"{title} ({_FORMAT_NAMES[fmt]})",
                    title=title,
                    xmlUrl=ref.url(fmt, config),
                    htmlUrl=site_url(ref, config),
                    language=ref.language,
                    version=fmt,
                )
    data: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return data
