"""Spec rules for RSS 2.0, Atom 1.0 (RFC 4287, RFC 6721) and JSON Feed 1.1, as assertions.

No maintained feed validator installs from the package registries here (the W3C Feed
Validation Service is not packaged; PyPI's ``jsonfeedvalidator`` 0.0.3 predates JSON Feed
1.1), so these checkers encode the MUSTs of each spec that our documents could break. Each
failure message names the rule.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
A = "{" + ATOM + "}"
TOMBSTONES = "{http://purl.org/atompub/tombstones/1.0}"
MEDIA = "{http://search.yahoo.com/mrss/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _is_absolute(url: str | None) -> bool:
    parts = urlsplit(url or "")
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("urn", "tag"))


def _rfc3339(value: str | None, where: str) -> datetime:
    assert value and _RFC3339.fullmatch(value), f"{where}: not an RFC 3339 date-time: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _rfc822(value: str | None, where: str) -> datetime:
    assert value, f"{where}: empty date"
    parsed = parsedate_to_datetime(value)
    assert parsed.tzinfo is not None, f"{where}: RFC 822 date without a zone: {value!r}"
    return parsed


def _parse(body: bytes) -> Any:
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>"), "XML declaration"
    return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))


def _declared_once(body: bytes) -> None:
    for prefix in re.findall(rb'xmlns:([a-z]+)="', body):
        count = body.count(b"xmlns:" + prefix + b'="')
        assert count == 1, f"namespace prefix {prefix!r} declared {count} times"


def check_rss(body: bytes) -> Any:
    """Assert the RSS 2.0 rules; return the root element."""
    root = _parse(body)
    _declared_once(body)
    assert root.tag == "rss" and root.get("version") == "2.0", "rss: root <rss version=2.0>"
    channels = root.findall("channel")
    assert len(channels) == 1, "rss: exactly one <channel>"
    channel = channels[0]
    for name in ("title", "link", "description"):
        assert len(channel.findall(name)) == 1, f"channel: exactly one <{name}>"
    assert _is_absolute(channel.findtext("link")), "channel.link: absolute URL"
    assert channel.findtext("language"), "channel.language: present"
    selfs = [el for el in channel.findall(A + "link") if el.get("rel") == "self"]
    assert len(selfs) == 1 and _is_absolute(selfs[0].get("href")), "channel: one atom:link self"
    if channel.find("lastBuildDate") is not None:
        _rfc822(channel.findtext("lastBuildDate"), "channel.lastBuildDate")
    guids: set[str] = set()
    for i, item in enumerate(channel.findall("item")):
        where = f"item[{i}]"
        assert item.findtext("title") or item.findtext("description"), f"{where}: title/desc"
        for single in ("title", "link", "description", "guid", "pubDate", "enclosure", "source"):
            assert len(item.findall(single)) <= 1, f"{where}: at most one <{single}>"
        guid = item.findtext("guid")
        assert guid and guid not in guids, f"{where}.guid: present and unique"
        guids.add(guid)
        if item.find("guid").get("isPermaLink", "true") == "true":
            assert _is_absolute(guid), f"{where}.guid: a permalink guid is a URL"
        if item.find("link") is not None:
            assert _is_absolute(item.findtext("link")), f"{where}.link: absolute URL"
        if item.find("pubDate") is not None:
            _rfc822(item.findtext("pubDate"), f"{where}.pubDate")
        enclosure = item.find("enclosure")
        if enclosure is not None:
            assert _is_absolute(enclosure.get("url")), f"{where}.enclosure: url"
            assert (enclosure.get("length") or "").isdigit(), f"{where}.enclosure: length"
            assert enclosure.get("type"), f"{where}.enclosure: type"
        source = item.find("source")
        if source is not None:
            assert _is_absolute(source.get("url")), f"{where}.source: url attribute"
        for category in item.findall("category"):
            assert category.text, f"{where}.category: text"
    return root


def check_atom(body: bytes) -> Any:
    """Assert the RFC 4287 (and RFC 6721) rules; return the root element."""
    root = _parse(body)
    _declared_once(body)
    assert root.tag == A + "feed", "atom: root is atom:feed"
    assert root.get(XML_LANG), "feed: xml:lang"
    for name in ("id", "title", "updated"):
        assert len(root.findall(A + name)) == 1, f"feed: exactly one atom:{name}"
    assert _is_absolute(root.findtext(A + "id")), "feed.id: absolute IRI"
    _rfc3339(root.findtext(A + "updated"), "feed.updated")
    links = root.findall(A + "link")
    assert any(ln.get("rel") == "self" for ln in links), "feed: a rel=self link (SHOULD)"
    _unique_alternates(links, "feed")
    feed_has_author = root.find(A + "author") is not None
    ids: set[str] = set()
    for i, entry in enumerate(root.findall(A + "entry")):
        where = f"entry[{i}]"
        for name in ("id", "title", "updated"):
            assert len(entry.findall(A + name)) == 1, f"{where}: exactly one atom:{name}"
        for name in ("published", "summary", "content", "source", "rights"):
            assert len(entry.findall(A + name)) <= 1, f"{where}: at most one atom:{name}"
        entry_id = entry.findtext(A + "id")
        assert _is_absolute(entry_id) and entry_id not in ids, f"{where}.id: unique IRI"
        ids.add(entry_id)
        _rfc3339(entry.findtext(A + "updated"), f"{where}.updated")
        if entry.find(A + "published") is not None:
            _rfc3339(entry.findtext(A + "published"), f"{where}.published")
        entry_links = entry.findall(A + "link")
        for link in entry_links:
            assert _is_absolute(link.get("href")), f"{where}.link: href"
        alternates = [ln for ln in entry_links if ln.get("rel", "alternate") == "alternate"]
        assert entry.find(A + "content") is not None or alternates, f"{where}: content/alternate"
        _unique_alternates(entry_links, where)
        assert feed_has_author or entry.find(A + "author") is not None, f"{where}: an author"
        for author in entry.findall(A + "author"):
            assert author.findtext(A + "name"), f"{where}.author: a name"
        for category in entry.findall(A + "category"):
            assert category.get("term"), f"{where}.category: term"
    for deleted in root.findall(TOMBSTONES + "deleted-entry"):
        assert _is_absolute(deleted.get("ref")), "deleted-entry: ref IRI"
        _rfc3339(deleted.get("when"), "deleted-entry.when")
    return root


def _unique_alternates(links: list[Any], where: str) -> None:
    # RFC 4287 4.1.1/4.1.2: no two alternate links with the same type and hreflang.
    seen: set[tuple[str | None, str | None]] = set()
    for link in links:
        if link.get("rel", "alternate") == "alternate":
            key = (link.get("type"), link.get("hreflang"))
            assert key not in seen, f"{where}: two alternate links with type/hreflang {key}"
            seen.add(key)


_TOP = {
    "version", "title", "home_page_url", "feed_url", "description", "user_comment",
    "next_url", "icon", "favicon", "authors", "author", "language", "expired", "hubs", "items",
}  # fmt: skip
_ITEM = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "author", "tags",
    "language", "attachments",
}  # fmt: skip


def _authors(authors: Any, where: str) -> None:
    assert isinstance(authors, list), f"{where}.authors: an array"
    for author in authors:
        assert isinstance(author, dict), f"{where}.authors: objects"
        assert any(isinstance(author.get(k), str) for k in ("name", "url", "avatar")), (
            f"{where}.authors: name, url or avatar"
        )


def check_jsonfeed(body: bytes) -> dict[str, Any]:
    """Assert the JSON Feed 1.1 rules; return the decoded document."""
    doc = json.loads(body.decode("utf-8"))
    assert isinstance(doc, dict), "top level: an object"
    assert doc.get("version") == "https://jsonfeed.org/version/1.1", "version: the 1.1 URL"
    assert isinstance(doc.get("title"), str) and doc["title"], "title: required string"
    for key in doc:
        assert key in _TOP or key.startswith("_"), f"{key}: unknown keys must start with _"
    for key in ("home_page_url", "feed_url"):
        if key in doc:
            assert _is_absolute(doc[key]), f"{key}: absolute URL"
    if "authors" in doc:
        _authors(doc["authors"], "feed")
    for hub in doc.get("hubs", []):
        assert isinstance(hub.get("type"), str) and _is_absolute(hub.get("url")), "hubs: type, url"
    items = doc.get("items")
    assert isinstance(items, list), "items: required array"
    ids: set[str] = set()
    for i, item in enumerate(items):
        where = f"items[{i}]"
        for key in item:
            assert key in _ITEM or key.startswith("_"), f"{where}.{key}: unknown key"
        assert isinstance(item.get("id"), str) and item["id"], f"{where}.id: required string"
        assert item["id"] not in ids, f"{where}.id: unique"
        ids.add(item["id"])
        assert isinstance(item.get("content_html"), str) or isinstance(
            item.get("content_text"), str
        ), f"{where}: content_html or content_text"
        for key in ("url", "external_url", "image", "banner_image"):
            if key in item:
                assert _is_absolute(item[key]), f"{where}.{key}: absolute URL"
        for key in ("date_published", "date_modified"):
            if key in item:
                _rfc3339(item[key], f"{where}.{key}")
        if "authors" in item:
            _authors(item["authors"], where)
        if "tags" in item:
            assert all(isinstance(t, str) for t in item["tags"]), f"{where}.tags: strings"
        for attachment in item.get("attachments", []):
            assert _is_absolute(attachment.get("url")), f"{where}.attachments: url"
            assert isinstance(attachment.get("mime_type"), str), f"{where}.attachments: type"
    return doc
