"""Connections: the Redis client and the Celery broker URL, from settings."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError
from redis.typing import EncodableT

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


class ScriptStream:
    """Calls of one Lua script on one pooled connection, each sent as soon as the caller has
    it ready and all answered together (:meth:`results`), in order.

    Redis runs one call while the caller prepares the next, where a pipeline would wait for
    the last one to be ready before sending any. A call that meets ``NOSCRIPT`` did not run:
    the script is loaded and those calls alone sent again. When the connection breaks, every
    call is sent again on a new one under the client's retry policy: a call that had already
    run answers as it does the second time (the apply scripts: ``duplicate``).
    """

    def __init__(self, client: redis.Redis, script: Script) -> None:
        self._pool = client.connection_pool
        self._script = script
        self._calls: list[list[Any]] = []
        self._conn: Any = None
        self._broken = False
        self._unread = False

    def __enter__(self) -> ScriptStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is None:
            return
        if self._unread:
            self._conn.disconnect()  # replies nobody read must not reach the next user
        self._pool.release(self._conn)

    def send(self, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Send one call now (its answer comes with :meth:`results`)."""
        if self._conn is None:
            self._conn = self._pool.get_connection()
        call = ["EVALSHA", self._script.sha, len(keys), *keys, *args]
        self._calls.append(call)
        if self._broken:
            return
        self._unread = True
        try:
            self._conn.send_command(*call)
        except (redis.ConnectionError, redis.TimeoutError):
            self._broken = True

    def results(self) -> list[Any]:
        """Every call's answer, in order (a script error raises, as it would alone)."""
        if not self._calls:
            return []
        if not self._broken:
            try:
                return self._read(self._calls)
            except (redis.ConnectionError, redis.TimeoutError):
                pass

        def again() -> list[Any]:
            for call in self._calls:
                self._unread = True
                self._conn.send_command(*call)
            return self._read(self._calls)

        self._conn.disconnect()
        return list(self._conn.retry.call_with_retry(again, lambda _e: self._conn.disconnect()))

    def _read(self, calls: Sequence[list[Any]]) -> list[Any]:
        replies: list[Any] = []
        lost: list[int] = []  # calls that met NOSCRIPT, so never ran
        for i in range(len(calls)):
            try:
                replies.append(self._conn.read_response())
            except NoScriptError:
                replies.append(None)
                lost.append(i)
        self._unread = False
        if lost:
            self._conn.send_command("SCRIPT", "LOAD", self._script.script)
            for i in lost:
                self._conn.send_command(*calls[i])
            self._unread = True
            self._conn.read_response()
            for i, reply in zip(lost, self._read([calls[i] for i in lost]), strict=True):
                replies[i] = reply
        return replies


def exchange(
    r: redis.Redis,
    calls: Sequence[tuple[Script, Sequence[Any], Sequence[Any]]] = (),
    reads: Sequence[Sequence[EncodableT]] = (),
) -> list[Any]:
    """Script calls (script, keys, args), then ``reads`` (commands without side effects), in
    one round trip on one pooled connection, without redis-py's per-command layers (hooks,
    option parsing, response callbacks: they cost the planner more than the round trip).

    Replies come as Redis sends them (a hash read is a flat list: see
    :func:`syndication.replies.hash_of`), the
    scripts' first. A script the server lost is loaded and that call run again (it did not
    run), and then the reads are sent again, so that they always see what every script did.
    A broken connection sends the whole batch again under the client's retry policy, as a
    pipeline would: every script here must answer a second run as it did the first.
    """
    batch: list[list[EncodableT]] = [
        ["EVALSHA", script.sha, len(keys), *keys, *args] for script, keys, args in calls
    ]
    batch += [list(command) for command in reads]
    pool = r.connection_pool
    conn = pool.get_connection()
    try:

        def send(commands: list[list[EncodableT]]) -> list[Any]:
            conn.send_packed_command(conn.pack_commands(commands))
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except ResponseError as exc:  # an error reply: the next one follows it
                    replies.append(exc)
            return replies

        def drop(_error: Exception) -> None:
            conn.disconnect()

        replies = conn.retry.call_with_retry(lambda: send(batch), drop)
        again = False
        for i, (script, _, _) in enumerate(calls):
            if isinstance(replies[i], NoScriptError):
                load: list[list[EncodableT]] = [["SCRIPT", "LOAD", script.script], batch[i]]
                replies[i] = conn.retry.call_with_retry(partial(send, load), drop)[1]
                again = True
        if again and reads:
            replies[len(calls) :] = conn.retry.call_with_retry(
                lambda: send(batch[len(calls) :]), drop
            )
    except BaseException:
        conn.disconnect()  # replies nobody read must not reach the next user
        raise
    finally:
        pool.release(conn)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
