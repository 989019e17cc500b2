"""Text fitting: counting per platform and safe cuts, on Vietnamese, Japanese and emoji."""

from __future__ import annotations

import unicodedata

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndication.platforms.facts import FACTS
from syndication.platforms.markup import escape_little_text
from syndication.platforms.telegram import escape_html
from syndication.posts.fitting import (
    ELLIPSIS,
    FittingError,
    TextRules,
    fit_text,
    fits,
    fitted_text,
    measure,
    rules_for,
)
from tests.strategies import post_texts

_GRAPHEME = regex.compile(r"\X")
_HASHTAG = regex.compile(r"(?<![\w#&/])[#\uff03]\w+")
PLATFORMS = tuple(p for p in FACTS if p != "facebook")
URL = "https://nhandan.vn/thoi-su/chuyen-doi-so-903123.html"


def graphemes(text: str) -> list[str]:
    return [str(g) for g in _GRAPHEME.findall(text)]


def test_x_counts_cjk_and_precomposed_vietnamese_as_two() -> None:
    """X weighs code points outside its light ranges 2, so ế (U+1EBF) and 日 each count 2."""
    rules = rules_for("x")
    assert measure("Tiếng Việt", rules) == 12
    assert measure("あ" * 140, rules) == 280
    assert fits("あ" * 140, rules) and not fits("あ" * 141, rules)


def test_x_counts_an_emoji_sequence_as_two_and_a_url_as_23() -> None:
    """A ZWJ family, a flag and a keycap are one emoji each, weighing 2; any URL weighs 23."""
    rules = rules_for("x")
    assert measure("👨\u200d👩\u200d👧\u200d👦🇻🇳1\ufe0f\u20e3", rules) == 6
    assert measure("https://example.com/" + "a" * 200, rules) == 23


def test_x_counts_a_url_it_would_not_link_by_its_characters() -> None:
    """A URL on an unknown TLD is not linked by X, so it weighs its characters, not 23."""
    assert measure("https://portal.example/ja/politics/a-903123", rules_for("x")) == 43


def test_mastodon_counts_graphemes_and_instance_url_weight() -> None:
    """Mastodon counts grapheme clusters and each linked URL as characters_reserved_per_url."""
    rules = rules_for("mastodon", max_characters=1000, characters_reserved_per_url=30)
    assert rules.max_length == 1000
    assert measure("👨\u200d👩\u200d👧\u200d👦 https://example.com/" + "a" * 100, rules) == 32


def test_telegram_counts_utf16_units_and_captions_are_shorter() -> None:
    """Telegram counts UTF-16 code units (an astral emoji is 2) and a caption allows 1024."""
    assert measure("😷a", rules_for("telegram")) == 3
    assert rules_for("telegram", photo_caption=True).max_length == 1024


def test_threads_counts_emoji_by_utf8_bytes() -> None:
    """Threads counts 👍 as 4 and a ZWJ family as its 25 UTF-8 bytes, letters as 1."""
    rules = rules_for("threads")
    assert measure("a👍", rules) == 5
    assert measure("👨\u200d👩\u200d👧\u200d👦", rules) == 25


def test_bluesky_enforces_graphemes_and_bytes() -> None:
    """Bluesky allows 300 graphemes and 3000 UTF-8 bytes; either can be the binding limit."""
    rules = rules_for("bluesky")
    family = "👨\u200d👩\u200d👧\u200d👦"  # 1 grapheme, 25 bytes
    assert fits(family * 120, rules)
    assert not fits(family * 121, rules)
    fitted = fit_text(" ".join([family] * 200) + " " + URL, rules)
    assert fits(fitted.text, rules) and fitted.text.endswith(URL)


def test_text_is_nfc_first() -> None:
    """Decomposed Vietnamese is composed before counting and cutting."""
    fitted = fit_text(unicodedata.normalize("NFD", "Tiếng Việt"), rules_for("bluesky"))
    assert fitted.text == "Tiếng Việt" and fitted.length == 10 and not fitted.truncated


def test_trailing_hashtags_are_dropped_before_prose_is_cut() -> None:
    """When dropping hashtags (last first) is enough, the prose is left whole."""
    text = "a" * 255 + " " + URL + " #One #Two #Three"
    fitted = fit_text(text, rules_for("x"))
    assert fitted.truncated
    assert fitted.text == "a" * 255 + " " + URL
    shorter = fit_text("a" * 250 + " " + URL + " #One #Two #Three", rules_for("x"))
    assert shorter.text.endswith(URL + " #One")


def test_prose_is_cut_on_a_word_boundary_with_an_ellipsis_and_the_url_kept() -> None:
    """Vietnamese prose is cut between words, then the ellipsis, then the URL."""
    prose = "Thủ tướng chủ trì hội nghị về chuyển đổi số quốc gia. " * 10
    fitted = fit_text(f"{prose}\n\n{URL}\n\n#ChuyểnĐổiSố", rules_for("x"))
    head, _, tail = fitted.text.partition(ELLIPSIS)
    assert tail == "\n\n" + URL
    assert prose.startswith(head) and prose[len(head)] in " ,."
    assert fitted.length <= 280


def test_japanese_is_cut_between_characters() -> None:
    """Unspaced Japanese is cut on a character boundary, close to the limit."""
    text = "日本政府はデジタル外交を推進するため、新たな国際協力の枠組みを発表した。" * 20
    fitted = fit_text(text + " " + URL, rules_for("x"))
    assert fitted.length >= 270 and fitted.length <= 280
    assert text.startswith(fitted.text.partition(ELLIPSIS)[0])


def test_an_overlong_word_is_cut_on_graphemes() -> None:
    """A single token longer than the limit is cut inside it, never inside a grapheme."""
    word = "e\u0301" * 400
    fitted = fit_text(word, rules_for("bluesky"))
    assert fitted.length == 300 and fitted.text.endswith("é" + ELLIPSIS)


def test_urls_that_alone_exceed_the_limit_raise() -> None:
    """A URL longer than Bluesky's 300 graphemes cannot be kept intact, so fitting refuses."""
    with pytest.raises(FittingError, match="bluesky"):
        fit_text("title https://example.com/" + "a" * 400, rules_for("bluesky"))


def test_linkedin_escape_backslashes_every_reserved_character() -> None:
    """Each of LinkedIn's reserved characters gets a backslash; other text is unchanged."""
    escaped = r"a\\b\|\{\}\@\[\]\(\)\<\>\#\*\_\~ Việt"
    assert escape_little_text(r"a\b|{}@[]()<>#*_~ Việt") == escaped


def test_telegram_html_escape_escapes_markup_only() -> None:
    """Telegram's HTML mode needs <, > and & escaped; quotes stay as they are."""
    assert escape_html('<b>"A&B"</b>') == '&lt;b&gt;"A&amp;B"&lt;/b&gt;'


def test_linkedin_limit_counts_the_escaped_text() -> None:
    """LinkedIn's length is measured after escaping, so reserved characters count twice."""
    assert measure("(a)", rules_for("linkedin")) == 5


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(post=post_texts(), platform=st.sampled_from(PLATFORMS), limit=st.integers(60, 400))
def test_fitted_text_keeps_every_invariant(
    post: tuple[str, str], platform: str, limit: int
) -> None:
    """Fitted text fits, keeps the URL intact, splits no grapheme and no hashtag."""
    text, url = post
    base = rules_for(platform)
    rules = TextRules(platform, min(limit, base.max_length), base.counting, base.url_length)
    try:
        fitted = fit_text(text, rules)
    except FittingError:
        assert not fits(url, rules)
        return
    nfc = unicodedata.normalize("NFC", text).strip()
    assert fits(fitted.text, rules)
    assert fitted.length == measure(fitted.text, rules) <= rules.max_length
    assert url in fitted.text
    assert fitted.truncated == (fitted.text != nfc)
    source = set(graphemes(nfc))
    assert all(g in source or g == ELLIPSIS or g.isspace() for g in graphemes(fitted.text))
    assert set(_HASHTAG.findall(fitted.text)) <= set(_HASHTAG.findall(nfc))
    if ELLIPSIS in fitted.text and ELLIPSIS not in nfc:
        head = fitted.text.partition(ELLIPSIS)[0]
        assert graphemes(nfc)[: len(graphemes(head))] == graphemes(head)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    post=post_texts(),
    limit=st.integers(20, 600),
    url_length=st.integers(0, 40),
    links=st.integers(0, 3),
)
def test_the_planners_shortcut_gives_the_text_fit_text_gives(
    post: tuple[str, str], limit: int, url_length: int, links: int
) -> None:
    """Mastodon text the length bound lets through unmeasured is what fit_text would give,
    with short and long instance limits and URL weights, and several links."""
    text, url = post
    text = " ".join([text, *[url] * links, "http://a.b"] if links else [text])
    rules = TextRules("mastodon", limit, "mastodon", url_length)
    try:
        expected = fit_text(text, rules).text
    except FittingError:
        with pytest.raises(FittingError):
            fitted_text(text, rules)
        return
    assert fitted_text(text, rules) == expected


def test_the_planners_shortcut_skips_measuring_only_what_surely_fits() -> None:
    """A short Mastodon text comes back as it is (NFC, stripped); a long one is fitted."""
    rules = rules_for("mastodon")
    short = f"  Cafe\u0301 {URL} #Tin  "
    assert fitted_text(short, rules) == unicodedata.normalize("NFC", short).strip()
    long = "chữ " * 200 + URL
    assert fitted_text(long, rules) == fit_text(long, rules).text != long
