"""Bluesky's pure rules: deterministic record keys (TIDs) and rich-text facets.

A record key derived from the post's idempotency key makes a retried ``createRecord`` land on
the same record; facets address links and tags by UTF-8 byte offsets, as the lexicon wants.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = ["Facet", "find_facets", "tid_for_key"]

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# A TID's top 53 bits below the sign bit are microseconds since the Unix epoch. Derived keys
# fall within 2023, a past and plausible time, so no validator can call them from the future.
_TID_BASE_US = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z
_TID_SPAN_US = 365 * 24 * 3600 * 1_000_000

_URL = re.compile(r"https?://[^\s<>\"]+")
_TAG_MAX = 64
# Characters Bluesky treats as invisible separators inside a tag.
_TAG_BREAKS = frozenset("\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2")


def tid_for_key(key: str) -> str:
    """A valid, deterministic TID for ``key``: 13 base32-sortable characters.

    The 64-bit value keeps the top bit zero, takes its timestamp (53 bits) from a hash of the
    key folded into one year, and its 10-bit clock id from the same hash.
    """
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:16], "big")
    micros = _TID_BASE_US + digest % _TID_SPAN_US
    clock_id = (digest >> 64) & 0x3FF
    value = (micros << 10) | clock_id
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


@dataclass(frozen=True)
class Facet:
    """A link or tag over ``text.encode("utf-8")[byte_start:byte_end]``."""

    byte_start: int
    byte_end: int
    kind: Literal["link", "tag"]
    # The URI for a link, the tag without its ``#`` for a tag.
    value: str


def _trim_url(url: str) -> str:
    """Drop trailing punctuation that ends a sentence rather than the URL."""
    while url:
        last = url[-1]
        # A closing parenthesis belongs to the URL only when it closes one opened inside it.
        unbalanced = last == ")" and url.count("(") < url.count(")")
        if last in ".,;:!?'\"»…" or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def _trim_tag(tag: str) -> str:
    while tag and unicodedata.category(tag[-1]).startswith("P"):
        tag = tag[:-1]
    return tag


def find_facets(text: str) -> list[Facet]:
    """Find the URLs and hashtags in ``text`` and address them by UTF-8 byte offsets.

    Pure: the same text always gives the same facets, in order of position.
    """
    spans: list[tuple[int, int, Literal["link", "tag"], str]] = []
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        if len(url) > len("https://"):
            spans.append((match.start(), match.start() + len(url), "link", url))
    index = 0
    while index < len(text):
        ch = text[index]
        if ch in "#\uff03" and (index == 0 or text[index - 1].isspace()):
            end = index + 1
            while end < len(text) and not text[end].isspace() and text[end] not in _TAG_BREAKS:
                end += 1
            tag = _trim_tag(text[index + 1 : end])
            inside_link = any(s <= index < e for s, e, kind, _ in spans if kind == "link")
            # A tag must hold something besides digits (#1 is a number) and a U+FE0F after
            # the # means "#️⃣", an emoji, not a tag.
            if (
                tag
                and not inside_link
                and not tag.startswith("\ufe0f")
                and not tag.isdigit()
                and len(tag) <= _TAG_MAX
            ):
                spans.append((index, index + 1 + len(tag), "tag", tag))
            index = end
        else:
            index += 1
    facets = []
    for start, end, kind, value in sorted(spans):
        byte_start = len(text[:start].encode("utf-8"))
        byte_end = byte_start + len(text[start:end].encode("utf-8"))
        facets.append(Facet(byte_start, byte_end, kind, value))
    return facets
