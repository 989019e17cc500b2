"""JSON Feed 1.1 documents: spec rules, every field, extensions, and fragment assembly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from feedcheck import check_jsonfeed

from feeds import jsonfeed
from feeds.catalog import FeedRef, FeedsConfig, LanguageFeeds, article_guid
from feeds.render import FeedItem, render_feed, render_item
from syndication.events import Article

NOW = datetime(2025, 8, 24, 12, 0, tzinfo=UTC)
CONFIG = FeedsConfig(
    base_url="https://portal.example",
    languages={"ja": LanguageFeeds(title="ニュース & 解説")},
    websub_hub="https://hub.example/",
)
REF = FeedRef("ja", "all")


def make_article(n: int = 1, **fields: Any) -> Article:
    data: dict[str, Any] = {
        "id": f"nd-{n}-ja",
        "url": f"https://portal.example/ja/politics/{n}",
        "language": "ja",
        "title": f"デジタル外交 {n} & <速報> ]]>",
        "summary": "要約 👨‍👩‍👧",
        "content_html": "<p>本文 &amp; 詳細</p>",
        "category": "politics",
        "tags": ["diplomacy"],
        "authors": [{"name": "山田太郎", "url": "https://portal.example/ja/a/yamada"}],
        "source": {"name": "Báo Nhân dân", "url": "https://nhandan.example/1"},
        "image": {
            "url": "https://portal.example/img/1.jpg",
            "caption": "会議の様子",
            "credit": "共同",
            "type": "image/png",
            "length": 2048,
        },
        "published_at": f"2025-08-24T0{n}:00:00+09:00",
        "updated_at": f"2025-08-24T0{n}:30:00+09:00",
        "translation_of": f"nd-{n}-vi",
    }
    data.update(fields)
    return Article.model_validate(data)


def render(items: list[FeedItem], config: FeedsConfig = CONFIG) -> dict[str, Any]:
    return check_jsonfeed(render_feed(REF, "json", items, config, NOW).body)


def test_json_feed_has_the_top_level_fields() -> None:
    """The document has version, title, URLs, language, authors and the WebSub hub."""
    doc = render([FeedItem(make_article())])
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "ニュース & 解説"
    assert doc["feed_url"] == "https://portal.example/feeds/ja/all.json"
    assert doc["home_page_url"] == "https://portal.example/"
    assert doc["language"] == "ja"
    assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example/"}]


def test_json_item_carries_every_article_field() -> None:
    """An item has id, text as written, dates with offsets, authors, tags and the image."""
    a = make_article()
    item = render([FeedItem(a, (("vi", "https://portal.example/vi/1"),))])["items"][0]
    assert item["id"] == article_guid(a.id, CONFIG)
    assert item["url"] == a.url
    assert item["title"] == "デジタル外交 1 & <速報> ]]>"
    assert item["summary"] == "要約 👨‍👩‍👧"
    assert item["content_html"] == "<p>本文 &amp; 詳細</p>"
    assert item["date_published"] == "2025-08-24T01:00:00+09:00"
    assert item["date_modified"] == "2025-08-24T01:30:00+09:00"
    assert item["authors"] == [{"name": "山田太郎", "url": "https://portal.example/ja/a/yamada"}]
    assert item["tags"] == ["politics", "diplomacy"]
    assert item["image"] == "https://portal.example/img/1.jpg"
    assert item["attachments"] == [
        {
            "url": "https://portal.example/img/1.jpg",
            "mime_type": "image/png",
            "title": "会議の様子",
            "size_in_bytes": 2048,
        }
    ]
    assert item["_syndication"]["source"] == {
        "name": "Báo Nhân dân",
        "url": "https://nhandan.example/1",
    }
    assert item["_syndication"]["image"] == {"caption": "会議の様子", "credit": "共同"}
    assert item["_translations"] == [{"language": "vi", "url": "https://portal.example/vi/1"}]


def test_summary_mode_gives_content_text() -> None:
    """With content=summary an item has content_text and no content_html."""
    config = CONFIG.model_copy(update={"content": "summary"})
    item = render([FeedItem(make_article())], config)["items"][0]
    assert "content_html" not in item
    assert item["content_text"] == "要約 👨‍👩‍👧"


def test_item_without_text_still_has_content() -> None:
    """An article with no summary or body falls back to its title as content_text."""
    item = render([FeedItem(make_article(summary="", content_html=""))])["items"][0]
    assert item["content_text"] == "デジタル外交 1 & <速報> ]]>"


def test_json_items_newest_first_and_assembled_from_fragments() -> None:
    """Items are newest first, and the document is exactly header plus cached fragments."""
    items = [FeedItem(make_article(n)) for n in (1, 3, 2)]
    doc = render(items)
    assert [i["id"] for i in doc["items"]] == [
        article_guid(f"nd-{n}-ja", CONFIG) for n in (3, 2, 1)
    ]
    fragments = [render_item(FeedItem(make_article(n)), "json", CONFIG) for n in (3, 2, 1)]
    assembled = json.loads(jsonfeed.assemble(REF, fragments, CONFIG))
    assert assembled == doc


def test_empty_json_feed_is_valid() -> None:
    """A feed with no items is a valid document with an empty items array."""
    assert render([])["items"] == []


def test_json_is_plain_utf8_not_ascii_escapes() -> None:
    """Non-ASCII text is written as UTF-8, keeping documents small and readable."""
    body = render_feed(REF, "json", [FeedItem(make_article())], CONFIG, NOW).body
    assert "デジタル外交".encode() in body
    assert b"\\u" not in body
