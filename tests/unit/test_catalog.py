"""Which feeds exist: config models, feed references and paths, and stable slugs."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from feeds.catalog import (
    FeedRef,
    FeedsConfig,
    LanguageFeeds,
    UnknownFeedError,
    feed_description,
    feed_title,
    feeds_for_article,
    parse_feed_path,
)
from feeds.slugs import slug_for
from syndication.events import Article

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def make_article(**fields: Any) -> Article:
    data: dict[str, Any] = {
        "id": "a1",
        "url": "https://portal.example/vi/a1",
        "language": "vi",
        "title": "Tiêu đề",
        "category": "Di sản",
        "tags": ["Chuyển đổi số", "du lịch"],
        "authors": [{"name": "Nguyễn Văn Đức"}, {"name": "山田太郎"}],
        "published_at": "2025-08-24T08:00:00+07:00",
    }
    data.update(fields)
    return Article.model_validate(data)


def test_vietnamese_names_are_transliterated() -> None:
    """Vietnamese names lose their marks and đ becomes d."""
    assert slug_for("Nguyễn Văn Đức") == "nguyen-van-duc"
    assert slug_for("Đà Nẵng") == "da-nang"


def test_decomposed_input_gives_the_same_slug() -> None:
    """An NFD spelling slugs exactly like its NFC form, overrides included."""
    name = "Trần Thị Ánh Hồng"
    assert slug_for(unicodedata.normalize("NFD", name)) == slug_for(name)
    overrides = {name: "anh-hong"}
    assert slug_for(unicodedata.normalize("NFD", name), overrides) == "anh-hong"


def test_cjk_and_arabic_names_get_a_stable_ascii_id() -> None:
    """Japanese, Chinese and Arabic names get a-<8 hex> rather than a guessed reading."""
    for name in ("山田太郎", "ヤマダ タロウ", "王小明", "محمد علي"):
        slug = slug_for(name)
        assert re.fullmatch(r"a-[0-9a-f]{8}", slug)
        assert slug_for(name) == slug


def test_config_override_wins() -> None:
    """A slug from config replaces the transliteration or the fallback id."""
    assert slug_for("山田太郎", {"山田太郎": "yamada-taro"}) == "yamada-taro"
    assert slug_for("Nguyễn Văn Đức", {"Nguyễn Văn Đức": "Duc Nguyen"}) == "duc-nguyen"


@settings(max_examples=200)
@given(st.text(max_size=30))
def test_slugs_are_always_nonempty_ascii_and_deterministic(name: str) -> None:
    """Any name slugs to a non-empty [a-z0-9-] string, the same for its NFD and NFC forms."""
    slug = slug_for(name)
    assert _SLUG.fullmatch(slug)
    assert slug == slug_for(name)
    assert slug_for(unicodedata.normalize("NFD", name)) == slug_for(
        unicodedata.normalize("NFC", name)
    )


def test_feed_ref_ids_and_paths() -> None:
    """A reference names its storage id and its served path per format."""
    ref = FeedRef("vi", "category", "heritage")
    assert ref.id == "vi/category/heritage"
    assert ref.path("rss") == "/feeds/vi/category/heritage.rss"
    assert FeedRef("vi", "all").id == "vi/all"
    assert FeedRef("vi", "all").path("json") == "/feeds/vi/all.json"
    assert FeedRef.from_id("ja/author/a-1b2c3d4e") == FeedRef("ja", "author", "a-1b2c3d4e")


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/vi/all.rss",
        "/feeds/zh-Hant/all.atom",
        "/feeds/vi/category/heritage.json",
        "/feeds/ja/author/a-1b2c3d4e.atom",
        "/feeds/vi/tag/chuyen-doi-so.rss",
    ],
)
def test_feed_paths_round_trip(path: str) -> None:
    """Parsing a feed path and building it again gives the same path."""
    ref, fmt = parse_feed_path(path)
    assert ref.path(fmt) == path
    assert FeedRef.from_id(ref.id) == ref


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/vi/all.xml",
        "/feeds/vi/category/.rss",
        "/feeds/vi/category/Heritage.rss",
        "/feeds/vi/all/x.rss",
        "/feeds/vi/section/x.rss",
        "/feeds/../etc/passwd",
        "/feeds/vi/category/a/b.rss",
    ],
)
def test_malformed_feed_paths_are_unknown(path: str) -> None:
    """A path that is not a feed address raises UnknownFeedError (the server's 404)."""
    with pytest.raises(UnknownFeedError):
        parse_feed_path(path)


def test_paths_config_does_not_enable_are_unknown() -> None:
    """Given config, disabled languages, categories, tags, authors and formats are unknown."""
    config = FeedsConfig(
        languages={"vi": LanguageFeeds(title="Tin")},
        categories=("heritage",),
        tags=("du lịch",),
        authors=False,
        formats=("rss", "atom"),
    )
    parse_feed_path("/feeds/vi/category/heritage.rss", config)
    parse_feed_path("/feeds/vi/tag/du-lich.atom", config)
    for path in (
        "/feeds/ja/all.rss",
        "/feeds/vi/category/sport.rss",
        "/feeds/vi/tag/other.rss",
        "/feeds/vi/author/nguyen-van-duc.rss",
        "/feeds/vi/all.json",
    ):
        with pytest.raises(UnknownFeedError):
            parse_feed_path(path, config)


def test_article_belongs_to_language_category_author_and_tag_feeds() -> None:
    """An article is in its language's all feed, its category, each author and listed tags."""
    config = FeedsConfig(tags=("chuyển đổi số",), author_slugs={"山田太郎": "yamada-taro"})
    refs = feeds_for_article(make_article(), config)
    assert {r.id for r in refs} == {
        "vi/all",
        "vi/category/di-san",
        "vi/author/nguyen-van-duc",
        "vi/author/yamada-taro",
        "vi/tag/chuyen-doi-so",
    }


def test_feeds_for_article_respects_config() -> None:
    """Disabled categories, authors and languages leave the article out of those feeds."""
    config = FeedsConfig(categories=("sport",), authors=False)
    assert {r.id for r in feeds_for_article(make_article(), config)} == {"vi/all"}
    only_ja = FeedsConfig(languages={"ja": LanguageFeeds(title="ニュース")})
    assert feeds_for_article(make_article(), only_ja) == frozenset()


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    """The feeds config forbids unknown keys and checks its values."""
    with pytest.raises(ValidationError):
        FeedsConfig.model_validate({"base_url": "https://p.example", "max_item": 10})
    with pytest.raises(ValidationError):
        FeedsConfig.model_validate({"base_url": "portal.example"})
    with pytest.raises(ValidationError):
        FeedsConfig.model_validate({"content": "everything"})


def test_config_defaults() -> None:
    """Defaults: 50 items, full content, a 60-second public cache, 7 days of tombstones."""
    config = FeedsConfig.model_validate({"base_url": "https://p.example/"})
    assert config.base_url == "https://p.example"
    assert config.max_items == 50
    assert config.content == "full"
    assert config.cache_control == "public, max-age=60"
    assert config.tombstone_days == 7
    assert config.formats == ("rss", "atom", "json")


def test_titles_and_descriptions_come_from_config() -> None:
    """Titles use the language's title, per-category titles and readable author names."""
    config = FeedsConfig(
        languages={
            "vi": LanguageFeeds(
                title="Tin tức",
                description="Mọi tin",
                category_titles={"di-san": "Di sản"},
                category_descriptions={"di-san": "Di sản văn hóa"},
            )
        },
        author_slugs={"山田太郎": "yamada-taro"},
    )
    assert feed_title(FeedRef("vi", "all"), config) == "Tin tức"
    assert feed_description(FeedRef("vi", "all"), config) == "Mọi tin"
    assert feed_title(FeedRef("vi", "category", "di-san"), config) == "Tin tức: Di sản"
    assert feed_description(FeedRef("vi", "category", "di-san"), config) == "Di sản văn hóa"
    assert feed_title(FeedRef("vi", "author", "yamada-taro"), config) == "Tin tức: 山田太郎"
    assert feed_title(FeedRef("ja", "all"), config) == "News (ja)"
