"""The rules of sitemaps, sitemap indexes and Google News sitemaps, as assertions.

The published schemas (sitemaps.org's ``sitemap.xsd`` and ``siteindex.xsd``, Google's
``sitemap-news.xsd``) are not committed here: Google's carries "All Rights Reserved". These
checkers encode the same rules from the protocol pages (sitemaps.org/protocol.html and Google
Search Central's "Build and submit a news sitemap"): element order and cardinality, the
namespaces, the value formats (absolute URLs of 12 to 2,048 characters, W3C datetimes, ISO 639
language codes with Google's ``zh-cn``/``zh-tw``) and the limits (50,000 URLs and 50 MB per
file; 1,000 news entries, published in the last two days). Each failure message names the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from lxml import etree

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
# W3C Datetime (www.w3.org/TR/NOTE-datetime) as the schemas accept it: a date, or a date and
# time (seconds and fractions optional) with a time zone designator.
_W3C = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?")
_NEWS_LANGUAGE = re.compile(r"zh-cn|zh-tw|[a-z]{2,3}")
# Elements of a news:news, in the order the news schema's sequence requires; required first.
_NEWS_ORDER = ("publication", "access", "genres", "publication_date", "title", "keywords",
               "stock_tickers")  # fmt: skip
_NEWS_REQUIRED = {"publication", "publication_date", "title"}
_URL_ORDER = ("loc", "lastmod", "changefreq", "priority")


@dataclass(frozen=True)
class NewsItem:
    """One entry of a news sitemap, as read back."""

    loc: str
    name: str
    language: str
    published: str
    title: str


def _local(el: etree._Element, ns: str) -> str | None:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag[len(ns) :] if tag.startswith(ns) else None


def _loc(value: str | None, where: str) -> str:
    assert value is not None, f"{where}: loc is empty"
    assert value == value.strip(), f"{where}: loc has surrounding whitespace"
    assert 12 <= len(value) <= 2048, f"{where}: loc must be 12 to 2,048 characters"
    parts = urlsplit(value)
    assert parts.scheme in ("http", "https") and parts.netloc, f"{where}: loc not absolute"
    return value


def _w3c(value: str | None, where: str) -> datetime:
    assert value and _W3C.fullmatch(value), f"{where}: not a W3C datetime: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _parse(body: bytes, root_tag: str) -> etree._Element:
    declarations = (
        b"<?xml version='1.0' encoding='UTF-8'?>",
        b'<?xml version="1.0" encoding="UTF-8"?>',
    )
    assert body.startswith(declarations), "the document must declare UTF-8"
    assert len(body) <= 50 * 1024 * 1024, "a sitemap file is at most 50 MB uncompressed"
    root = etree.fromstring(body)
    assert root.tag == SM + root_tag, f"root element must be {root_tag} in the sitemap namespace"
    return root


def _url_children(url: etree._Element, where: str) -> list[etree._Element]:
    """Check a url's sitemap children (loc, then the optional ones in order); return the
    extension elements that follow them."""
    children = list(url)
    assert children and children[0].tag == SM + "loc", f"{where}: loc must come first"
    position = 0
    extensions: list[etree._Element] = []
    for child in children:
        name = _local(child, SM)
        if name is None:
            extensions.append(child)  # ##other namespaces come after the sitemap elements
            continue
        assert not extensions, f"{where}: {name} after an extension element"
        assert name in _URL_ORDER, f"{where}: unknown sitemap element {name}"
        index = _URL_ORDER.index(name)
        assert index >= position, f"{where}: {name} out of order (or repeated)"
        position = index + 1
    for child in children:
        if child.tag == SM + "lastmod":
            _w3c(child.text, f"{where}.lastmod")
    return extensions


def check_news_sitemap(body: bytes, now: datetime | None = None) -> list[NewsItem]:
    """Assert every rule of a Google News sitemap; return its entries in document order.

    With ``now``, also assert that every article was published in the two days before it.
    """
    root = _parse(body, "urlset")
    urls = list(root)
    # sitemap.xsd wants at least one url; an edition with no news in two days is served empty
    # (Google reads that as "nothing new"), so emptiness is left to the caller to judge.
    assert len(urls) <= 1000, "a news sitemap lists at most 1,000 articles"
    items: list[NewsItem] = []
    hosts = set()
    for i, url in enumerate(urls):
        where = f"urlset.url[{i}]"
        assert url.tag == SM + "url", f"{where}: urlset may hold only url elements"
        loc = _loc(url.findtext(SM + "loc"), where)
        hosts.add(urlsplit(loc).netloc)
        news = [e for e in _url_children(url, where) if e.tag == NEWS + "news"]
        assert len(news) == 1, f"{where}: exactly one news:news"
        items.append(_check_news(news[0], loc, f"{where}.news", now))
    assert len(hosts) <= 1, "every URL of a sitemap is on one host"
    locs = [item.loc for item in items]
    assert len(locs) == len(set(locs)), "a URL is listed once"
    return items


def _check_news(news: etree._Element, loc: str, where: str, now: datetime | None) -> NewsItem:
    names = [_local(child, NEWS) for child in news]
    assert None not in names, f"{where}: only news: elements inside news:news"
    for name in names:
        assert name in _NEWS_ORDER, f"{where}: unknown element news:{name}"
    assert len(names) == len(set(names)), f"{where}: an element is repeated"
    order = [_NEWS_ORDER.index(n) for n in names if n]
    assert order == sorted(order), f"{where}: elements out of the schema's order: {names}"
    assert set(names) >= _NEWS_REQUIRED, f"{where}: publication, publication_date, title required"
    publication = news.find(NEWS + "publication")
    assert publication is not None
    parts = [_local(child, NEWS) for child in publication]
    assert parts == ["name", "language"], f"{where}.publication: name then language"
    name = publication.findtext(NEWS + "name") or ""
    language = publication.findtext(NEWS + "language") or ""
    assert name.strip(), f"{where}.publication.name: empty"
    assert _NEWS_LANGUAGE.fullmatch(language), f"{where}.publication.language: {language!r}"
    published = news.findtext(NEWS + "publication_date")
    moment = _w3c(published, f"{where}.publication_date")
    if now is not None:
        assert moment.tzinfo is not None, f"{where}.publication_date: needs a time zone"
        assert now - moment <= timedelta(days=2), f"{where}: published more than two days ago"
    title = news.findtext(NEWS + "title") or ""
    assert title.strip(), f"{where}.title: empty"
    return NewsItem(loc, name, language, published or "", title)


def check_sitemap_index(body: bytes) -> list[tuple[str, str | None]]:
    """Assert every rule of a sitemap index; return (loc, lastmod) of each sitemap listed."""
    root = _parse(body, "sitemapindex")
    sitemaps = list(root)
    assert sitemaps, "a sitemap index lists at least one sitemap"
    assert len(sitemaps) <= 50_000, "a sitemap index lists at most 50,000 sitemaps"
    out: list[tuple[str, str | None]] = []
    for i, sitemap in enumerate(sitemaps):
        where = f"sitemapindex.sitemap[{i}]"
        assert sitemap.tag == SM + "sitemap", f"{where}: only sitemap elements"
        names = [_local(child, SM) for child in sitemap]
        assert names in (["loc"], ["loc", "lastmod"]), f"{where}: loc, then optional lastmod"
        loc = _loc(sitemap.findtext(SM + "loc"), where)
        lastmod = sitemap.findtext(SM + "lastmod")
        if lastmod is not None:
            _w3c(lastmod, f"{where}.lastmod")
        out.append((loc, lastmod))
    return out
