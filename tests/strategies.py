"""Hypothesis strategies shared by the test suite.

Text is drawn from Vietnamese (precomposed and stacked diacritics), Japanese (kanji, kana,
no spaces), emoji (ZWJ sequences, flags, skin tones, keycaps) and plain ASCII, because those
are what break counting and cutting.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from syndication.events import Article, clean_text

VIETNAMESE_WORDS = (
    "Thủ",
    "tướng",
    "chuyển",
    "đổi",
    "số",
    "quốc",
    "gia",
    "hội",
    "nghị",
    "Việt",
    "Nam",
    "kinh",
    "tế",
    "người",
    "dân",
    "Hà",
    "Nội",
    "Đà",
    "Nẵng",
    "phát",
    "triển",
    "ưu",
    "tiên",
    "nhấn",
    "mạnh",
    "dữ",
    "liệu",
    "hạ",
    "tầng",
    "Báo",
    "Nhân",
    "dân,",
    "đạt",
    "kết",
    "quả.",
)
JAPANESE_RUNS = (
    "日本政府は",
    "デジタル外交を",
    "推進するため、",
    "新たな",
    "国際協力の",
    "枠組みを",
    "発表した。",
    "東京",
    "経済",
    "ベトナムとの",
    "関係",
    "強化",
    "首相が",
    "会談し、",
)
EMOJI = (
    "😷",
    "👍",
    "👍🏽",
    "👨\u200d👩\u200d👧\u200d👦",
    "🇻🇳",
    "🇯🇵",
    "1\ufe0f\u20e3",
    "❤\ufe0f",
    "🏳\ufe0f\u200d🌈",
    "🧑\u200d💻",
    "©",
)
ASCII_WORDS = ("the", "prime", "minister", "digital", "transformation", "summit", "AI", "2025")
LANGUAGES = ("vi", "en", "ja", "fr", "zh-Hant", "ko")
CATEGORIES = ("politics", "economy", "thoi-su", "culture", "the-gioi")
TAGS = (
    "chuyển đổi số",
    "digital-transformation",
    "diplomacy",
    "外交",
    "kinh tế",
    "AI",
    "Hà Nội",
    "2025",
    "climate change",
)
TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Ho_Chi_Minh",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
)


def words() -> st.SearchStrategy[str]:
    """One word or run: Vietnamese, Japanese, emoji, ASCII, or a decomposed Vietnamese word."""
    return st.one_of(
        st.sampled_from(VIETNAMESE_WORDS),
        st.sampled_from(JAPANESE_RUNS),
        st.sampled_from(EMOJI),
        st.sampled_from(ASCII_WORDS),
        st.sampled_from(VIETNAMESE_WORDS).map(lambda w: unicodedata.normalize("NFD", w)),
        st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
            min_size=1,
            max_size=12,
        ),
    )


def prose(min_words: int = 1, max_words: int = 80) -> st.SearchStrategy[str]:
    """Sentences mixing scripts, joined by spaces (and sometimes by nothing, as Japanese is)."""
    return st.lists(
        st.tuples(words(), st.sampled_from((" ", " ", " ", "", "\n"))),
        min_size=min_words,
        max_size=max_words,
    ).map(lambda parts: "".join(w + sep for w, sep in parts).strip() or "x")


def urls() -> st.SearchStrategy[str]:
    """Article URLs, some very long, some with queries and fragments."""
    path = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=120)
    return st.builds(
        lambda host, lang, slug, query: f"https://{host}/{lang}/{slug}{query}",
        st.sampled_from(("portal.example", "nhandan.vn", "example.com", "news.example.org")),
        st.sampled_from(LANGUAGES),
        path,
        st.sampled_from(("", "?utm_source=x&utm_medium=social", "#section-2", "?a=1&b=(2)")),
    )


def hashtags() -> st.SearchStrategy[str]:
    """Hashtags in several scripts."""
    return st.sampled_from(
        ("#ChuyểnĐổiSố", "#KinhTế", "#外交", "#AI", "#Việt_Nam", "#デジタル", "#news2025")
    )


def post_texts() -> st.SearchStrategy[tuple[str, str]]:
    """A post text as templates make it, and the article URL inside it."""
    return st.builds(
        lambda title, summary, url, tags: (
            f"{title}\n\n{summary}\n\n{url}" + ("\n\n" + " ".join(tags) if tags else ""),
            url,
        ),
        prose(1, 20),
        prose(1, 120),
        urls(),
        st.lists(hashtags(), max_size=6, unique=True),
    )


def aware_datetimes(
    min_value: datetime = datetime(2020, 1, 1),
    max_value: datetime = datetime(2032, 12, 31),
) -> st.SearchStrategy[datetime]:
    """Aware datetimes in UTC, whole seconds (what JSON events and Redis scores carry)."""
    return st.datetimes(min_value=min_value, max_value=max_value).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    )


def _offset(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


@st.composite
def articles(draw: st.DrawFn, language: str | None = None) -> Article:
    """A valid :class:`Article` with multilingual text, tags, authors and an offset time."""
    lang = language or draw(st.sampled_from(LANGUAGES))
    n = draw(st.integers(1, 999_999))
    category = draw(st.sampled_from(CATEGORIES))
    offset = _offset(draw(st.sampled_from((0, 420, 540, 60, -300, 330))))
    published = draw(aware_datetimes()).astimezone(offset)
    updated = draw(st.none() | st.integers(60, 86_400 * 3))
    raw: dict[str, object] = {
        "id": f"art-{n}-{lang.lower()}",
        "url": f"https://portal.example/{lang.lower()}/{category}/story-{n}",
        "language": lang,
        "title": clean_text(draw(prose(1, 15)))[0][:400].strip() or "Tin mới",
        "summary": clean_text(draw(prose(1, 60)))[0],
        "category": category,
        "tags": draw(st.lists(st.sampled_from(TAGS), max_size=5, unique=True)),
        "authors": [
            {"name": name}
            for name in draw(
                st.lists(st.sampled_from(("Nguyễn Văn An", "山田太郎", "Jane Doe")), max_size=2)
            )
        ],
        "source": draw(st.sampled_from((None, {"name": "Báo Nhân dân"}))),
        "published_at": published.isoformat(),
        "updated_at": None
        if updated is None
        else (published + timedelta(seconds=updated)).isoformat(),
        "translation_of": draw(st.sampled_from((None, f"art-{n}-vi"))),
    }
    return Article.model_validate(raw)
