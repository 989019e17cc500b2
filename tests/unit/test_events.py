"""The event contract: every validation rule, with the message a newsroom sees."""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndication import events as events_module
from syndication.cleaning import sanitize_html
from syndication.errors import EventValidationError
from syndication.events import (
    ArticlePublished,
    ArticleUnpublished,
    parse_event,
    parse_event_json,
)
from syndication.settings import Limits

EVENT = {
    "id": "evt-0001",
    "type": "article.published",
    "occurred_at": "2026-11-20T09:00:00+07:00",
    "article": {
        "id": "art-1-vi",
        "url": "https://portal.example/vi/heritage/hoi-an",
        "language": "vi",
        "title": "Phố cổ Hội An",
        "summary": "Đèn lồng và sông Hoài.",
        "content_html": "<p>Đêm rằm.</p>",
        "category": "heritage",
        "tags": ["hoi-an"],
        "authors": [{"name": "Nguyễn Văn An", "url": "https://portal.example/authors/an"}],
        "source": {"name": "Báo Nhân Dân", "url": "https://nhandan.example/"},
        "image": {"url": "https://img.example/a.jpg", "caption": "Đèn lồng", "type": "image/jpeg"},
        "published_at": "2026-11-20T08:00:00+07:00",
        "updated_at": None,
        "translation_of": None,
    },
}


def event(**changes: object) -> dict[str, object]:
    """A copy of the valid event with dotted-path changes applied (None deletes)."""
    doc = copy.deepcopy(EVENT)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target: dict[str, object] = doc
        for p in parents:
            target = target[p]  # type: ignore[assignment]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return doc


def errors_of(raw: object, limits: Limits | None = None) -> list[str]:
    with pytest.raises(EventValidationError) as info:
        parse_event(raw, limits)
    return [str(e) for e in info.value.errors]


def test_valid_event_parses_into_typed_models() -> None:
    """A well-formed publish event becomes an ArticlePublished with aware datetimes."""
    parsed = parse_event(event())
    assert isinstance(parsed.event, ArticlePublished)
    assert parsed.event.article.published_at.utcoffset() is not None
    assert parsed.event.article.authors[0].name == "Nguyễn Văn An"
    assert parsed.warnings == ()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"article__image__url": "ftp://img.example/a.jpg"},
            "article.image.url: not an absolute http(s) URL",
        ),
        ({"article__url": "/vi/heritage/hoi-an"}, "article.url: not an absolute http(s) URL"),
        (
            {"article__authors": [{"name": "A", "url": "javascript:alert(1)"}]},
            "article.authors[0].url: not an absolute http(s) URL",
        ),
        ({"article__title": None}, "article.title: required"),
        ({"article__title": "   "}, "article.title: must not be empty"),
        (
            {"article__published_at": "2026-11-20T08:00:00"},
            "article.published_at: naive time: RFC 3339 needs an offset such as Z or +07:00",
        ),
        (
            {"article__published_at": "20/11/2026"},
            "article.published_at: not an RFC 3339 date-time",
        ),
        (
            {"article__published_at": 1763600000},
            "article.published_at: expected an RFC 3339 date-time string",
        ),
        ({"occurred_at": "2026-13-45T00:00:00Z"}, "occurred_at: not a valid date-time"),
        (
            {"article__published_at": "0001-01-01T00:00:00+14:00"},
            "article.published_at: not a plausible date: years 1900 to 2200",
        ),
        (
            {"article__updated_at": "9999-12-31T23:59:59-14:00"},
            "article.updated_at: not a plausible date: years 1900 to 2200",
        ),
        ({"article__language": "english"}, "article.language: not a valid BCP 47 language tag"),
        ({"article__language": "en_US"}, "article.language: not a valid BCP 47 language tag"),
        ({"article__id": "has space"}, "article.id: not an identifier"),
        ({"article__title": 42}, "article.title: expected a string"),
        ({"article__tags": "heritage"}, "article.tags: expected an array"),
        (
            {"article__image__type": "text/html"},
            "article.image.type: not an image media type (image/...)",
        ),
        ({"article__image__width": -5}, "article.image.width: must be greater than 0"),
        ({"article": None}, "article: required"),
        ({"id": None}, "id: required"),
    ],
)
def test_each_rule_names_its_field(changes: dict[str, object], expected: str) -> None:
    """Every invalid field is reported with its dotted path and what is wrong."""
    messages = errors_of(event(**changes))
    assert any(m.startswith(expected) for m in messages), messages


def test_several_errors_are_reported_together() -> None:
    """A newsroom sees every problem of an event at once, not one per attempt."""
    messages = errors_of(event(article__url="x", article__language="??", article__title=None))
    paths = {m.split(":")[0] for m in messages}
    assert paths == {"article.url", "article.language", "article.title"}


def test_unknown_type_is_rejected_with_the_allowed_types() -> None:
    """An unknown top-level type is rejected, listing the types that exist."""
    [message] = errors_of(event(type="article.deleted"))
    assert message.startswith("type: unknown event type 'article.deleted'")
    assert "article.unpublished" in message


def test_sizes_are_bounded_by_settings() -> None:
    """Title, summary, content, tags and authors are capped by the limits in settings."""
    limits = Limits(title=10, summary=5, content_html=20, tags=2, authors=1)
    messages = errors_of(
        event(
            article__title="x" * 11,
            article__summary="y" * 6,
            article__content_html="<p>" + "z" * 30 + "</p>",
            article__tags=["a", "b", "c"],
            article__authors=[{"name": "A"}, {"name": "B"}],
        ),
        limits,
    )
    text = "\n".join(messages)
    for path in (
        "article.title: too long",
        "article.summary: too long",
        "article.content_html: too long",
        "article.tags: too many",
        "article.authors: too many",
    ):
        assert path in text


def test_oversized_document_is_rejected_before_parsing() -> None:
    """A JSON document over the byte limit is refused without being decoded."""
    with pytest.raises(EventValidationError, match=r"^event: too large"):
        parse_event_json("{" + " " * 2000 + "}", Limits(event_bytes=1000))


def test_text_is_normalised_to_nfc() -> None:
    """Vietnamese typed with combining marks (NFD) is stored composed (NFC)."""
    nfd_title = unicodedata.normalize("NFD", "Đại Nội Huế rực rỡ")
    assert nfd_title != "Đại Nội Huế rực rỡ"
    parsed = parse_event(event(article__title=nfd_title))
    assert parsed.event.article.title == "Đại Nội Huế rực rỡ"


def test_xml_illegal_characters_are_removed_and_counted() -> None:
    """Control characters XML 1.0 forbids are dropped and each field reports a warning."""
    parsed = parse_event(event(article__title="Hội\x00 An\x0b", article__summary="ok\ufffe"))
    assert parsed.event.article.title == "Hội An"
    assert parsed.event.article.summary == "ok"
    assert "article.title: removed 2 character(s) not allowed in XML" in parsed.warnings
    assert "article.summary: removed 1 character(s) not allowed in XML" in parsed.warnings


def test_html_is_sanitised_keeping_figures_images_and_links() -> None:
    """Scripts and event handlers go; images, links, figures and captions stay."""
    html = (
        '<p onclick="steal()">Hi<script>alert(1)</script></p>'
        '<figure><img src="https://img.example/a.jpg" alt="Đèn" onerror="x()">'
        "<figcaption>Đèn lồng</figcaption></figure>"
        '<a href="javascript:alert(1)">bad</a><a href="https://x.example/">good</a>'
        "<iframe src='https://evil.example'></iframe><style>p{}</style>"
    )
    clean = parse_event(event(article__content_html=html)).event.article.content_html  # type: ignore[union-attr]
    assert "script" not in clean and "onclick" not in clean and "onerror" not in clean
    assert "iframe" not in clean and "<style" not in clean and "javascript:" not in clean
    assert '<img src="https://img.example/a.jpg" alt="Đèn">' in clean
    assert "<figcaption>Đèn lồng</figcaption>" in clean
    assert 'href="https://x.example/"' in clean


def test_unknown_fields_are_ignored_and_not_stored() -> None:
    """Extra fields a CMS sends are dropped, at the top and inside the article."""
    parsed = parse_event(event(cms_internal={"x": 1}, article__editor_notes="secret draft"))
    stored = json.dumps(parsed.to_json())
    assert "cms_internal" not in stored and "editor_notes" not in stored


def test_unpublish_needs_only_the_article_id() -> None:
    """An unpublish carries just the article id."""
    parsed = parse_event(
        {
            "id": "e2",
            "type": "article.unpublished",
            "occurred_at": "2026-11-20T10:00:00Z",
            "article": {"id": "art-1-vi"},
        }
    )
    assert isinstance(parsed.event, ArticleUnpublished)
    assert parsed.event.article.id == "art-1-vi"


def test_language_tags_are_canonicalised() -> None:
    """A valid BCP 47 tag in any case is stored in its canonical form."""
    assert parse_event(event(article__language="ZH-hant-TW")).event.article.language == "zh-Hant-TW"  # type: ignore[union-attr]


def test_category_becomes_a_slug() -> None:
    """Categories are compared as slugs: 'Di sản' and 'di-san' are the same category."""
    assert parse_event(event(article__category="Di sản")).event.article.category == "di-san"  # type: ignore[union-attr]


def test_sanitize_html_is_idempotent() -> None:
    """Cleaning clean HTML again changes nothing (stored articles are re-read safely)."""
    once = sanitize_html('<p>a<img src="https://x/y.png" alt="c"></p><a href="https://a/">b</a>')
    assert sanitize_html(once) == once


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def _mutations() -> st.SearchStrategy[dict[str, object]]:
    keys = ["id", "type", "occurred_at", "article"]
    article_keys = list(EVENT["article"])  # type: ignore[arg-type]
    return st.builds(
        lambda top, art: {
            **{k: v for k, v in EVENT.items() if k not in top},
            **top,
            "article": {**EVENT["article"], **art},
        },  # type: ignore[dict-item]
        st.dictionaries(st.sampled_from(keys[:3]), json_values, max_size=2),
        st.dictionaries(st.sampled_from(article_keys), json_values, max_size=3),
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, _mutations()))
def test_arbitrary_json_never_crashes_and_errors_name_a_field(raw: object) -> None:
    """Whatever JSON arrives, the outcome is a valid event or field-named errors, never a crash."""
    try:
        parse_event(raw)
    except EventValidationError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.path and error.message
            assert str(error).startswith(error.path + ": ")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_any_title_text_is_stored_as_nfc_without_xml_illegal_characters(title: str) -> None:
    """Any title either validates to NFC text that XML accepts, or is rejected by name."""
    try:
        parsed = parse_event(event(article__title=title))
    except EventValidationError as exc:
        assert all(e.path.startswith("article.title") for e in exc.errors)
        return
    stored = parsed.event.article.title  # type: ignore[union-attr]
    assert unicodedata.normalize("NFC", stored) == stored
    assert all(
        c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000
        for c in stored
    )


def test_warnings_are_bounded_however_many_fields_were_cleaned() -> None:
    """Thousands of cleaned strings give the first warnings and a count, not thousands."""
    parsed = parse_event({**event(), "extra": ["a\x00"] * 1_000})
    assert len(parsed.warnings) == 21
    assert parsed.warnings[0] == "extra[0]: removed 1 character(s) not allowed in XML"
    assert parsed.warnings[-1] == "event: 980 more warning(s) not listed"


@given(st.from_regex(events_module._PLAIN_URL, fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_a_url_the_fast_check_takes_is_one_urlsplit_takes(url: str) -> None:
    """The URL fields' fast path accepts only what the full check (urlsplit: an http(s)
    scheme, a host, no white space) accepts."""
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname
    assert not re.search(r"\s", url)
