"""Post text from templates: context, hashtags, UTM links and sandboxing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from syndication.events import Article
from syndication.posts.templating import (
    DEFAULT_TEMPLATE,
    TemplateError,
    UtmConfig,
    add_utm,
    check_template,
    hashtag_from_tag,
    hashtags_from_tags,
    render_post_text,
)
from tests.strategies import articles

LINK = "https://portal.example/vi/thoi-su/903123"


def article(**overrides: object) -> Article:
    raw: dict[str, object] = {
        "id": "nd-903123-vi",
        "url": LINK,
        "language": "vi",
        "title": "Chuyển đổi số quốc gia",
        "summary": "Thủ tướng chủ trì hội nghị.",
        "category": "thoi-su",
        "tags": ["chuyển đổi số", "kinh-tế", "2025"],
        "authors": [{"name": "Nguyễn Văn An"}],
        "source": {"name": "Báo Nhân dân"},
        "published_at": "2025-08-24T08:00:00+07:00",
    }
    raw.update(overrides)
    return Article.model_validate(raw)


def test_default_template_gives_title_summary_link_and_hashtags() -> None:
    """The default template lays out title, summary, link and hashtags in paragraphs."""
    text = render_post_text(DEFAULT_TEMPLATE, article(), link=LINK)
    assert text == (
        f"Chuyển đổi số quốc gia\n\nThủ tướng chủ trì hội nghị.\n\n{LINK}\n\n#ChuyểnĐổiSố #KinhTế"
    )


def test_empty_fields_leave_no_blank_runs() -> None:
    """Without a summary or tags the default template has no empty paragraphs."""
    text = render_post_text(DEFAULT_TEMPLATE, article(summary="", tags=[]), link=LINK)
    assert text == f"Chuyển đổi số quốc gia\n\n{LINK}"


def test_template_sees_authors_source_category_and_language() -> None:
    """The context carries authors' names, the source, category, language and given hashtags."""
    template = (
        "{{ authors | join(', ') }} / {{ source }} / {{ category }} / {{ language }}"
        " / {{ hashtags | join(' ') }}"
    )
    text = render_post_text(template, article(), link=LINK, hashtags=["#Tin"])
    assert text == "Nguyễn Văn An / Báo Nhân dân / thoi-su / vi / #Tin"


def test_hashtags_keep_vietnamese_and_japanese_letters() -> None:
    """Tags become CamelCase hashtags without spaces or hyphens, keeping every script's letters."""
    assert hashtag_from_tag("chuyển đổi số") == "#ChuyểnĐổiSố"
    assert hashtag_from_tag("digital-transformation") == "#DigitalTransformation"
    assert hashtag_from_tag("外交") == "#外交"
    assert hashtag_from_tag("2025") is None
    assert hashtags_from_tags(["AI", "ai", "Hà Nội"]) == ("#AI", "#HàNội")


def test_add_utm_appends_and_replaces_campaign_parameters() -> None:
    """UTM parameters are added, replacing old ones, keeping other query text and the fragment."""
    utm = UtmConfig(source="mastodon", medium="social", campaign="tin tức")
    url = add_utm("https://portal.example/a?id=1&utm_source=old&q=a%20b#top", utm)
    assert url == (
        "https://portal.example/a?id=1&q=a%20b&utm_source=mastodon&utm_medium=social"
        "&utm_campaign=tin%20t%E1%BB%A9c#top"
    )
    assert add_utm(LINK, None) == LINK


def test_check_template_reports_the_line() -> None:
    """A syntax error is described with its line; a valid template gives None."""
    problem = check_template("{{ title }}\n{% if x %}")
    assert problem is not None and problem.startswith("line 2: Unexpected end of template")
    assert check_template(DEFAULT_TEMPLATE) is None


def test_undefined_names_fail_naming_the_channel() -> None:
    """A typo in a variable name raises a TemplateError that names the channel."""
    with pytest.raises(TemplateError, match=r"x-vi\.template: 'titel' is undefined"):
        render_post_text("{{ titel }}", article(), link=LINK, channel="x-vi")


def test_the_sandbox_blocks_internals_and_huge_strings() -> None:
    """Templates cannot reach Python internals or build enormous strings."""
    with pytest.raises(TemplateError):
        render_post_text("{{ title.__class__.__mro__ }}", article(), link=LINK)
    with pytest.raises(TemplateError, match="too long"):
        render_post_text("{{ title * 10000000 }}", article(), link=LINK)


def test_markup_is_not_escaped() -> None:
    """Post text is plain text: & and < stay as written (adapters escape for their markup)."""
    text = render_post_text("{{ title }}", article(title="A & B <C>"), link=LINK)
    assert text == "A & B <C>"


@settings(max_examples=60, deadline=None)
@given(item=articles())
def test_default_template_renders_any_article(item: Article) -> None:
    """Every valid article renders with the default template, NFC, with its link and title."""
    text = render_post_text(DEFAULT_TEMPLATE, item, link=str(item.url))
    assert str(item.url) in text
    assert item.title.split()[0] in text
