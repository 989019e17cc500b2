"""Markup rules of platforms whose text is not plain: LinkedIn's little text format.

Pure and light, so that fitting can measure text exactly as the adapter will send it without
importing the adapter.
"""

from __future__ import annotations

import re

__all__ = ["RESERVED", "escape_little_text", "to_commentary"]

# LinkedIn's little text format reserves these; an unescaped one silently cuts the post there.
RESERVED = frozenset("\\|{}@[]()<>#*_~")
# A hashtag starts a word; an underscore inside it is not part of a LinkedIn tag.
_HASHTAG = re.compile(r"(?<!\S)#(\w+)")


def escape_little_text(text: str) -> str:
    """Backslash-escape every reserved character of the little text format."""
    return "".join("\\" + ch if ch in RESERVED else ch for ch in text)


def to_commentary(text: str) -> str:
    """Render plain text as little text format, with hashtags as hashtag templates."""
    out: list[str] = []
    position = 0
    for match in _HASHTAG.finditer(text):
        tag = match.group(1)
        if "_" in tag or tag.isdigit():
            continue  # not a tag LinkedIn would link; escaped as text below
        out.append(escape_little_text(text[position : match.start()]))
        out.append("{hashtag|\\#|" + tag + "}")
        position = match.end()
    out.append(escape_little_text(text[position:]))
    return "".join(out)
