"""The ``federation:`` section of the YAML config: which ActivityPub actors exist, and how
their activities are delivered.

Models only; what they mean (handles, URLs, default names from the feed titles, which actors
announce an article) is in :mod:`syndication.federation.actors`.

```yaml
federation:
  base_url: https://portal.example      # where actors live (default: feeds.base_url)
  domain: portal.example                # the host in @vi@portal.example (default: base_url's)
  icon: https://portal.example/icon.png # default avatar of every actor
  actors:
    - language: vi                      # @vi@portal.example
    - language: ja
      category: heritage                # @ja-heritage@portal.example
      name: "遺産"                       # default: the feed's title
      summary: "..."                     # default: the feed's description
```
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

import langcodes
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from slugify import slugify

from syndication.config.channels import Duration

__all__ = ["ActorConfig", "DeliveryConfig", "FederationConfig"]

_USERNAME = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9_])?")
_DOMAIN = re.compile(r"[a-z0-9.-]+(?::\d{1,5})?")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an absolute http(s) URL")
    return value.strip()


class ActorConfig(_Config):
    """One followable account: a language's feed, or one category of it."""

    language: str
    category: str | None = None
    # preferredUsername; default ``vi`` or ``ja-heritage``.
    username: str | None = None
    # Shown in the actor's language; default: the feed's title and description.
    name: str | None = None
    summary: str | None = None
    icon: str | None = None

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        if "_" in v or not langcodes.tag_is_valid(v.strip()):
            raise ValueError("not a valid BCP 47 language tag")
        return str(langcodes.standardize_tag(v.strip()))

    @field_validator("category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        # Articles carry categories slugified by events.py with the same function.
        if v is None:
            return None
        slug = slugify(v)
        if not slug:
            raise ValueError("must contain letters or digits")
        return slug

    @field_validator("username")
    @classmethod
    def _username(cls, v: str | None) -> str | None:
        if v is not None and not _USERNAME.fullmatch(v):
            raise ValueError("not a username (lower-case letters, digits and . _ -)")
        return v

    @field_validator("icon")
    @classmethod
    def _icon(cls, v: str | None) -> str | None:
        return _url(v)

    @property
    def handle(self) -> str:
        """The username: ``vi``, ``ja-heritage``, or the configured one."""
        if self.username:
            return self.username
        return self.language.lower() + (f"-{self.category}" if self.category else "")


class DeliveryConfig(_Config):
    """How activities reach followers' servers (see syndication.federation.delivery)."""

    # Seconds for one POST to a remote inbox (connect and read).
    timeout: float = Field(default=10.0, gt=0)
    # A sender holds a claimed delivery this long; past it the delivery is sent again.
    lease: Duration = timedelta(seconds=60)
    # A delivery handed to a sender but not claimed within this long (its message was lost
    # with a worker) is handed out again.
    redispatch_after: Duration = timedelta(seconds=60)
    # Backoff after a 429, a 5xx or a network error: base x 2^(attempt-1), capped.
    retry_base: Duration = timedelta(seconds=30)
    retry_cap: Duration = timedelta(hours=6)
    # A delivery is given up after this many attempts, or this long after its first one.
    max_attempts: int = Field(default=12, ge=1)
    give_up_after: Duration = timedelta(days=2)
    # A server that failed this many deliveries in a row, over at least ``dead_after``, is
    # marked dead for ``dead_for``: its deliveries are skipped until then (or until it
    # sends us a signed request, or a delivery to it succeeds).
    dead_after_failures: int = Field(default=10, ge=1)
    dead_after: Duration = timedelta(days=1)
    dead_for: Duration = timedelta(days=7)


class FederationConfig(_Config):
    """The ``federation:`` section: actors and delivery. No actors: federation is off."""

    base_url: str | None = None
    domain: str | None = None
    icon: str | None = None
    actors: tuple[ActorConfig, ...] = ()
    # Note (what Mastodon shows in full) or Article (shown as a title and a link).
    object_type: Literal["Note", "Article"] = "Note"
    outbox_page_size: int = Field(default=20, ge=1, le=200)
    # The followers collection shows only its count unless this is on.
    show_followers: bool = False
    # Incoming signatures: how far the Date header may be from now (seconds).
    signature_window: int = Field(default=3600, ge=30)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Fetch keys from, and deliver to, private and loopback addresses (tests and demo only).
    allow_private: bool = False
    key_bits: int = Field(default=2048, ge=2048, le=8192)
    # Remote actors' keys are cached this long.
    key_cache: Duration = timedelta(days=1)
    delivery: DeliveryConfig = DeliveryConfig()

    @field_validator("base_url", "icon")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        url = _url(v)
        return url.rstrip("/") if url else None

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and not _DOMAIN.fullmatch(v.strip().lower()):
            raise ValueError("not a host name (with an optional :port)")
        return v.strip().lower() if v else None

    @model_validator(mode="after")
    def _unique(self) -> FederationConfig:
        handles = [a.handle for a in self.actors]
        dupes = sorted({h for h in handles if handles.count(h) > 1})
        if dupes:
            raise ValueError(f"actors: usernames must be unique: {', '.join(dupes)}")
        return self

    @property
    def enabled(self) -> bool:
        """Whether any actor is configured."""
        return bool(self.actors)
