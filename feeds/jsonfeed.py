"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) as pure functions.

:func:`item_dict` and :func:`feed_dict` return plain dicts; :func:`render_item` and
:func:`assemble` serialise them for the fragment cache the same way the XML formats do, so a
document is its header object with the cached item objects spliced into ``items``.

Fields JSON Feed has no place for go into extension objects, whose keys start with ``_``
as the spec requires: ``_syndication`` (category, source attribution, image caption and
credit) and ``_translations`` (``[{"language", "url"}]``, the ``hreflang`` links of XML).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from feeds.catalog import (
    FeedRef,
    FeedsConfig,
    article_guid,
    feed_description,
    feed_title,
    site_url,
)
from feeds.items import FeedItem

__all__ = ["VERSION", "assemble", "feed_dict", "item_dict", "render_item"]

VERSION = "https://jsonfeed.org/version/1.1"


def _dumps(value: dict[str, Any]) -> bytes:
    # ensure_ascii=False keeps Vietnamese and CJK readable and small; json escapes the
    # quote, backslash and control characters, which is all JSON needs.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def item_dict(item: FeedItem, config: FeedsConfig, *, summary_only: bool = False) -> dict[str, Any]:
    """One article as a JSON Feed item (``summary_only`` drops the full HTML)."""
    article = item.article
    out: dict[str, Any] = {
        "id": article_guid(article.id, config),
        "url": article.url,
        "title": article.title,
    }
    if config.content == "full" and article.content_html and not summary_only:
        out["content_html"] = article.content_html
    else:
        out["content_text"] = article.summary or article.title
    if article.summary:
        out["summary"] = article.summary
    if article.image is not None:
        out["image"] = article.image.url
    out["date_published"] = article.published_at.isoformat()
    out["date_modified"] = article.version.isoformat()
    if article.authors:
        out["authors"] = [
            {"name": a.name, **({"url": a.url} if a.url else {})} for a in article.authors
        ]
    out["tags"] = list(dict.fromkeys((article.category, *article.tags)))
    out["language"] = article.language
    if article.image is not None:
        attachment: dict[str, Any] = {
            "url": article.image.url,
            "mime_type": article.image.type or "image/jpeg",
        }
        if article.image.caption:
            attachment["title"] = article.image.caption
        if item.enclosure_length:
            attachment["size_in_bytes"] = item.enclosure_length
        out["attachments"] = [attachment]
    extension: dict[str, Any] = {"category": article.category}
    if article.source is not None:
        extension["source"] = {
            "name": article.source.name,
            **({"url": article.source.url} if article.source.url else {}),
        }
    if article.image is not None and (article.image.caption or article.image.credit):
        extension["image"] = {
            k: v
            for k, v in (("caption", article.image.caption), ("credit", article.image.credit))
            if v
        }
    out["_syndication"] = extension
    translations = item.alternates()
    if translations:
        out["_translations"] = [{"language": lang, "url": url} for lang, url in translations]
    return out


def feed_dict(ref: FeedRef, config: FeedsConfig, label: str | None = None) -> dict[str, Any]:
    """The top-level object of a JSON Feed, without ``items``."""
    out: dict[str, Any] = {
        "version": VERSION,
        "title": feed_title(ref, config, label),
        "home_page_url": site_url(ref, config),
        "feed_url": ref.url("json", config),
        "description": feed_description(ref, config),
        "language": ref.language,
        "authors": [{"name": config.site_name}],
    }
    if config.websub_hub:
        out["hubs"] = [{"type": "WebSub", "url": config.websub_hub}]
    return out


def render_item(item: FeedItem, config: FeedsConfig, max_bytes: int | None = None) -> bytes:
    """Serialise one item as a JSON object (a fragment).

    An item over ``max_bytes`` is serialised again with its summary instead of its content.
    """
    data = _dumps(item_dict(item, config))
    if max_bytes is not None and len(data) > max_bytes:
        data = _dumps(item_dict(item, config, summary_only=True))
    return data


def assemble(
    ref: FeedRef, fragments: Sequence[bytes], config: FeedsConfig, label: str | None = None
) -> bytes:
    """The JSON Feed document: the header object with ``items`` built from fragments."""
    head = _dumps(feed_dict(ref, config, label))
    return b"".join((head[:-1], b',"items":[', b",".join(fragments), b"]}"))
