"""The ``search:`` section of the YAML config: Google News sitemaps and IndexNow.

Models only; what they mean is in :mod:`feeds.sitemaps` and :mod:`feeds.indexnow`.

```yaml
search:
  sitemaps:
    enabled: true                       # /sitemaps/{lang}/news.xml and /sitemap.xml
    publication_names: {vi: "Báo Mẫu"}  # the name Google News knows; default feeds.site_name
  indexnow:                             # absent: IndexNow is off
    endpoint: https://api.indexnow.org/indexnow
    host: portal.example                # every submitted URL must be on this host
    key_env: INDEXNOW_KEY               # environment variable holding the key (or NAME_FILE)
```
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["IndexNowConfig", "SearchConfig", "SitemapsConfig"]

_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# A host name with an optional port, as IndexNow's ``host`` field wants it (no scheme, no path).
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _absolute_http(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an absolute http(s) URL")
    return value


class SitemapsConfig(_Config):
    """Google News sitemaps, one per language, and the sitemap index that lists them."""

    enabled: bool = True
    # Language tag -> the publication's name exactly as Google News shows it; languages not
    # listed use ``feeds.site_name``.
    publication_names: dict[str, str] = Field(default_factory=dict)

    @field_validator("publication_names")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for lang, name in v.items():
            if not name.strip():
                raise ValueError(f"{lang}: must not be empty")
        return {lang: name.strip() for lang, name in v.items()}


class IndexNowConfig(_Config):
    """Where and how changed article URLs are submitted to IndexNow."""

    endpoint: str = "https://api.indexnow.org/indexnow"
    # The site whose URLs are submitted: ``portal.example`` (a port may follow). URLs on
    # other hosts are skipped, because one foreign URL makes the whole request fail (422).
    host: str
    # The environment variable holding the key (``NAME_FILE`` is read when ``NAME`` is unset).
    key_env: str = "INDEXNOW_KEY"
    # Where the key file is published; default ``https://{host}/{key}.txt``, which
    # ``syndication serve`` answers when the site routes ``/{key}.txt`` to it.
    key_location: str | None = None
    # URLs per request (the protocol allows 10,000).
    batch_size: int = Field(default=10_000, ge=1, le=10_000)
    # Seconds a change waits before it is sent, so that a burst goes out in one request.
    batch_window: float = Field(default=5.0, ge=0, le=3600)
    timeout: float = Field(default=10.0, gt=0, le=300)
    # Backoff after a 429 or 5xx: the first retry after ``retry_base`` seconds, doubling up to
    # ``retry_cap`` (a longer Retry-After wins).
    retry_base: float = Field(default=15.0, gt=0)
    retry_cap: float = Field(default=3600.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        return _absolute_http(v)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not _HOST.fullmatch(v):
            raise ValueError("a host name such as portal.example (no scheme, no path)")
        return v.lower()

    @field_validator("key_env")
    @classmethod
    def _key_env(cls, v: str) -> str:
        if not _ENV_NAME.fullmatch(v):
            raise ValueError("must name an environment variable (A-Z, 0-9, _), not hold the key")
        return v

    @field_validator("key_location")
    @classmethod
    def _key_location(cls, v: str | None) -> str | None:
        return None if v is None else _absolute_http(v)

    @model_validator(mode="after")
    def _key_on_host(self) -> IndexNowConfig:
        if self.key_location and urlsplit(self.key_location).netloc.lower() != self.host:
            raise ValueError(f"key_location: not on host {self.host}")
        if self.retry_cap < self.retry_base:
            raise ValueError("retry_cap: smaller than retry_base")
        return self


class SearchConfig(_Config):
    """The ``search:`` section: news sitemaps (on by default) and IndexNow (off unless set)."""

    sitemaps: SitemapsConfig = SitemapsConfig()
    indexnow: IndexNowConfig | None = None
