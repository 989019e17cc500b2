"""The event contract: models, cleaning and validation of incoming article events.

An event is JSON (see DESIGN.md). :func:`parse_event` turns any decoded JSON value into a
:class:`ParsedEvent` or raises :class:`~syndication.errors.EventValidationError` whose
errors each name a dotted field path (``article.image.url: not an absolute http(s) URL``).

Before validation the document is checked as plain JSON by :mod:`syndication.decoding`
(depth, repeated keys, numbers, types: hostile input is rejected by field, never crashes);
then every string is normalised to NFC and stripped of characters that XML 1.0 forbids, lone
surrogates included (each removal is reported as a warning), so that nothing downstream
(feedgen, JSON Feed, platform APIs) can fail on text. ``content_html`` is sanitised with nh3.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from slugify import slugify

from syndication.cleaning import clean_tree, needs_cleaning, sanitize_html
from syndication.decoding import check_value, decode_json, join_path, json_kind, plain_strings
from syndication.errors import EventValidationError, FieldError
from syndication.settings import Limits

EventType: TypeAlias = Literal["article.published", "article.updated", "article.unpublished"]
EVENT_TYPES: tuple[str, ...] = ("article.published", "article.updated", "article.unpublished")

_SPACE = re.compile(r"\s")
# An http(s) URL with a plain host name and no user part: what urlsplit accepts too.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?:[/?#][^\s]*)?")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*")
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)
_DEFAULT_LIMITS = Limits()
# The years an event's times may fall in.
YEARS = (1900, 2200)
# Warnings listed per event (then counted).
MAX_WARNINGS = 20


# The limits of the event being validated (set by parse_event around its validation): read
# by a dozen field validators per event, which is cheaper than each digging in the context.
_LIMITS: ContextVar[Limits | None] = ContextVar("limits", default=None)


def _limits(info: ValidationInfo) -> Limits:
    limits = _LIMITS.get()
    if limits is not None:
        return limits
    context = info.context  # a model validated directly, with ``context={"limits": ...}``
    limits = context.get("limits") if isinstance(context, Mapping) else None
    return limits if isinstance(limits, Limits) else _DEFAULT_LIMITS


def _check_length(value: str, info: ValidationInfo, limit_name: str) -> str:
    limit: int = getattr(_limits(info), limit_name)
    if len(value) > limit:
        raise PydanticCustomError(
            "too_long",
            "too long: {length} characters, at most {limit}",
            {"length": len(value), "limit": limit},
        )
    return value


def _require_str(value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("string_type", "expected a string")
    return value


def _absolute_url(value: str, info: ValidationInfo) -> str:
    value = value.strip()
    if not _PLAIN_URL.fullmatch(value):  # the usual URL needs no urlsplit (same verdict)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or _SPACE.search(value):
            raise PydanticCustomError("url", "not an absolute http(s) URL")
    return _check_length(value, info, "url_length")


def _identifier(value: str, info: ValidationInfo) -> str:
    value = value.strip()
    if not _ID.fullmatch(value):
        raise PydanticCustomError(
            "identifier",
            "not an identifier (letters, digits and . _ : @ -, first a letter or digit)",
        )
    return _check_length(value, info, "id_length")


def _rfc3339(value: object) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("datetime", "expected an RFC 3339 date-time string")
    match = _RFC3339.fullmatch(value.strip())
    if not match:
        raise PydanticCustomError("datetime", "not an RFC 3339 date-time")
    if not match.group("offset"):
        raise PydanticCustomError(
            "naive_datetime", "naive time: RFC 3339 needs an offset such as Z or +07:00"
        )
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise PydanticCustomError("datetime", "not a valid date-time") from None
    # Near years 1 and 9999 converting to UTC or adding a delay overflows (OverflowError in
    # rendering and scheduling); no news event is dated that far out anyway.
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise PydanticCustomError(
            "datetime_range",
            "not a plausible date: years {first} to {last}",
            {"first": YEARS[0], "last": YEARS[1]},
        )
    return parsed


@lru_cache(maxsize=256)
def _language(value: str) -> str:
    # Cached: a portal publishes in a few languages, and checking a tag is slow. Imported
    # here: its data takes a tenth of a second to load, which commands that read no events
    # (``status``, ``--help``) should not pay.
    import langcodes

    value = value.strip()
    if "_" in value or not langcodes.tag_is_valid(value):
        raise PydanticCustomError("language", "not a valid BCP 47 language tag")
    return str(langcodes.standardize_tag(value))


def _category(value: str) -> str:
    slug = _slug(value)
    if not slug:
        raise PydanticCustomError("category", "must contain letters or digits")
    return slug


@lru_cache(maxsize=1024)
def _slug(value: str) -> str:
    # A portal has a handful of categories, each sent with every event.
    return str(slugify(value))


def _nonblank(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("blank", "must not be empty")
    return value


Str = Annotated[str, BeforeValidator(_require_str)]
Url = Annotated[Str, AfterValidator(_absolute_url)]
Identifier = Annotated[Str, AfterValidator(_identifier)]
Time = Annotated[datetime, BeforeValidator(_rfc3339)]
Name = Annotated[Str, AfterValidator(_nonblank)]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)


class Author(_Input):
    """A byline: the name as written, with an optional profile URL."""

    name: Name
    url: Url | None = None

    @field_validator("name")
    @classmethod
    def _name_length(cls, v: str, info: ValidationInfo) -> str:
        return _check_length(v, info, "name_length")


class Source(_Input):
    """The newspaper an article was first published in, and its original URL."""

    name: Name
    url: Url | None = None

    @field_validator("name")
    @classmethod
    def _name_length(cls, v: str, info: ValidationInfo) -> str:
        return _check_length(v, info, "name_length")


class Image(_Input):
    """The lead photo with its caption (used as alt text) and credit."""

    url: Url
    caption: Str | None = None
    credit: Str | None = None
    type: Str | None = None
    width: int | None = Field(default=None, gt=0, le=100_000, strict=True)
    height: int | None = Field(default=None, gt=0, le=100_000, strict=True)
    length: int | None = Field(default=None, ge=0, strict=True)

    @field_validator("caption", "credit")
    @classmethod
    def _caption_length(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _check_length(v.strip(), info, "caption") or None

    @field_validator("type")
    @classmethod
    def _media_type(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"image/[a-z0-9.+-]+", v.strip().lower()):
            raise PydanticCustomError("media_type", "not an image media type (image/...)")
        return None if v is None else v.strip().lower()


class Article(_Input):
    """One article in one language, as the feeds and posts see it."""

    id: Identifier
    url: Url
    language: Annotated[Str, AfterValidator(_language)]
    title: Name
    summary: Str = ""
    content_html: Str = ""
    category: Annotated[Str, AfterValidator(_category)]
    tags: tuple[Str, ...] = ()
    authors: tuple[Author, ...] = ()
    source: Source | None = None
    image: Image | None = None
    published_at: Time
    updated_at: Time | None = None
    translation_of: Identifier | None = None

    @field_validator("title")
    @classmethod
    def _title_length(cls, v: str, info: ValidationInfo) -> str:
        return _check_length(v, info, "title")

    @field_validator("summary")
    @classmethod
    def _summary_length(cls, v: str, info: ValidationInfo) -> str:
        return _check_length(v.strip(), info, "summary")

    @field_validator("content_html")
    @classmethod
    def _content(cls, v: str, info: ValidationInfo) -> str:
        if isinstance(info.context, Mapping) and info.context.get("trusted"):
            return v  # re-read from the store, where it was sanitised on the way in
        return sanitize_html(_check_length(v, info, "content_html"))

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        limits = _limits(info)
        if len(v) > limits.tags:
            raise PydanticCustomError(
                "too_many",
                "too many: {count}, at most {limit}",
                {"count": len(v), "limit": limits.tags},
            )
        seen: dict[str, None] = {}
        for tag in v:
            tag = tag.strip()
            if tag:
                seen.setdefault(_check_length(tag, info, "tag_length"), None)
        return tuple(seen)

    @field_validator("authors")
    @classmethod
    def _authors(cls, v: tuple[Author, ...], info: ValidationInfo) -> tuple[Author, ...]:
        limit = _limits(info).authors
        if len(v) > limit:
            raise PydanticCustomError(
                "too_many", "too many: {count}, at most {limit}", {"count": len(v), "limit": limit}
            )
        return v

    @property
    def version(self) -> datetime:
        """The time this revision was made: ``updated_at``, else ``published_at``."""
        return self.updated_at or self.published_at

    @property
    def story_id(self) -> str:
        """The id shared by every translation of one story (the original's id)."""
        return self.translation_of or self.id


class ArticleRef(_Input):
    """The part of an article an unpublish needs: its id."""

    id: Identifier


class _Event(_Input):
    id: Identifier
    occurred_at: Time


class ArticlePublished(_Event):
    """A new article went live."""

    type: Literal["article.published"]
    article: Article


class ArticleUpdated(_Event):
    """A live article changed; the whole new revision is carried."""

    type: Literal["article.updated"]
    article: Article


class ArticleUnpublished(_Event):
    """An article was retracted: it leaves every feed and its unsent posts are cancelled."""

    type: Literal["article.unpublished"]
    article: ArticleRef


ArticleEvent: TypeAlias = ArticlePublished | ArticleUpdated | ArticleUnpublished
_MODELS: dict[str, type[ArticlePublished] | type[ArticleUpdated] | type[ArticleUnpublished]] = {
    "article.published": ArticlePublished,
    "article.updated": ArticleUpdated,
    "article.unpublished": ArticleUnpublished,
}


@dataclass(frozen=True)
class ParsedEvent:
    """A valid event and the warnings raised while cleaning it."""

    event: ArticleEvent
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The event as plain JSON (what the queue carries and the store keeps)."""
        return self.event.model_dump(mode="json", exclude_none=True)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "lax-", "strict-")) or part in ("str", "int", "none"):
            continue  # pydantic's internal union branch names, not fields
        else:
            out = join_path(out, part)
    return out or "event"


_MESSAGES = {
    "missing": "required",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "tuple_type": "expected an array",
    "list_type": "expected an array",
    "dict_type": "expected an object",
    "greater_than": "must be greater than {gt}",
    "less_than_equal": "must be at most {le}",
    "greater_than_equal": "must be at least {ge}",
}


# Errors listed per event; a payload of 100,000 bad authors gets the first ones and a count.
MAX_ERRORS = 50


def _errors_from(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False, include_input=False):
        template = _MESSAGES.get(err["type"])
        ctx = err.get("ctx") or {}
        message = template.format(**ctx) if template else err["msg"]
        key = (_path(tuple(err["loc"])), message)
        if key not in seen:
            seen.add(key)
            errors.append(FieldError(*key))
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        errors = [*errors[:MAX_ERRORS], FieldError("event", f"{more} more error(s) not listed")]
    return errors


def is_event_id(value: object, limits: Limits | None = None) -> bool:
    """Whether ``value`` follows the id rule exactly (safe to put in a Redis key)."""
    return (
        isinstance(value, str)
        and len(value) <= (limits or _DEFAULT_LIMITS).id_length
        and _ID.fullmatch(value) is not None
    )


def event_id_of(raw: object, limits: Limits | None = None) -> str | None:
    """The id a rejected payload claims, when it is a valid id; else None.

    Reads raw text without trusting it (bounded size, no recursion); an id given twice
    is ambiguous, so it counts as none.
    """
    limits = limits or _DEFAULT_LIMITS
    if isinstance(raw, str | bytes | bytearray | memoryview):
        data = raw if isinstance(raw, str) else bytes(raw)
        if len(data) > limits.event_bytes:
            return None
        try:
            raw = decode_json(data)
        except EventValidationError:
            return None
    if not isinstance(raw, dict) or "id" in getattr(raw, "duplicates", ()):
        return None
    value = raw.get("id")
    claimed = value.strip() if isinstance(value, str) else None
    return claimed if is_event_id(claimed, limits) else None


def parse_event(raw: object, limits: Limits | None = None) -> ParsedEvent:
    """Validate one decoded JSON value as an event.

    Raises:
        EventValidationError: with one field-named error per problem found (and nothing
            else, whatever ``raw`` is).
    """
    if not isinstance(raw, dict):
        got = json_kind(raw)
        raise EventValidationError([FieldError("event", f"expected a JSON object, got {got}")])
    strings = plain_strings(raw)
    if strings is None:
        strings = []
        problems = check_value(raw, strings=strings)
        if problems:
            raise EventValidationError(problems)
    kind = raw.get("type")
    if kind is None:
        raise EventValidationError([FieldError("type", "required")])
    if not isinstance(kind, str) or kind not in _MODELS:
        shown = repr(kind) if isinstance(kind, str) and len(kind) <= 60 else "given"
        raise EventValidationError(
            [
                FieldError(
                    "type",
                    f"unknown event type {shown} (expected one of {', '.join(EVENT_TYPES)})",
                )
            ]
        )
    warnings: list[str] = []
    # Cleaning copies the whole value; most events have nothing to clean.
    dirty = needs_cleaning(strings)
    cleaned = clean_tree(raw, None, warnings) if dirty else raw
    if len(warnings) > MAX_WARNINGS:
        more = len(warnings) - MAX_WARNINGS
        warnings = [*warnings[:MAX_WARNINGS], f"event: {more} more warning(s) not listed"]
    try:
        token = _LIMITS.set(limits or _DEFAULT_LIMITS)
        try:
            event = _MODELS[kind].model_validate(cleaned)
        finally:
            _LIMITS.reset(token)
    except ValidationError as exc:
        raise EventValidationError(_errors_from(exc)) from None
    return ParsedEvent(event, tuple(warnings))


def parse_event_json(data: str | bytes, limits: Limits | None = None) -> ParsedEvent:
    """Decode and validate one JSON document (UTF-8 bytes or text) as an event."""
    limits = limits or _DEFAULT_LIMITS
    # Lone surrogates cannot be encoded strictly; they are counted as UTF-8 would carry them.
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limits.event_bytes:
        raise EventValidationError(
            [FieldError("event", f"too large: {size} bytes, at most {limits.event_bytes}")]
        )
    return parse_event(decode_json(data), limits)
