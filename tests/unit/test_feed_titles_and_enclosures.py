"""Feed titles from names as written, enclosures that never claim a size of 0, and the XSLT
stylesheet that shows a feed to a person in a browser."""

from __future__ import annotations

from pathlib import Path

import feedparser
from lxml import etree

from feeds.catalog import FeedRef, FeedsConfig, LanguageFeeds, feed_title
from feeds.opml import render_opml
from feeds.render import FeedItem, render_feed
from tests.unit.test_render import NOW, article

CONFIG = FeedsConfig(
    base_url="https://portal.example/news",
    site_name="Portal",
    languages={
        "vi": LanguageFeeds(title="Cổng thông tin", category_titles={"heritage": "Di sản"}),
        "en": LanguageFeeds(title="Portal"),
    },
)
IMAGE = {"url": "https://img.portal.example/a.jpg", "type": "image/jpeg"}
XSL = Path(__file__).resolve().parents[2] / "syndication" / "templates" / "feed.xsl"


def _parsed(body: bytes) -> feedparser.FeedParserDict:
    result = feedparser.parse(body)
    assert result.bozo == 0, result.get("bozo_exception")
    return result


def test_author_feed_title_keeps_the_name_as_the_articles_write_it() -> None:
    """An author feed's title has the author's diacritics and case, not the slug's."""
    item = FeedItem(article(1, authors=[{"name": "Hoàng Anh Tuấn"}]))
    ref = FeedRef("vi", "author", "hoang-anh-tuan")
    for fmt in ("rss", "atom", "json"):
        doc = render_feed(ref, fmt, [item], CONFIG, NOW)
        assert doc.title == "Cổng thông tin: Hoàng Anh Tuấn"
        assert "Hoàng Anh Tuấn" in doc.body.decode()
    assert _parsed(render_feed(ref, "atom", [item], CONFIG, NOW).body).feed.title == (
        "Cổng thông tin: Hoàng Anh Tuấn"
    )


def test_category_titles_share_one_shape_in_every_language() -> None:
    """Category titles are '{language title}: {name}', configured or made readable."""
    assert feed_title(FeedRef("vi", "category", "heritage"), CONFIG) == "Cổng thông tin: Di sản"
    assert feed_title(FeedRef("en", "category", "heritage"), CONFIG) == "Portal: Heritage"
    assert feed_title(FeedRef("en", "author", "tran-minh"), CONFIG) == "Portal: Tran Minh"


def test_opml_uses_the_titles_the_rendered_feeds_have() -> None:
    """The OPML index shows an author's name as written when a render recorded it."""
    ref = FeedRef("vi", "author", "hoang-anh-tuan")
    body = render_opml([ref], CONFIG, NOW, titles={ref.path("rss"): "Cổng thông tin: Hoàng"})
    outlines = etree.fromstring(body).findall(".//outline[@xmlUrl]")
    assert outlines[0].get("title") == "Cổng thông tin: Hoàng"
    assert outlines[1].get("title") == "Cổng thông tin: Hoang Anh Tuan"  # not rendered yet


def test_rss_enclosure_has_the_declared_size_and_never_zero() -> None:
    """A declared size is the enclosure's length; an unknown one leaves RSS without an
    enclosure (media:content still names the image) and Atom's length out."""
    declared = FeedItem(article(1, image={**IMAGE, "length": 54321}))
    unknown = FeedItem(article(2, image=IMAGE))
    rss = render_feed(FeedRef("vi", "all"), "rss", [declared, unknown], CONFIG, NOW).body
    assert b'length="0"' not in rss
    items = {i.findtext("guid"): i for i in etree.fromstring(rss).iter("item")}
    enclosures = [i.find("enclosure") for i in items.values()]
    lengths = [e.get("length") for e in enclosures if e is not None]
    assert lengths == ["54321"]
    media = etree.fromstring(rss).findall(".//{http://search.yahoo.com/mrss/}content")
    assert len(media) == 2
    atom = render_feed(FeedRef("vi", "all"), "atom", [declared, unknown], CONFIG, NOW).body
    assert b'length="0"' not in atom
    _parsed(rss)
    _parsed(atom)


def test_rss_enclosure_takes_the_fetched_size_when_the_event_has_none() -> None:
    """An image fetched for a post gives the enclosure its size, and a new fragment."""
    item = FeedItem(article(1, image=IMAGE), image_length=2048)
    rss = render_feed(FeedRef("vi", "all"), "rss", [item], CONFIG, NOW).body
    assert etree.fromstring(rss).find(".//enclosure").get("length") == "2048"
    json_doc = render_feed(FeedRef("vi", "all"), "json", [item], CONFIG, NOW).body
    assert b'"size_in_bytes":2048' in json_doc.replace(b" ", b"")


def test_feeds_name_the_stylesheet_and_still_parse_cleanly() -> None:
    """RSS and Atom start with an xml-stylesheet instruction under the site's path; feed
    readers parse them without a bozo flag, and the stylesheet turns them into HTML."""
    items = [FeedItem(article(n)) for n in (1, 2)]
    transform = etree.XSLT(etree.parse(str(XSL)))
    for fmt in ("rss", "atom"):
        body = render_feed(FeedRef("vi", "all"), fmt, items, CONFIG, NOW).body
        assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet")
        assert b'href="/news/feed.xsl"' in body.split(b"\n", 2)[1]
        assert len(_parsed(body).entries) == 2
        page = str(transform(etree.fromstring(body)))
        html = etree.HTML(page)
        assert html.findtext(".//h1") == "Cổng thông tin"
        assert [a.text for a in html.iterfind(".//ol/li/a")] == ["Bài 2", "Bài 1"]
