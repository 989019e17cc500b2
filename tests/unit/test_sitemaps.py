"""News sitemaps and the sitemap index, rendered from plain values (no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.sitemaps import (
    NewsEntry,
    is_sitemap_path,
    news_language,
    news_sitemap_path,
    render_news_sitemap,
    render_sitemap_index,
    sitemap_language,
    w3c_datetime,
)
from syndication.errors import EventValidationError
from syndication.events import parse_event
from tests.unit.sitemapcheck import check_news_sitemap, check_sitemap_index
from tests.unit.test_events import event

ICT = timezone(timedelta(hours=7))
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def entry(n: int, title: str = "Phố cổ Hội An", hours_ago: float = 1.0) -> NewsEntry:
    """A news entry published ``hours_ago`` before NOW, in Vietnam's offset."""
    return NewsEntry(
        f"https://portal.example/vi/heritage/{n}?a=1&b=2",
        title,
        (NOW - timedelta(hours=hours_ago)).astimezone(ICT),
    )


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("vi", "vi"),
        ("en-US", "en"),
        ("ja", "ja"),
        ("fil", "fil"),
        ("pt-BR", "pt"),
        ("zh", "zh-cn"),
        ("zh-Hans", "zh-cn"),
        ("zh-CN", "zh-cn"),
        ("zh-Hant", "zh-tw"),
        ("zh-TW", "zh-tw"),
        ("zh-HK", "zh-tw"),
    ],
)
def test_news_language_is_the_iso_639_code_or_googles_chinese_variants(tag: str, code: str) -> None:
    """news:language is the ISO 639 code, and zh-cn / zh-tw by script for Chinese."""
    assert news_language(tag) == code


def test_a_news_sitemap_has_every_required_element_in_schema_order() -> None:
    """Each article is a url with loc and news:news (publication name and language,
    publication_date in W3C form with its offset, title), in the order given."""
    body = render_news_sitemap(
        [entry(2, "Áo dài & <lụa> 🇻🇳"), entry(1, "ベトナムの遺産", hours_ago=30)],
        publication="Báo Mẫu",
        language="vi",
    )
    items = check_news_sitemap(body, NOW)
    assert [i.title for i in items] == ["Áo dài & <lụa> 🇻🇳", "ベトナムの遺産"]
    assert items[0].loc == "https://portal.example/vi/heritage/2?a=1&b=2"
    assert {(i.name, i.language) for i in items} == {("Báo Mẫu", "vi")}
    assert items[0].published == "2026-11-20T18:00:00+07:00"
    assert b"&amp;b=2" in body and "Báo Mẫu".encode() in body


def test_an_empty_edition_renders_an_empty_urlset() -> None:
    """With nothing published in two days the sitemap is an empty, well-formed urlset."""
    body = render_news_sitemap([], publication="News", language="en")
    assert check_news_sitemap(body) == []


def test_the_checker_refuses_what_the_schemas_refuse() -> None:
    """The rule checker fails on a wrong language code, a missing title and a stale article."""
    good = render_news_sitemap([entry(1)], publication="News", language="vi")
    with pytest.raises(AssertionError, match="language"):
        check_news_sitemap(good.replace(b">vi<", b">vie-VN<"))
    with pytest.raises(AssertionError, match="required"):
        check_news_sitemap(good.replace(b"news:title", b"news:keywords"))
    stale = render_news_sitemap([entry(1, hours_ago=49)], publication="N", language="vi")
    with pytest.raises(AssertionError, match="two days"):
        check_news_sitemap(stale, NOW)


def test_the_sitemap_index_lists_each_sitemap_with_its_lastmod() -> None:
    """The index has one sitemap per language, each with an absolute loc and a W3C lastmod."""
    body = render_sitemap_index(
        [
            ("https://portal.example" + news_sitemap_path("en"), NOW),
            ("https://portal.example" + news_sitemap_path("vi"), NOW.astimezone(ICT)),
        ]
    )
    assert check_sitemap_index(body) == [
        ("https://portal.example/sitemaps/en/news.xml", "2026-11-20T12:00:00+00:00"),
        ("https://portal.example/sitemaps/vi/news.xml", "2026-11-20T19:00:00+07:00"),
    ]


def test_w3c_datetimes_keep_their_offset_and_refuse_naive_times() -> None:
    """A publication date is written in the offset it was given with; naive times are errors."""
    assert w3c_datetime(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=ICT)) == (
        "2026-01-02T03:04:05+07:00"
    )
    with pytest.raises(ValueError, match="naive"):
        w3c_datetime(datetime(2026, 1, 2))


def test_sitemap_paths_are_recognised_by_shape() -> None:
    """/sitemap.xml and /sitemaps/{lang}/news.xml are sitemap paths; nothing else is."""
    assert is_sitemap_path("/sitemap.xml") and sitemap_language("/sitemaps/zh-Hant/news.xml")
    assert sitemap_language("/sitemaps/vi/news.xml") == "vi"
    for path in ("/sitemaps/vi/news.rss", "/sitemaps/news.xml", "/sitemap.xml.gz", "/feeds/x"):
        assert not is_sitemap_path(path)


@given(st.text(min_size=1, max_size=80))
def test_any_accepted_title_renders_a_valid_news_sitemap(title: str) -> None:
    """Whatever title an event carries, once validation accepted it (NFC, characters illegal
    in XML removed) the sitemap is valid and reads the same title back."""
    try:
        article = parse_event(event(article__title=title)).event.article
    except EventValidationError:
        return
    body = render_news_sitemap([entry(1, article.title)], publication="N", language="vi")
    assert check_news_sitemap(body)[0].title == article.title
