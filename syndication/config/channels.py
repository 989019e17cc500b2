"""Channels and routes: which social accounts exist and which articles go to each (pure).

A *channel* is one account on one platform, with its language, text template, credentials
(named by environment variable, never by value) and schedule. *Routes* send an article to
channels by category, language and tags. :func:`route_article` applies them;
:func:`validate_references` checks what a single model cannot see (duplicate names, routes to
unknown channels, a route that can never reach its channel's language).

Config errors are :class:`~syndication.errors.FieldError` values with dotted paths such as
``channels[2].schedule.timezone: unknown time zone 'Europe/Berln'``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time, timedelta
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import langcodes
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from slugify import slugify

from syndication.config.templates import check_template
from syndication.errors import FieldError
from syndication.events import Article
from syndication.platforms.facts import FACTS

__all__ = [
    "ChannelConfig",
    "QuietHours",
    "RouteConfig",
    "RouteMatch",
    "RoutingConfig",
    "ScheduleConfig",
    "UtmConfig",
    "config_errors",
    "language_matches",
    "primary_language",
    "validate_references",
]


_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_DURATION = re.compile(r"(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_ROLE = re.compile(r"[a-z][a-z0-9_]*")
_CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def _hhmm(value: object) -> object:
    """Parse a local wall-clock time written ``"HH:MM"``."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 (PyYAML) reads an unquoted 23:00 as the base-60 number 1380.
        raise PydanticCustomError(
            "hhmm", 'expected a quoted "HH:MM" string (unquoted 23:00 is a number in YAML)'
        )
    if not isinstance(value, str) or not (match := _HHMM.fullmatch(value.strip())):
        raise PydanticCustomError("hhmm", 'not a time of day "HH:MM" (00:00 to 23:59)')
    return time(int(match.group(1)), int(match.group(2)))


def _duration(value: object) -> object:
    """Accept seconds, ``"90s"``, ``"15m"``, ``"2h30m"``, ``"2d"`` or what pydantic takes."""
    if isinstance(value, bool):
        raise PydanticCustomError("duration", "expected a duration such as 15m, 2h or 90 (seconds)")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower()
        match = _DURATION.fullmatch(text)
        if text and match and any(match.groups()):
            d, h, m, s = (int(g) if g else 0 for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
        if text.isdigit():
            return timedelta(seconds=int(text))
    return value


def _non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise PydanticCustomError("duration", "must not be negative")
    return value


LocalTime = Annotated[time, BeforeValidator(_hhmm)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]


def primary_language(tag: str) -> str:
    """The primary subtag of a BCP 47 tag, lower-cased: ``"zh-Hant-TW"`` → ``"zh"``."""
    return tag.split("-", 1)[0].lower()


def language_matches(pattern: str, tag: str) -> bool:
    """RFC 4647 basic filtering: ``"zh"`` matches ``"zh-Hant"``; ``"zh-Hant"`` not ``"zh-Hans"``."""
    pattern, tag = pattern.lower(), tag.lower()
    return pattern in ("*", tag) or tag.startswith(pattern + "-")


def _language(value: str) -> str:
    value = value.strip()
    if "_" in value or not langcodes.tag_is_valid(value):
        raise PydanticCustomError("language", "not a valid BCP 47 language tag")
    return str(langcodes.standardize_tag(value))


# Blank lines left by empty fields (no summary, no tags) are collapsed after rendering, so the
# default template can stay one readable line per part. Hashtags come last: when the text is too
# long, fitting drops trailing hashtags before it cuts the prose, and the URL always survives.
DEFAULT_TEMPLATE = "{{ title }}\n\n{{ summary }}\n\n{{ url }}\n\n{{ hashtags | join(' ') }}"


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


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QuietHours(_Config):
    """Local hours in which a channel never posts; ``start`` > ``end`` crosses midnight."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise PydanticCustomError(
                "quiet_hours", "start equals end (an empty window); remove quiet_hours instead"
            )
        return self

    def contains(self, wall: time) -> bool:
        """True when the local wall-clock time ``wall`` is quiet (start inclusive, end not)."""
        wall = wall.replace(tzinfo=None, fold=0)
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


class ScheduleConfig(_Config):
    """When a channel may post. Durations accept seconds or ``15m``, ``2h30m``, ``1d``."""

    delay_after_publish: Duration = timedelta(0)
    min_spacing: Duration = timedelta(minutes=10)
    quiet_hours: QuietHours | None = None
    daily_cap: int | None = Field(default=None, ge=1, le=10_000)
    timezone: str = "UTC"
    slots: tuple[LocalTime, ...] = ()
    approval: bool = False

    @field_validator("delay_after_publish", "min_spacing")
    @classmethod
    def _durations(cls, v: timedelta) -> timedelta:
        return _non_negative(v)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone",
                "unknown time zone '{name}' (expected an IANA name such as Asia/Tokyo)",
                {"name": v},
            ) from None
        return v

    @field_validator("slots")
    @classmethod
    def _slots(cls, v: tuple[time, ...]) -> tuple[time, ...]:
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _slots_outside_quiet_hours(self) -> ScheduleConfig:
        if self.quiet_hours is not None:
            quiet = [s.strftime("%H:%M") for s in self.slots if self.quiet_hours.contains(s)]
            if quiet:
                raise PydanticCustomError(
                    "slots", "slot(s) {slots} fall in quiet_hours", {"slots": ", ".join(quiet)}
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The channel's time zone."""
        return ZoneInfo(self.timezone)


class ChannelConfig(_Config):
    """One account on one platform: language, template, credentials and schedule."""

    name: str = Field(min_length=1, max_length=64)
    platform: str
    language: str
    template: str = DEFAULT_TEMPLATE
    # Credential role → name of the environment variable that holds it (never the secret).
    credentials: dict[str, str] = Field(default_factory=dict)
    api_base_url: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    utm: UtmConfig | None = None
    attach_image: bool = False
    edit_on_update: bool = False
    delete_on_unpublish: bool = False
    allow_translations: bool = False
    max_age: Duration | None = timedelta(days=2)
    schedule: ScheduleConfig = ScheduleConfig()

    @field_validator("platform")
    @classmethod
    def _platform(cls, v: str) -> str:
        if v not in FACTS:
            names = [repr(p) for p in FACTS]
            raise PydanticCustomError(
                "platform", "expected {names}", {"names": f"{', '.join(names[:-1])} or {names[-1]}"}
            )
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _CHANNEL_NAME.fullmatch(v):
            raise PydanticCustomError(
                "channel_name", "not a channel name (lower-case letters, digits and . _ -)"
            )
        return v

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        return _language(v)

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        problem = check_template(v)
        if problem is not None:
            raise PydanticCustomError("template", "{problem}", {"problem": problem})
        return v

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, v: dict[str, str]) -> dict[str, str]:
        for role, env in v.items():
            if not _ROLE.fullmatch(role):
                raise PydanticCustomError(
                    "credential_role",
                    "'{role}': not a credential role (e.g. access_token)",
                    {"role": role},
                )
            if not _ENV_NAME.fullmatch(env):
                # Never echo the value: it may be the secret pasted in by mistake.
                raise PydanticCustomError(
                    "credential_env",
                    "{role}: must name an environment variable (A-Z, 0-9, _), not hold a secret",
                    {"role": role},
                )
        return v

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PydanticCustomError("url", "not an absolute http(s) URL")
        if parts.username or parts.password:
            raise PydanticCustomError("url", "must not carry credentials")
        return v.strip().rstrip("/")

    @field_validator("max_age")
    @classmethod
    def _max_age(cls, v: timedelta | None) -> timedelta | None:
        return None if v is None else _non_negative(v)


@lru_cache(maxsize=4096)
def _tag_slug(tag: str) -> str:
    """An article tag as routes compare it. A portal repeats a few hundred tags, and every
    route of every plan asks: slugify (entities, transliteration, a dozen regexes) once each."""
    return slugify(tag)


class RouteMatch(_Config):
    """What an article must have for a route to apply; an empty list matches anything."""

    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    # Any of these tags (compared as slugs, so "Chuyển đổi số" matches "chuyen-doi-so").
    tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()

    @field_validator("categories", "tags", "exclude_tags")
    @classmethod
    def _slugs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        slugs = tuple(slugify(item) for item in v)
        if not all(slugs):
            raise PydanticCustomError("slug", "every entry must contain letters or digits")
        return slugs

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_language(tag) for tag in v)

    def matches(self, article: Article) -> bool:
        """True when ``article`` passes every condition of this match."""
        tags = {_tag_slug(t) for t in article.tags}
        return (
            (not self.categories or article.category in self.categories)
            and (
                not self.languages
                or any(language_matches(p, article.language) for p in self.languages)
            )
            and (not self.tags or bool(tags.intersection(self.tags)))
            and not tags.intersection(self.exclude_tags)
        )


class RouteConfig(_Config):
    """Articles matching ``match`` go to ``channels``; ``stop`` ends evaluation after it."""

    name: str | None = None
    match: RouteMatch = RouteMatch()
    channels: tuple[str, ...] = ()
    stop: bool = False


class RoutingConfig(_Config):
    """The ordered routes and how they combine.

    ``mode="first"``: the first matching route alone decides. ``mode="all"``: every matching
    route adds its channels, until a matching route with ``stop: true``.
    """

    mode: Literal["first", "all"] = "all"
    routes: tuple[RouteConfig, ...] = ()


def validate_references(
    channels: Sequence[ChannelConfig], routing: RoutingConfig
) -> list[FieldError]:
    """Problems between channels and routes: duplicates, unknown names, unreachable languages."""
    errors: list[FieldError] = []
    first_index: dict[str, int] = {}
    for i, channel in enumerate(channels):
        if channel.name in first_index:
            other = first_index[channel.name]
            message = f"duplicate channel name {channel.name!r} (also channels[{other}])"
            errors.append(FieldError(f"channels[{i}].name", message))
        else:
            first_index[channel.name] = i
    for r, route in enumerate(routing.routes):
        for c, name in enumerate(route.channels):
            path = f"routing.routes[{r}].channels[{c}]"
            if name not in first_index:
                errors.append(FieldError(path, f"unknown channel {name!r}"))
                continue
            language = channels[first_index[name]].language
            if route.match.languages and not any(
                primary_language(p) == primary_language(language) for p in route.match.languages
            ):
                errors.append(
                    FieldError(
                        path,
                        f"channel {name!r} posts in {language}, which this route's languages "
                        f"({', '.join(route.match.languages)}) never match",
                    )
                )
    return errors


def _path(loc: Sequence[int | str], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "lax-", "strict-")) or part in (
            "str",
            "int",
            "float",
            "none",
            "is-instance[time]",
            "is-instance[timedelta]",
        ):
            continue  # pydantic's internal union branch names, not fields
        else:
            out += f".{part}" if out else part
    return out or prefix or "config"


def config_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Turn a pydantic ``ValidationError`` into field-named errors with dotted paths."""
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"])
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required"
        elif err["type"] == "literal_error":
            message = message.replace("Input should be", "expected")
        error = FieldError(_path(tuple(err["loc"]), prefix), message.removeprefix("Value error, "))
        if error not in errors:
            errors.append(error)
    return errors
