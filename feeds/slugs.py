"""Stable, readable URL slugs for author, category and tag names.

A slug is part of a feed's public address, so it must never change for the same name: it is a
pure function of the NFC name (and the configured overrides). Latin-script names, Vietnamese
included, are transliterated (``"Nguyễn Văn Đức"`` → ``"nguyen-van-duc"``). Names written
mostly in other scripts (Japanese, Chinese, Arabic, ...) would transliterate into something
unreadable and, for kanji, ambiguous (Chinese readings of Japanese names), so they get a stable
opaque id ``a-<8 hex>`` unless config gives a readable slug for them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from slugify import slugify

__all__ = ["is_latin_name", "slug_for"]

_VALID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_EMPTY: Mapping[str, str] = {}


def _is_latin_letter(char: str) -> bool:
    if char.isascii():
        return True
    return unicodedata.name(char, "").startswith("LATIN")


def is_latin_name(name: str) -> bool:
    """Whether at least half of the letters in ``name`` are Latin script (or it has none)."""
    letters = [c for c in name if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if _is_latin_letter(c))
    return latin * 2 >= len(letters)


def _fallback(name: str) -> str:
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"a-{digest[:8]}"


def slug_for(name: str, overrides: Mapping[str, str] = _EMPTY) -> str:
    """Return the slug of ``name``: the configured override, a transliteration, or a hash id.

    Overrides are looked up by the NFC name, so a decomposed (NFD) spelling of a configured
    name finds its slug too. The result always matches ``[a-z0-9]+(-[a-z0-9]+)*``.
    """
    nfc = unicodedata.normalize("NFC", name).strip()
    override = overrides.get(nfc)
    if override is None:
        override = overrides.get(name)
    if override is not None:
        slug = _slugified(override)
        if slug:
            return slug
    return _automatic(nfc)


@lru_cache(maxsize=4096)
def _slugified(override: str) -> str:
    return str(slugify(override))


@lru_cache(maxsize=65_536)
def _automatic(nfc: str) -> str:
    # Cached: ingest asks for the same bylines and tags over and over, and transliteration
    # is the most expensive step of routing an article to its feeds.
    if is_latin_name(nfc):
        # slugify (via unidecode) maps đ/Đ to d and drops Vietnamese tone marks.
        slug = slugify(nfc)
        if slug and _VALID.fullmatch(slug):
            return slug
    return _fallback(nfc)
