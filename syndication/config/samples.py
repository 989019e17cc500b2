"""Sample articles, one per language, that ``config check`` renders each channel's template
against: real-looking text (diacritics, CJK, a long summary) so that the fitted length shown
is the one a real post of that language would have."""

from __future__ import annotations

from syndication.events import Article

__all__ = ["sample_article"]

_TEXTS: dict[str, dict[str, object]] = {
    "vi": {
        "title": "Hội An: phố cổ giữ gìn nghề làm đèn lồng qua bốn thế hệ",
        "summary": (
            "Những người thợ ở phố cổ Hội An vẫn làm đèn lồng bằng tay theo cách của ông bà, "
            "từ khung tre đến lớp lụa nhuộm màu, và truyền nghề cho lớp trẻ."
        ),
        "category": "heritage",
        "tags": ["Hội An", "di sản", "làng nghề"],
        "authors": [{"name": "Nguyễn Thị Hương"}],
    },
    "ja": {
        "title": "ホイアン旧市街、四世代にわたり受け継がれる提灯づくり",
        "summary": (
            "ホイアンの職人たちは、竹の骨組みから染めた絹まで、祖父母の代からの方法で"
            "提灯を手作りし、若い世代にその技を伝えている。"
        ),
        "category": "heritage",
        "tags": ["ホイアン", "世界遺産"],
        "authors": [{"name": "佐藤 花子"}],
    },
    "en": {
        "title": "Hoi An's lantern makers keep a four-generation craft alive",
        "summary": (
            "In Hoi An's old town, artisans still make lanterns by hand the way their "
            "grandparents did, from the bamboo frame to the dyed silk, and teach the craft "
            "to the young."
        ),
        "category": "heritage",
        "tags": ["Hoi An", "heritage", "crafts"],
        "authors": [{"name": "Tran Minh Anh"}],
    },
}


def sample_article(language: str) -> Article:
    """A sample article in ``language`` (English text for a language without a sample)."""
    primary = language.split("-", 1)[0].lower()
    text = _TEXTS.get(primary, _TEXTS["en"])
    return Article.model_validate(
        {
            "id": f"sample-{primary}",
            "url": f"https://portal.example/{primary}/heritage/hoi-an-lanterns",
            "language": language,
            "published_at": "2026-11-20T08:00:00+07:00",
            "source": {"name": "Portal", "url": "https://portal.example/"},
            **text,
        }
    )
