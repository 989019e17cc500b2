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
from functools import lru_cache
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, field_validator

from syndication.errors import ConfigError
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

# Blank lines left by empty fields (no summary, no tags) are collapsed after rendering, so the
# default template can stay one readable line per part. Hashtags come last: when the text is too
# long, fitting drops trailing hashtags before it cuts the prose, and the URL always survives.
DEFAULT_TEMPLATE = "{{ title }}\n\n{{ summary }}\n\n{{ url }}\n\n{{ hashtags | join(' ') }}"

# Longest string a template may build with ``*`` (a template is config, not an attack
# surface, but a slip like ``{{ title * 100000000 }}`` should fail, not eat the worker's memory).
_MAX_REPEAT_CHARS = 100_000
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# Letters (any script, with their combining marks), digits and underscore make a hashtag.
_HASHTAG_WORD = re.compile(r"[^\W_]+|_", re.UNICODE)


class TemplateError(ConfigError):
    """A channel's template does not compile or does not render (undefined name, bad filter)."""


class UtmConfig(BaseModel):
    """Campaign parameters appended to the article URL of a channel's posts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    medium: str = "social"
    campaign: str | None = None
    content: str | None = None

    @field_validator("source", "medium", "campaign", "content")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return None if v is None else v.strip()


class _Sandbox(SandboxedEnvironment):
    """The sandbox plus a cap on ``*`` and ``**`` results."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: object, right: object
    ) -> object:
        if (
            operator == "*"
            and isinstance(right, int)
            and isinstance(left, str | list | tuple)
            and len(left) * right > _MAX_REPEAT_CHARS
        ):
            raise SecurityError("repeated sequence too long")
        if operator == "**" and isinstance(right, int) and right > 64:
            raise SecurityError("exponent too large")
        return super().call_binop(context, operator, left, right)


def _environment() -> SandboxedEnvironment:
    return _Sandbox(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


_ENV = _environment()


@lru_cache(maxsize=256)
def _compiled(template: str) -> jinja2.Template:
    # Compiling costs about a millisecond; a channel's template never changes in a process.
    return _ENV.from_string(template)


def _describe(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    return str(exc.message if getattr(exc, "message", None) else exc)


def check_template(src: str) -> str | None:
    """Compile ``src``; return what is wrong with it, or ``None`` when it is valid."""
    try:
        _ENV.parse(src)
    except jinja2.TemplateSyntaxError as exc:
        return _describe(exc)
    return None


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
        compiled = _compiled(template)
        text = compiled.render(
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
        raise TemplateError(f"{where}: {_describe(exc)}") from None
    return unicodedata.normalize("NFC", _tidy(text))
