"""Bluesky facets and record keys: pure functions, checked on multilingual text."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from syndication.platforms.bluesky import Facet, find_facets, tid_for_key

TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")


def sliced(text: str, facet: Facet) -> str:
    return text.encode("utf-8")[facet.byte_start : facet.byte_end].decode("utf-8")


def test_vietnamese_offsets_count_bytes_not_characters() -> None:
    """Combining Vietnamese letters take several bytes, and the offsets count them."""
    text = "Thời tiết hôm nay https://vnexpress.example/thoi-tiet.html rất đẹp"
    (facet,) = find_facets(text)
    assert facet.kind == "link"
    assert facet.byte_start == len("Thời tiết hôm nay ".encode())
    assert sliced(text, facet) == "https://vnexpress.example/thoi-tiet.html"


def test_japanese_and_emoji_before_a_link() -> None:
    """Three-byte kana and four-byte emoji before a URL shift its byte offsets."""
    text = "速報🚨👨‍👩‍👧 詳細は https://news.example/ja/1 で"
    (facet,) = find_facets(text)
    assert facet.value == "https://news.example/ja/1"
    assert sliced(text, facet) == facet.value


def test_trailing_punctuation_is_not_part_of_the_url() -> None:
    """A sentence's full stop or closing parenthesis stays outside the link."""
    text = "Xem (https://example.com/a_(b)). Hết."
    (facet,) = find_facets(text)
    assert facet.value == "https://example.com/a_(b)"


def test_hashtags_in_several_scripts_become_tag_facets() -> None:
    """Tags in Vietnamese, Japanese and Latin lose their # and end before punctuation."""
    text = "#ThờiSự tin #ニュース, #news! #2024 a#b"
    tags = [(f.value, sliced(text, f)) for f in find_facets(text) if f.kind == "tag"]
    assert tags == [("ThờiSự", "#ThờiSự"), ("ニュース", "#ニュース"), ("news", "#news")]


def test_a_fragment_inside_a_url_is_not_a_tag() -> None:
    """The #section of a URL stays part of the link."""
    text = "https://example.com/page #real"
    kinds = [(f.kind, f.value) for f in find_facets(text)]
    assert kinds == [("link", "https://example.com/page"), ("tag", "real")]


url_strategy = st.builds(
    lambda host, path: f"https://{host}.example/{path}",
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_\-/]{0,20}", fullmatch=True),
)
words = st.text(
    alphabet=st.sampled_from(list("aăâđêôơư thờiếtニュース速報🌧️🇻🇳👨‍👩‍👧 \n")), max_size=20
)


@given(st.lists(st.tuples(words, url_strategy), min_size=1, max_size=4), words)
def test_every_link_facet_slices_to_its_url(parts: list[tuple[str, str]], tail: str) -> None:
    """For any mix of multilingual text and URLs, each link's UTF-8 slice is the URL itself."""
    text = "".join(f"{prefix} {url} " for prefix, url in parts) + tail
    links = [f for f in find_facets(text) if f.kind == "link"]
    assert [f.value for f in links] == [url for _, url in parts]
    for facet in links:
        assert sliced(text, facet) == facet.value


@given(st.text(max_size=120))
def test_facets_always_fall_on_character_boundaries(text: str) -> None:
    """Whatever the text, every facet is an in-range, decodable, ordered UTF-8 slice."""
    encoded = text.encode("utf-8", "surrogatepass")
    previous_end = 0
    for facet in find_facets(text):
        assert previous_end <= facet.byte_start < facet.byte_end <= len(encoded)
        encoded[facet.byte_start : facet.byte_end].decode("utf-8", "surrogatepass")
        previous_end = facet.byte_end


@given(st.text(min_size=1, max_size=60))
def test_tid_for_key_is_a_valid_deterministic_tid(key: str) -> None:
    """Any key gives a syntactically valid TID, and always the same one."""
    tid = tid_for_key(key)
    assert TID.fullmatch(tid)
    assert tid == tid_for_key(key)


def test_different_keys_give_different_tids() -> None:
    """Distinct keys do not collide in practice."""
    tids = {tid_for_key(f"article-{n}:bluesky") for n in range(2000)}
    assert len(tids) == 2000
