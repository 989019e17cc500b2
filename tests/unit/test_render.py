"""RSS and Atom rendering: valid in every script, complete, capped, and built from fragments."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from feedcheck import MEDIA, TOMBSTONES, A, check_atom, check_jsonfeed, check_rss
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from lxml import etree

from feeds.catalog import FeedRef, FeedsConfig, LanguageFeeds, article_guid
from feeds.opml import render_opml
from feeds.render import (
    MAX_DOCUMENT_BYTES,
    MAX_ITEM_BYTES,
    FeedItem,
    Tombstone,
    assemble,
    fragment_key,
    render_feed,
    render_item,
)
from syndication.errors import EventValidationError
from syndication.events import Article, parse_event
from syndication.settings import Limits

NOW = datetime(2025, 8, 24, 12, 0, tzinfo=UTC)
CONFIG = FeedsConfig(
    base_url="https://portal.example",
    site_name="Portal",
    languages={
        "vi": LanguageFeeds(title="Tin tức & Sự kiện", description="Tin mới <nhất>"),
        "ja": LanguageFeeds(title="ニュース"),
    },
    websub_hub="https://hub.example/",
)
VI_ALL = FeedRef("vi", "all")


def article(n: int = 1, **fields: Any) -> Article:
    """Build an article through the real event parser (NFC, sanitising, limits)."""
    data: dict[str, Any] = {
        "id": f"art-{n}",
        "url": f"https://portal.example/vi/bai-{n}",
        "language": "vi",
        "title": f"Bài {n}",
        "summary": f"Tóm tắt {n}",
        "content_html": f"<p>Nội dung {n}</p>",
        "category": "heritage",
        "published_at": (datetime(2025, 8, 24, 8, 0, tzinfo=UTC) + timedelta(minutes=n))
        .astimezone(UTC)
        .isoformat(),
    }
    data.update(fields)
    event = {
        "id": f"evt-{n}",
        "type": "article.published",
        "occurred_at": "2025-08-24T09:00:00+07:00",
        "article": data,
    }
    parsed = parse_event(event).event
    assert isinstance(parsed.article, Article)
    return parsed.article


def rendered(items: list[FeedItem], fmt: str, **kwargs: Any) -> bytes:
    config = kwargs.pop("config", CONFIG)
    ref = kwargs.pop("ref", VI_ALL)
    return render_feed(ref, fmt, items, config, NOW, **kwargs).body  # type: ignore[arg-type]


def parsed(body: bytes) -> Any:
    result = feedparser.parse(body)
    assert result.bozo == 0, result.get("bozo_exception")
    return result


HARD_TEXT = [
    # (language, title, summary, content): every script and escape that can break a feed.
    (
        "vi",
        unicodedata.normalize("NFD", "Nguyễn Văn Đức thăm Đà Nẵng"),
        unicodedata.normalize("NFD", "Tiếng Việt có dấu"),
        "<p>Phở &amp; bún</p>",
    ),
    ("ja", "東京で「デジタル外交」会議", "日本語の要約です。", "<p>カタカナ と 漢字</p>"),
    ("zh", "数字化转型与外交", "简体中文摘要", "<p>中文内容</p>"),
    ("ar", "الدبلوماسية الرقمية", "ملخص باللغة العربية", "<p dir='rtl'>نص عربي</p>"),
    ("en", "Family 👨‍👩‍👧‍👦 & flags 🏳️‍🌈", "Emoji ZWJ 🧑🏽‍💻 sequences", "<p>👩‍🚀 in space</p>"),
    ("en", "Tom & Jerry <3 ]]> end", "a < b && c > d ]]>", "<p>x ]]&gt; y &lt; z &amp;</p>"),
]


def hard_items() -> list[FeedItem]:
    items = []
    for n, (lang, title, summary, content) in enumerate(HARD_TEXT, start=1):
        items.append(
            FeedItem(
                article(
                    n,
                    language=lang,
                    title=title,
                    summary=summary,
                    content_html=content,
                    authors=[{"name": "Nguyễn Văn Đức", "url": "https://portal.example/a/duc"}],
                    tags=["văn hóa", "東京"],
                    image={
                        "url": f"https://portal.example/img/{n}.jpg",
                        "caption": f"Ảnh & <chú thích> {n}",
                        "credit": "TTXVN",
                        "type": "image/jpeg",
                        "width": 1200,
                        "height": 800,
                        "length": 12345,
                    },
                    source={"name": "Báo Nhân dân", "url": "https://nhandan.example/x"},
                )
            )
        )
    return items


def test_rss_in_every_script_parses_cleanly_with_expected_fields() -> None:
    """RSS of Vietnamese (NFD input), Japanese, Chinese, Arabic, emoji and escapes is valid."""
    items = hard_items()
    body = rendered(items, "rss")
    check_rss(body)
    feed = parsed(body)
    assert feed.feed.title == "Tin tức & Sự kiện"
    assert feed.feed.language == "vi"
    by_id = {e.id: e for e in feed.entries}
    for item in items:
        a = item.article
        entry = by_id[article_guid(a.id, CONFIG)]
        assert entry.title == a.title
        assert entry.title == unicodedata.normalize("NFC", entry.title)
        assert entry.link == a.url
        assert entry.author == "Nguyễn Văn Đức"
        assert [t.term for t in entry.tags] == ["heritage", "văn hóa", "東京"]
        assert entry.enclosures[0].href == a.image.url
        assert entry.enclosures[0].length == "12345"
        assert entry.published_parsed[:5] == a.published_at.astimezone(UTC).timetuple()[:5]
        assert entry.content[0].value == a.content_html
        assert entry.summary == a.summary
        assert entry.source.href == "https://nhandan.example/x"


def test_atom_in_every_script_parses_cleanly_with_expected_fields() -> None:
    """Atom of every hard script and escape is valid and carries all article fields."""
    items = hard_items()
    body = rendered(items, "atom")
    root = check_atom(body)
    feed = parsed(body)
    assert feed.feed.title == "Tin tức & Sự kiện"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi"
    by_id = {e.id: e for e in feed.entries}
    for item in items:
        a = item.article
        entry = by_id[article_guid(a.id, CONFIG)]
        assert entry.title == a.title
        assert entry.link == a.url
        assert entry.authors[0].name == "Nguyễn Văn Đức"
        assert entry.authors[0].href == "https://portal.example/a/duc"
        assert {t.term for t in entry.tags} == {"heritage", "văn hóa", "東京"}
        assert entry.enclosures[0].href == a.image.url
        assert entry.content[0].value == a.content_html
        assert entry.updated_parsed[:5] == a.version.astimezone(UTC).timetuple()[:5]


def test_media_content_carries_caption_and_credit() -> None:
    """The lead image is a media:content with media:description and media:credit."""
    items = hard_items()[:1]
    for fmt, check in (("rss", check_rss), ("atom", check_atom)):
        root = check(rendered(items, fmt))
        media = root.find(f".//{MEDIA}content")
        assert media.get("url") == "https://portal.example/img/1.jpg"
        assert media.get("medium") == "image"
        assert media.findtext(f"{MEDIA}description") == "Ảnh & <chú thích> 1"
        assert media.findtext(f"{MEDIA}credit") == "TTXVN"


def test_documents_have_self_alternate_and_hub_links() -> None:
    """Self, site alternate and WebSub hub links are present in RSS and Atom."""
    items = hard_items()[:1]
    rss = check_rss(rendered(items, "rss")).find("channel")
    rels = {ln.get("rel"): ln.get("href") for ln in rss.findall(A + "link")}
    assert rels == {
        "self": "https://portal.example/feeds/vi/all.rss",
        "hub": "https://hub.example/",
    }
    assert rss.findtext("link") == "https://portal.example/"
    atom = check_atom(rendered(items, "atom"))
    rels = {ln.get("rel"): ln.get("href") for ln in atom.findall(A + "link")}
    assert rels == {
        "self": "https://portal.example/feeds/vi/all.atom",
        "alternate": "https://portal.example/",
        "hub": "https://hub.example/",
    }


def test_no_hub_link_without_websub_config() -> None:
    """Without a configured hub no rel=hub link appears."""
    config = CONFIG.model_copy(update={"websub_hub": None})
    for fmt in ("rss", "atom"):
        assert b'rel="hub"' not in rendered(hard_items()[:1], fmt, config=config)


def test_translations_become_hreflang_alternates() -> None:
    """Translations are alternate links with hreflang; the article's own link stays first."""
    item = FeedItem(
        article(1),
        (("ja", "https://portal.example/ja/1"), ("en", "https://portal.example/en/1")),
    )
    atom = check_atom(rendered([item], "atom"))
    links = atom.find(A + "entry").findall(A + "link")
    assert [(ln.get("rel"), ln.get("hreflang"), ln.get("href")) for ln in links] == [
        ("alternate", "vi", "https://portal.example/vi/bai-1"),
        ("alternate", "ja", "https://portal.example/ja/1"),
        ("alternate", "en", "https://portal.example/en/1"),
    ]
    rss = check_rss(rendered([item], "rss"))
    entry = rss.find("channel/item")
    assert entry.findtext("link") == "https://portal.example/vi/bai-1"
    assert [ln.get("hreflang") for ln in entry.findall(A + "link")] == ["ja", "en"]


def test_items_are_newest_first_and_capped() -> None:
    """Items come newest first and the configured cap limits them."""
    config = CONFIG.model_copy(update={"max_items": 3})
    items = [FeedItem(article(n)) for n in (5, 1, 4, 2, 3)]
    result = render_feed(VI_ALL, "rss", items, config, NOW)
    assert result.item_count == 3
    feed = parsed(result.body)
    assert [e.title for e in feed.entries] == ["Bài 5", "Bài 4", "Bài 3"]


def test_update_keeps_guid_and_changes_updated() -> None:
    """An updated revision keeps its GUID and id but carries the new updated time."""
    first = article(1)
    second = article(1, title="Bài 1 (sửa)", updated_at="2025-08-24T11:00:00+07:00")
    for fmt in ("rss", "atom"):
        one = parsed(rendered([FeedItem(first)], fmt)).entries[0]
        two = parsed(rendered([FeedItem(second)], fmt)).entries[0]
        assert one.id == two.id
        assert two.title == "Bài 1 (sửa)"
    atom = check_atom(rendered([FeedItem(second)], "atom"))
    assert atom.find(f"{A}entry/{A}updated").text == "2025-08-24T11:00:00+07:00"
    assert atom.findtext(A + "updated") == "2025-08-24T11:00:00+07:00"


def test_summary_mode_leaves_out_full_content() -> None:
    """With content=summary no full HTML is in any format."""
    config = CONFIG.model_copy(update={"content": "summary"})
    item = FeedItem(article(1, content_html="<p>SECRET BODY</p>"))
    for fmt in ("rss", "atom", "json"):
        body = rendered([item], fmt, config=config)
        assert b"SECRET BODY" not in body
        assert "Tóm tắt 1".encode() in body


def test_tombstones_appear_in_atom_for_the_configured_time() -> None:
    """A deleted entry is announced in Atom while younger than tombstone_days, then dropped."""
    recent = Tombstone("gone-1", "https://portal.example/vi/gone-1", NOW - timedelta(days=1))
    old = Tombstone("gone-2", "https://portal.example/vi/gone-2", NOW - timedelta(days=30))
    body = rendered([FeedItem(article(1))], "atom", tombstones=[recent, old])
    root = check_atom(body)
    parsed(body)
    deleted = root.findall(TOMBSTONES + "deleted-entry")
    assert [d.get("ref") for d in deleted] == [article_guid("gone-1", CONFIG)]
    assert deleted[0].get("when") == recent.deleted_at.isoformat()
    assert b"deleted-entry" not in rendered([FeedItem(article(1))], "rss", tombstones=[recent])


def test_empty_feed_is_valid_and_dated_now() -> None:
    """A feed with no items is still valid, with now as its date."""
    for fmt in ("rss", "atom"):
        body = rendered([], fmt)
        (check_rss if fmt == "rss" else check_atom)(body)
        assert parsed(body).entries == []
    assert check_atom(rendered([], "atom")).findtext(A + "updated") == NOW.isoformat()


def test_fragments_come_from_the_cache() -> None:
    """render_feed uses a cached fragment instead of rendering the item again."""
    item = FeedItem(article(1))
    cache: dict[str, bytes] = {}
    render_feed(VI_ALL, "rss", [item], CONFIG, NOW, fragment_cache=cache)
    key = fragment_key(item, "rss", CONFIG)
    assert cache[key] == render_item(item, "rss", CONFIG)
    cache[key] = b"<item><title>from cache</title><guid>urn:x</guid></item>"
    # The same revision as another round (or process) sees it: a new item object.
    body = render_feed(VI_ALL, "rss", [FeedItem(article(1))], CONFIG, NOW, fragment_cache=cache)
    assert parsed(body.body).entries[0].title == "from cache"
    # The item a render used keeps its fragment for the next round: no cache lookup.
    again = render_feed(VI_ALL, "rss", [item], CONFIG, NOW, fragment_cache={}).body
    assert parsed(again).entries[0].title != "from cache"


def test_fragment_key_changes_only_with_what_shapes_the_item() -> None:
    """The key follows version, format, translations and content mode, not feed titles."""
    item = FeedItem(article(1))
    key = fragment_key(item, "rss", CONFIG)
    newer = FeedItem(article(1, updated_at="2025-08-24T20:00:00+07:00"))
    assert fragment_key(newer, "rss", CONFIG) != key
    assert fragment_key(item, "atom", CONFIG) != key
    assert (
        fragment_key(FeedItem(item.article, (("ja", "https://p.example/ja"),)), "rss", CONFIG)
        != key
    )
    summary = CONFIG.model_copy(update={"content": "summary"})
    assert fragment_key(item, "rss", summary) != key
    retitled = CONFIG.model_copy(update={"site_name": "Other", "max_items": 7})
    assert fragment_key(item, "rss", retitled) == key
    assert " " not in key and key.startswith("art-1/")


def test_assembled_documents_declare_each_namespace_once() -> None:
    """Fragments carry no namespace declarations of their own; the root declares them."""
    items = hard_items()
    for fmt in ("rss", "atom"):
        fragments = [render_item(i, fmt, CONFIG) for i in items]  # type: ignore[arg-type]
        assert all(b"xmlns" not in f for f in fragments)
        body = assemble(VI_ALL, fmt, fragments, CONFIG, updated=NOW)  # type: ignore[arg-type]
        (check_rss if fmt == "rss" else check_atom)(body)  # counts each declaration
        assert len(parsed(body).entries) == len(items)


def test_item_over_one_megabyte_falls_back_to_summary() -> None:
    """An item whose full content passes 1 MB is rendered with its summary instead."""
    limits = Limits(content_html=2_000_000)
    big = Article.model_validate(
        {
            **article(1).model_dump(mode="json"),
            "content_html": "<p>" + "漢" * 400_000 + "</p>",
        },
        context={"limits": limits},
    )
    for fmt in ("rss", "atom", "json"):
        fragment = render_item(FeedItem(big), fmt, CONFIG)  # type: ignore[arg-type]
        assert len(fragment) <= MAX_ITEM_BYTES
        assert "Tóm tắt 1".encode() in fragment


def test_document_over_two_megabytes_drops_oldest_items() -> None:
    """A feed that would pass 2 MB keeps only as many newest items as fit."""
    body = "<p>" + "Đ" * 200_000 + "</p>"  # about 400 kB per item
    items = [FeedItem(article(n, content_html=body)) for n in range(1, 11)]
    for fmt in ("rss", "atom", "json"):
        result = render_feed(VI_ALL, fmt, items, CONFIG, NOW)  # type: ignore[arg-type]
        assert len(result.body) <= MAX_DOCUMENT_BYTES
        assert 0 < result.item_count < 10
        if fmt == "json":
            doc = check_jsonfeed(result.body)
            assert doc["items"][0]["title"] == "Bài 10"
        else:
            assert parsed(result.body).entries[0].title == "Bài 10"


def test_category_feed_titles_come_from_config() -> None:
    """A category feed uses its configured per-category title after the language's title."""
    config = CONFIG.model_copy(
        update={
            "languages": {"vi": LanguageFeeds(title="Tin", category_titles={"heritage": "Di sản"})}
        }
    )
    ref = FeedRef("vi", "category", "heritage")
    feed = parsed(rendered([FeedItem(article(1))], "atom", config=config, ref=ref))
    assert feed.feed.title == "Tin: Di sản"
    assert feed.feed.id == "https://portal.example/feeds/vi/category/heritage.atom"


def test_opml_lists_every_feed_in_every_format() -> None:
    """The OPML index has one outline per feed and format, with xmlUrl and language."""
    refs = [VI_ALL, FeedRef("vi", "category", "heritage"), FeedRef("ja", "all")]
    body = render_opml(refs, CONFIG, NOW)
    root = etree.fromstring(body)
    assert root.get("version") == "2.0"
    outlines = root.findall("body/outline/outline")
    assert len(outlines) == 9
    urls = {o.get("xmlUrl") for o in outlines}
    assert "https://portal.example/feeds/vi/category/heritage.atom" in urls
    assert {o.get("language") for o in outlines} == {"vi", "ja"}
    assert all(o.get("type") == "rss" and o.get("title") for o in outlines)


# --- property -------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40)


@st.composite
def any_article(draw: st.DrawFn) -> Article:
    """Any article the event parser accepts, from arbitrary Unicode text."""
    title = draw(_text)
    fields: dict[str, Any] = {
        "title": title if title.strip() else "t",
        "summary": draw(_text),
        "content_html": draw(_text),
        "tags": draw(st.lists(_text, max_size=3)),
        "authors": [{"name": n if n.strip() else "n"} for n in draw(st.lists(_text, max_size=2))],
        "language": draw(st.sampled_from(["vi", "ja", "zh-Hant", "ar", "en"])),
    }
    if draw(st.booleans()):
        fields["image"] = {"url": "https://portal.example/i.jpg", "caption": draw(_text)}
    try:
        return article(draw(st.integers(1, 1000)), **fields)
    except EventValidationError:
        reject()  # text the parser rejects is not a valid Article


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_article())
def test_any_valid_article_renders_valid_documents(a: Article) -> None:
    """Any article the parser accepts renders to RSS, Atom and JSON that pass every check."""
    item = FeedItem(a)
    ref = FeedRef(a.language, "all")
    # Titles are compared through lxml: feedparser maps C1 controls (U+0080-U+009F, legal in
    # XML 1.0) to their cp1252 characters, a reader quirk rather than a rendering fault.
    rss = rendered([item], "rss", ref=ref)
    assert check_rss(rss).findtext("channel/item/title") == a.title
    assert len(parsed(rss).entries) == 1
    atom = rendered([item], "atom", ref=ref)
    assert check_atom(atom).findtext(f"{A}entry/{A}title") == a.title
    assert len(parsed(atom).entries) == 1
    doc = check_jsonfeed(rendered([item], "json", ref=ref))
    assert doc["items"][0]["title"] == a.title
