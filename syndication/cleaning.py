"""Text as the feeds and platforms can take it: NFC, no characters XML forbids, safe HTML.

Applied to every string of an event before validation, so that nothing downstream (feedgen,
JSON Feed, platform APIs) can fail on text. Each removal is reported as a warning.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import nh3

from syndication.decoding import LazyPath, path_text

__all__ = ["clean_text", "clean_tree", "needs_cleaning", "sanitize_html"]

# XML 1.0 allows #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Tags and attributes kept in article HTML: the usual text markup plus images, figures,
# captions and links. Scripts, styles, iframes and every on* handler are dropped.
_HTML_TAGS = nh3.ALLOWED_TAGS | {"figure", "figcaption", "picture", "source"}
_HTML_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "title", "hreflang"},
    "img": {"src", "alt", "title", "width", "height", "srcset", "sizes"},
    "source": {"srcset", "type", "media", "sizes"},
    "time": {"datetime"},
}
_URL_SCHEMES = {"http", "https", "mailto"}


def clean_text(value: str) -> tuple[str, int]:
    """Return ``value`` in NFC without XML-illegal characters, and how many were removed."""
    cleaned, removed = _XML_ILLEGAL.subn("", value)
    return unicodedata.normalize("NFC", cleaned), removed


def needs_cleaning(values: Iterable[str]) -> bool:
    """Whether :func:`clean_text` would change any of ``values`` (most text is already
    clean, and asking is many times faster than cleaning).

    The values are checked joined, in one pass: a newline between two of them is allowed
    in XML and composes with nothing, so each one is normalised alone exactly when the
    whole is."""
    text = "\n".join(values)
    if _XML_ILLEGAL.search(text) is not None:
        return True
    return not text.isascii() and not unicodedata.is_normalized("NFC", text)


# Built once: passing the tag and attribute sets to ``nh3.clean`` on every call converts
# them each time, which costs five times the cleaning itself.
_CLEANER = nh3.Cleaner(
    tags=_HTML_TAGS,
    attributes=_HTML_ATTRIBUTES,
    url_schemes=_URL_SCHEMES,
    link_rel="noopener noreferrer",
)


def sanitize_html(html: str) -> str:
    """Sanitise article HTML with nh3: scripts and handlers go, images and links stay."""
    return _CLEANER.clean(html)


def clean_tree(value: object, path: LazyPath, warnings: list[str]) -> object:
    """``value`` with every string cleaned (:func:`clean_text`), each removal a warning."""
    if isinstance(value, str):
        cleaned, removed = clean_text(value)
        if removed:
            warnings.append(f"{path_text(path)}: removed {removed} character(s) not allowed in XML")
        return cleaned
    if isinstance(value, dict):
        # Depth is bounded by check_value before this recursion runs.
        return {k: clean_tree(v, (path, k), warnings) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v, (path, i), warnings) for i, v in enumerate(value)]
    return value
