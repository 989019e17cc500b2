"""The ``feeds:`` section of the YAML config: which feeds exist, their titles and sizes.

Models only; what they mean (feed references, paths, which feeds an article belongs in) is in
:mod:`feeds.catalog`.
"""

from __future__ import annotations

import re
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator
from slugify import slugify

__all__ = ["EXTENSIONS", "FeedFormat", "FeedKind", "FeedsConfig", "LanguageFeeds"]

FeedKind: TypeAlias = Literal["all", "category", "author", "tag"]
FeedFormat: TypeAlias = Literal["rss", "atom", "json"]
EXTENSIONS: tuple[FeedFormat, ...] = ("rss", "atom", "json")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LanguageFeeds(_Config):
    """Titles and descriptions of one language's feeds.

    ``category_titles`` and ``category_descriptions`` are keyed by category slug; a category
    without an entry gets ``"{title}: {category}"``.
    """

    title: str
    description: str = ""
    home_url: str | None = None
    category_titles: dict[str, str] = Field(default_factory=dict)
    category_descriptions: dict[str, str] = Field(default_factory=dict)


class FeedsConfig(_Config):
    """The ``feeds:`` section of the YAML config.

    Empty ``languages`` or ``categories`` means every one seen in articles gets feeds.
    """

    base_url: str = "http://localhost:8000"
    site_name: str = "News"
    languages: dict[str, LanguageFeeds] = Field(default_factory=dict)
    categories: tuple[str, ...] = ()
    authors: bool = True
    tags: tuple[str, ...] = ()
    author_slugs: dict[str, str] = Field(default_factory=dict)
    max_items: int = Field(default=50, ge=1, le=1000)
    content: Literal["full", "summary"] = "full"
    websub_hub: str | None = None
    export_dir: str | None = None
    cache_control: str = "public, max-age=60"
    tombstone_days: int = Field(default=7, ge=0)
    formats: tuple[FeedFormat, ...] = EXTENSIONS

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        if not re.match(r"https?://[^/\s]+", v):
            raise ValueError("not an absolute http(s) URL")
        return v.rstrip("/")

    @field_validator("categories")
    @classmethod
    def _category_slugs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        # Articles carry categories slugified by events.py with the same function.
        return tuple(slugify(c) for c in v)

    @field_validator("formats")
    @classmethod
    def _formats_nonempty(cls, v: tuple[FeedFormat, ...]) -> tuple[FeedFormat, ...]:
        if not v:
            raise ValueError("at least one format is needed")
        return tuple(dict.fromkeys(v))
