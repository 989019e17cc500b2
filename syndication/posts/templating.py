"""Post text from a channel's Jinja2 template (pure).

A channel's template is operator-written config, but it is still run in Jinja2's
:class:`~jinja2.sandbox.SandboxedEnvironment`: a template can read the values it is given and
nothing else (no attribute walks to ``__globals__``, no huge string repetition). Autoescape is
off because the output is plain text; each adapter escapes for its own markup (Telegram HTML,
LinkedIn's little text format) after fitting. Undefined names fail loudly (``StrictUndefined``)
so a typo in a template is a config error, not a post with a hole in it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import jinja2

from syndication.config.channels import DEFAULT_TEMPLATE, UtmConfig
from syndication.config.templates import TemplateError, check_template, compiled, describe
from syndication.events import Article

__all__ = [
    "DEFAULT_TEMPLATE",
    "TemplateError",
    "UtmConfig",
    "add_utm",
    "check_template",
    "hashtag_from_tag",
    "hashtags_from_tags",
    "render_post_text",
]

_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# Letters (any script, with their combining marks), digits and underscore make a hashtag.
_HASHTAG_WORD = re.compile(r"[^\W_]+|_", re.UNICODE)


def hashtag_from_tag(tag: str) -> str | None:
    """Turn an article tag into a hashtag: ``"chuyển đổi số"`` → ``"#ChuyểnĐổiSố"``.

    Words are joined in CamelCase with spaces, hyphens and punctuation removed; letters of any
    script (Vietnamese with its diacritics, Japanese) are kept. A tag with no letter gives
    ``None``, since platforms do not link all-digit hashtags.
    """
    words = _HASHTAG_WORD.findall(unicodedata.normalize("NFC", tag))
    body = "".join(w[:1].upper() + w[1:] for w in words if w != "_")
    if not any(c.isalpha() for c in body):
        return None
    return "#" + body


def hashtags_from_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Hashtags for ``tags`` in order, without case-insensitive duplicates or empty ones."""
    seen: dict[str, str] = {}
    for tag in tags:
        hashtag = hashtag_from_tag(tag)
        if hashtag is not None:
            seen.setdefault(hashtag.casefold(), hashtag)
    return tuple(seen.values())


def add_utm(url: str, utm: UtmConfig | None) -> str:
    """Append ``utm_*`` parameters to ``url``, replacing any it already has.

    The rest of the query string is kept byte for byte (re-encoding it could change what the
    portal sees), and so is the fragment.
    """
    if utm is None:
        return url
    params = {
        "utm_source": utm.source,
        "utm_medium": utm.medium,
        "utm_campaign": utm.campaign,
        "utm_content": utm.content,
    }
    parts = urlsplit(url)
    kept = [
        p for p in parts.query.split("&") if p and unquote_plus(p.split("=", 1)[0]) not in params
    ]
    kept += [f"{k}={quote(v, safe='')}" for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query="&".join(kept)))


def _tidy(text: str) -> str:
    text = _TRAILING_SPACE.sub("\n", text.replace("\r\n", "\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def render_post_text(
    template: str,
    article: Article,
    *,
    link: str,
    hashtags: Sequence[str] | None = None,
    channel: str | None = None,
) -> str:
    """Render a channel's post text for ``article``.

    The template sees ``title``, ``summary``, ``url`` (``link``: the article URL with the
    channel's UTM parameters), ``category``, ``tags``, ``hashtags`` (derived from the tags
    unless given), ``authors`` (names), ``source`` (the source paper's name or ``""``) and
    ``language``. Runs of blank lines left by empty fields are collapsed and the result is NFC.

    Raises:
        TemplateError: naming ``channel`` when the template does not compile or render.
    """
    where = f"{channel}.template" if channel else "template"
    try:
        template_ = compiled(template)
        text = template_.render(
            title=article.title,
            summary=article.summary,
            url=link,
            link=link,
            category=article.category,
            tags=list(article.tags),
            hashtags=list(hashtags_from_tags(article.tags) if hashtags is None else hashtags),
            authors=[a.name for a in article.authors],
            source=article.source.name if article.source else "",
            language=article.language,
        )
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: {describe(exc)}") from None
    return unicodedata.normalize("NFC", _tidy(text))
