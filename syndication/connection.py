"""Connections: the Redis client and the Celery broker URL, from settings."""

from __future__ import annotations

import redis

from syndication.embedded import ensure_embedded, is_running, socket_path
from syndication.settings import Settings


def redis_url(settings: Settings) -> str:
    """``REDIS_URL`` when set, else the embedded server's ``unix://`` URL (started if needed)."""
    return settings.redis_url_value or ensure_embedded(settings.data_dir)


def existing_redis_url(settings: Settings) -> str | None:
    """``REDIS_URL`` when set, else the embedded server's URL if it runs (never starts it)."""
    if settings.redis_url_value:
        return settings.redis_url_value
    if is_running(settings.data_dir):
        return f"unix://{socket_path(settings.data_dir)}"
    return None


def connect(settings: Settings) -> redis.Redis:
    """A Redis client (bytes in, bytes out) for ``redis://``, ``rediss://`` or ``unix://``."""
    return redis.Redis.from_url(redis_url(settings), health_check_interval=30)


def broker_url(url: str) -> str:
    """The kombu spelling of a Redis URL (``unix://`` becomes ``redis+socket://``)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def redacted(url: str) -> str:
    """``url`` with any password replaced, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit(parts._replace(netloc=netloc))
