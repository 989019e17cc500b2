"""Connections: the Redis client and the Celery broker URL, from settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

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


def run_script(
    client: redis.Redis, script: Script, keys: Sequence[Any], args: Sequence[Any]
) -> Any:
    """Run a registered Lua script (``EVALSHA``, loading it when the server lost it) on one
    pooled connection of ``client``, with the client's retry policy and health checks.

    For the one call every event makes: redis-py's general command path adds more client
    work per call (hooks, option parsing, response callbacks a script reply has no use for)
    than the round trip itself costs on a local socket.
    """
    pool = client.connection_pool
    conn = pool.get_connection()
    try:

        def evalsha() -> Any:
            conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
            return conn.read_response()

        def load_and_run() -> Any:
            conn.send_command("SCRIPT", "LOAD", script.script)
            conn.read_response()
            return evalsha()

        def drop(_error: Exception) -> None:
            conn.disconnect()

        try:
            return conn.retry.call_with_retry(evalsha, drop)
        except NoScriptError:
            return conn.retry.call_with_retry(load_and_run, drop)
    finally:
        pool.release(conn)
