"""Fit post text to a platform's length rules (pure).

Each platform counts differently, so :class:`TextRules` names a *counting* as well as a
limit: X's weighted length (twitter-text v3, via ``twitter-text-parser``), Mastodon's
graphemes with every URL as ``characters_reserved_per_url``, Bluesky's graphemes and UTF-8
bytes, Telegram's and Facebook's UTF-16 code units, Threads' characters with emoji counted by
their UTF-8 bytes, LinkedIn's UTF-16 units after its little-text-format escaping.

:func:`fit_text` normalises to NFC, then, while the text is too long: drops trailing hashtags
(last first), then cuts the prose at the last word boundary that fits (grapheme boundary for
unspaced scripts such as Japanese, or for an overlong word) and appends ``…``. It never cuts
inside a URL, hashtag, mention or grapheme cluster (so combining marks and ZWJ emoji stay
whole), and every URL of the text survives intact after the cut.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

import regex

from syndication.platforms.facts import Counting, facts_for
from syndication.platforms.markup import to_commentary

__all__ = [
    "ELLIPSIS",
    "Counting",
    "FittedText",
    "FittingError",
    "TextRules",
    "fit_text",
    "fits",
    "fitted_text",
    "measure",
    "rules_for",
]

ELLIPSIS = "…"


# URLs with a scheme, stopping at whitespace, quotes, angle brackets and CJK punctuation (a
# Japanese sentence often runs straight on after a link: "詳細はhttps://…/a。").
_URL = regex.compile(r"""https?://[^\s<>"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+""")
_URL_TRAILING = ".,;:!?'\u2019\u201d\u00bb)"
_HASHTAG = regex.compile(r"(?<![\w#&/])[#\uff03]\w+")
_MENTION = regex.compile(r"(?<![\w@/])@\w+(?:[.-]\w+)*(?:@\w+(?:[.-]\w+)+)?")
_GRAPHEME = regex.compile(r"\X")
_WORD_BOUNDARY = regex.compile(r"(?V1w)\b")
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3\ufe0f]")
# Punctuation not worth keeping right before the ellipsis.
_TRIM_BEFORE_ELLIPSIS = " \t\r\n,;:\u3001\uff0c\u30fb-\u2013\u2014(\uff08[\u300c\u300e"
# When the best word boundary would give up this many more characters than the best grapheme
# boundary, the text is one overlong token (a long compound, a run of unspaced script): cut
# on graphemes instead.
_LONG_WORD = 24


class FittingError(ValueError):
    """The text cannot be fitted: its URLs alone exceed the platform's limit."""


@dataclass(frozen=True)
class TextRules:
    """How one platform measures a post and how much it allows."""

    platform: str
    max_length: int
    counting: Counting
    # Mastodon: what each URL counts, whatever its length.
    url_length: int = 23
    # Bluesky: a second limit in UTF-8 bytes.
    max_bytes: int | None = None


@dataclass(frozen=True)
class FittedText:
    """Text that fits, its length as the platform counts it, and whether anything was cut."""

    text: str
    length: int
    truncated: bool


def rules_for(
    platform: str,
    *,
    photo_caption: bool = False,
    max_characters: int | None = None,
    characters_reserved_per_url: int | None = None,
) -> TextRules:
    """The rules of ``platform``.

    Args:
        photo_caption: Telegram text sent as a photo caption (1024 instead of 4096).
        max_characters: Mastodon instance's ``configuration.statuses.max_characters``.
        characters_reserved_per_url: Mastodon instance's URL weight.
    """
    text = facts_for(platform).text
    if photo_caption and text.caption_length is not None:
        return TextRules(platform, text.caption_length, text.counting)
    return TextRules(
        platform,
        max_characters or text.max_length,
        text.counting,
        url_length=text.url_length
        if characters_reserved_per_url is None
        else characters_reserved_per_url,
        max_bytes=text.max_bytes,
    )


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


@cache
def _twitter_text() -> Any:
    # twitter-text compiles its emoji tables on import (about half a second): imported when
    # text is first fitted, not when a command that never fits text starts.
    import twitter_text

    return twitter_text


def extract_urls_with_indices(text: str) -> list[dict[str, Any]]:
    """URLs as twitter-text finds them (the extractor Mastodon and X use)."""
    found: list[dict[str, Any]] = _twitter_text().extract_urls_with_indices(text)
    return found


@lru_cache(maxsize=64)
def _links(text: str) -> tuple[tuple[int, int, str], ...]:
    """twitter-text's URLs in ``text`` as ``(start, end, url)``, for the last few texts.

    Fitting one text asks for them up to three times (its entities, its lower bound, its
    Mastodon length), and twitter-text's extractor is the slowest step of fitting.
    """
    return tuple(
        (int(e["indices"][0]), int(e["indices"][1]), str(e["url"]))
        for e in extract_urls_with_indices(text)
    )


def _mastodon(text: str, url_length: int) -> int:
    # Mastodon counts grapheme clusters after replacing each URL it links (scheme required)
    # by a fixed-width placeholder; it finds URLs with twitter-text's extractor, as we do.
    total, pos = 0, 0
    for start, end, url in _links(text):
        if not url.lower().startswith(("http://", "https://")):
            continue
        total += _graphemes(text[pos:start]) + url_length
        pos = end
    return total + _graphemes(text[pos:])


def _threads(text: str) -> int:
    # Threads counts an emoji by its UTF-8 bytes (👍 is 4, a family ZWJ sequence 25).
    return sum(len(g.encode()) if _EMOJI.search(g) else _utf16(g) for g in _GRAPHEME.findall(text))


def measure(text: str, rules: TextRules) -> int:
    """The length of ``text`` as ``rules.platform`` counts it (``text`` should be NFC)."""
    if rules.counting == "x":
        return int(_twitter_text().parse_tweet(text).weightedLength)
    if rules.counting == "mastodon":
        return _mastodon(text, rules.url_length)
    if rules.counting == "graphemes":
        return _graphemes(text)
    if rules.counting == "threads":
        return _threads(text)
    if rules.counting == "linkedin":
        return _utf16(to_commentary(text))
    return _utf16(text)


def fits(text: str, rules: TextRules) -> bool:
    """True when ``text`` is within every limit of ``rules``."""
    return _fitting_length(text, rules) is not None


def _fitting_length(text: str, rules: TextRules) -> int | None:
    """The measured length of ``text`` when it is within every limit of ``rules``."""
    if rules.max_bytes is not None and len(text.encode()) > rules.max_bytes:
        return None
    length = measure(text, rules)
    return length if length <= rules.max_length else None


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: Literal["url", "hashtag", "mention"]


def _url_end(text: str, start: int, end: int) -> int:
    # Trailing punctuation usually ends the sentence, not the URL; a ")" stays when the URL
    # opened one (Wikipedia-style links).
    while end > start and text[end - 1] in _URL_TRAILING:
        if text[end - 1] == ")" and text.count("(", start, end) >= text.count(")", start, end):
            break
        end -= 1
    return end


def _entities(text: str) -> list[_Span]:
    """URLs, hashtags and mentions in ``text``, sorted, without overlaps (URLs win)."""
    urls = [
        _Span(m.start(), _url_end(text, m.start(), m.end()), "url") for m in _URL.finditer(text)
    ]
    for start, end, _ in _links(text):
        urls.append(_Span(start, end, "url"))
    found = sorted(urls, key=lambda s: (s.start, -s.end))
    found += [_Span(m.start(), m.end(), "hashtag") for m in _HASHTAG.finditer(text)]
    found += [_Span(m.start(), m.end(), "mention") for m in _MENTION.finditer(text)]
    spans: list[_Span] = []
    for span in found:  # URLs first, so a "#fragment" or "@" inside a URL is not separate
        if all(span.end <= s.start or span.start >= s.end for s in spans):
            spans.append(span)
        elif span.kind == "url":
            # Two URL readings overlap: keep one span covering both.
            merged = [s for s in spans if not (span.end <= s.start or span.start >= s.end)]
            spans = [s for s in spans if s not in merged]
            start = min(span.start, *(s.start for s in merged))
            end = max(span.end, *(s.end for s in merged))
            spans.append(_Span(start, end, "url"))
    return sorted(spans, key=lambda s: s.start)


def _min_length(text: str, spans: list[_Span] | None = None) -> int:
    """A lower bound of every platform's count: graphemes outside URLs each count 1 or more.

    ``spans``: the entities of ``text`` when the caller has them already.
    """
    total, pos = 0, 0
    for url in (s for s in (_entities(text) if spans is None else spans) if s.kind == "url"):
        total += _graphemes(text[pos : url.start])
        pos = url.end
    return total + _graphemes(text[pos:])


def _trailing_hashtags(text: str, spans: list[_Span]) -> list[_Span]:
    """Hashtags at the end of ``text``, with only whitespace and URLs after them."""
    out: list[_Span] = []
    pos = len(text)
    for span in reversed(spans):
        if text[span.end : pos].strip() or span.kind == "mention":
            break
        if span.kind == "hashtag":
            out.append(span)
        pos = span.start
    return out[::-1]


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _without(text: str, drop: list[_Span]) -> str:
    out, pos = [], 0
    for span in drop:
        start = span.start
        while start > pos and text[start - 1] in " \t":
            start -= 1
        out.append(text[pos:start])
        pos = span.end
    out.append(text[pos:])
    return _tidy("".join(out))


class _Cutter:
    """Builds the cut of one text at a given position: head, ellipsis, then the URLs after."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = _entities(text)
        # Only links written with their scheme (the article URL) survive a cut. A bare domain
        # in the prose ("0.AL", "vnexpress.net") is never split, but it may be cut away.
        self.urls = [s for s in self.spans if s.kind == "url" and _URL.match(text, s.start)]
        self.inside = bytearray(len(text) + 1)
        for span in self.spans:
            for i in range(span.start + 1, span.end):
                self.inside[i] = 1

    def boundaries(self, max_length: int) -> tuple[list[int], list[int]]:
        """Cut positions on grapheme boundaries, and those also on word boundaries.

        Every platform counts each grapheme outside a URL as at least 1, so a head holding
        more than ``max_length`` of them cannot fit: positions stop there, which keeps the
        search short on very long texts.
        """
        in_url = bytearray(len(self.text) + 1)
        for url in self.urls:
            in_url[url.start : url.end] = b"\x01" * (url.end - url.start)
        graphemes, counted = [0], 0
        for match in _GRAPHEME.finditer(self.text):
            counted += not in_url[match.start()]
            if counted > max_length + 1:
                break
            graphemes.append(match.end())
        allowed = [p for p in graphemes if not self.inside[p]]
        words = {m.start() for m in _WORD_BOUNDARY.finditer(self.text)}
        return allowed, [p for p in allowed if p in words]

    def _separator(self, start: int, floor: int) -> str:
        i = start
        while i > floor and self.text[i - 1].isspace():
            i -= 1
        gap = self.text[i:start]
        if "\n" in gap:
            return "\n\n" if gap.count("\n") > 1 else "\n"
        return " "

    def cut(self, position: int) -> str:
        """The text up to ``position``, an ellipsis, then every URL that started after it."""
        end = position
        while end > 0 and self.text[end - 1] in _TRIM_BEFORE_ELLIPSIS and not self.inside[end - 1]:
            end -= 1
        out = self.text[:end] + ELLIPSIS if end else ""
        floor = position
        for url in self.urls:
            if url.start < position:
                continue
            sep = self._separator(url.start, floor) if out else ""
            out += sep + self.text[url.start : url.end]
            floor = url.end
        return out


def _best(cutter: _Cutter, positions: list[int], rules: TextRules) -> int | None:
    """The last position whose cut fits (binary search: longer heads are longer texts)."""
    lo, hi, best = 0, len(positions) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(cutter.cut(positions[mid]), rules):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    if best is None:
        # Length is not monotonic in the cut when a bare domain in the prose ("0.AL", "vn.vn")
        # counts as a 23-character link once whole: the search can miss a shorter cut that
        # fits. Walk down from the longest (rare: only when every probe failed).
        return next((p for p in reversed(positions) if fits(cutter.cut(p), rules)), None)
    return positions[best]


def fit_text(text: str, rules: TextRules) -> FittedText:
    """Fit ``text`` to ``rules``: drop trailing hashtags, then cut the prose with an ellipsis.

    Raises:
        FittingError: when even the URLs alone do not fit.
    """
    text = unicodedata.normalize("NFC", text).strip()
    spans = _entities(text)
    trailing = _trailing_hashtags(text, spans)
    prose = _without(text, trailing) if trailing else text
    # Measuring a long text the X way is slow; skip what cannot fit by a cheap lower bound.
    # The bound counts graphemes, each at least one code point: a prose no longer than the
    # limit is never hopeless, and its URLs need not be looked for.
    hopeless = (
        len(prose) > rules.max_length
        and _min_length(prose, spans if prose is text else None) > rules.max_length
    )
    if not hopeless:
        length = _fitting_length(text, rules)
        if length is not None:
            return FittedText(text, length, truncated=False)
        for keep in range(len(trailing) - 1, -1, -1):
            shorter = _without(text, trailing[keep:])
            length = _fitting_length(shorter, rules)
            if length is not None:
                return FittedText(shorter, length, truncated=True)
    cutter = _Cutter(prose)
    graphemes, words = cutter.boundaries(rules.max_length)
    by_grapheme = _best(cutter, graphemes, rules)
    if by_grapheme is None:
        raise FittingError(
            f"text: its URLs alone exceed the {rules.platform} limit of {rules.max_length}"
        )
    by_word = _best(cutter, words, rules)
    position = by_grapheme
    if by_word is not None and by_grapheme - by_word <= _LONG_WORD:
        position = by_word
    fitted = cutter.cut(position)
    return FittedText(fitted, measure(fitted, rules), truncated=True)


def fitted_text(text: str, rules: TextRules) -> str:
    """:func:`fit_text`'s text, without measuring a Mastodon text a cheap bound shows fits
    (the planner needs the text, not its length; measuring finds its URLs, the slowest step).

    Mastodon counts each grapheme outside a linked URL (a grapheme is one code point at least)
    and each linked URL (it starts with its scheme: ``://`` and seven code points at least) as
    ``url_length``: never more than the text's code points plus ``url_length - 7`` per
    ``://``. Within the limit, the text fits as it is, and no lower bound makes it hopeless.

    Raises:
        FittingError: as :func:`fit_text`.
    """
    if rules.counting == "mastodon" and rules.max_bytes is None:
        nfc = unicodedata.normalize("NFC", text).strip()
        if len(nfc) + nfc.count("://") * max(0, rules.url_length - 7) <= rules.max_length:
            return nfc
    return fit_text(text, rules).text
