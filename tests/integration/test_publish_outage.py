"""Publishing while Redis is down: a real redis-server, started and stopped by the test.

The CLI retries for ``--retry-for`` seconds, then prints per event what was queued and what
was not and exits 3; the Python API raises ``StoreUnavailable``; ``POST /events`` answers
503 with a JSON error. No traceback, and the Redis password never shows.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result
from pydantic import SecretStr

import syndication
from syndication.cli import cli
from syndication.config import Config
from syndication.connection import connect
from syndication.embedded import redis_server_binary
from syndication.errors import StoreError
from syndication.keys import Keys
from syndication.server import create_app
from syndication.settings import Settings
from syndication.store import Store
from tests.conftest import wait_until
from tests.integration.test_server import SECRET, call, signed
from tests.strategies import hostile_base

PASSWORD = "outage-test-password-7f3a"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server on a free port with a password, to be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        try:
            self.binary = str(redis_server_binary())
        except StoreError:
            self.binary = shutil.which("redis-server") or "redis-server"
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                PASSWORD,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_until(lambda: _answers(client), timeout=15, message="redis-server up")
        client.close()
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, not yet started; stopped at the end."""
    folder = tmp_path / "redis"
    folder.mkdir()
    srv = RedisServer(folder)
    yield srv
    srv.stop()


@pytest.fixture
def down_settings(settings: Settings, server: RedisServer) -> Settings:
    """The test's settings pointed at ``server`` (with its password in the URL)."""
    return settings.model_copy(update={"redis_url": SecretStr(server.url)})


def run_cli(settings: Settings, *args: str, input: str) -> Result:
    """The real CLI in-process against ``settings``; an escaping exception fails the test."""
    root = ["--redis-url", settings.redis_url_value or "", "--prefix", settings.prefix]
    root += ["--config", str(settings.config_path), "--data-dir", str(settings.data_dir)]
    return CliRunner().invoke(cli, [*root, *args], input=input, catch_exceptions=False)


def events(*numbers: int) -> str:
    """Valid events as JSON Lines."""
    return "\n".join(json.dumps(hostile_base(n)) for n in numbers)


def test_cli_publish_reports_what_was_not_queued_and_exits_3(down_settings: Settings) -> None:
    """With Redis down past --retry-for, every event is listed as not queued (an invalid one
    as rejected but not kept), with the reason, and the command exits 3."""
    lines = events(1, 2) + "\n" + json.dumps({"id": "evt-bad", "type": "nope"})
    result = run_cli(down_settings, "publish", "-", "--json", "--retry-for", "0.3", input=lines)
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    reason = "redis: unreachable for 0.3 s (ConnectionError)"
    assert [(r["status"], r.get("reason")) for r in doc["events"]] == [
        ("not-queued", reason),
        ("not-queued", reason),
        ("rejected", f"dead letter not kept: {reason}"),
    ]
    assert doc["events"][0]["event_id"] == "evt-hostile-1"
    assert (doc["accepted"], doc["rejected"], doc["not_queued"]) == (0, 1, 2)
    assert PASSWORD not in result.output and "Traceback" not in result.output

    table = run_cli(down_settings, "publish", "-", "--retry-for", "0", input=events(3))
    assert table.exit_code == 3 and "not-queued" in table.stdout
    assert "publish the events marked not-queued again" in table.stderr
    assert PASSWORD not in table.output


def test_cli_publish_queues_everything_when_redis_returns_within_retry_for(
    down_settings: Settings, server: RedisServer
) -> None:
    """Redis coming back while publish retries: every event is queued, exit 0."""
    # The outage's length is part of the scenario; nothing below waits on it.
    comeback = threading.Timer(0.5, server.start)
    comeback.start()
    try:
        result = run_cli(
            down_settings, "publish", "-", "--json", "--retry-for", "30", input=events(1, 2, 3)
        )
    finally:
        comeback.join()
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in json.loads(result.stdout)["events"]] == ["queued"] * 3
    store = Store(connect(down_settings), Keys(down_settings.prefix))
    assert store.inbox_length() == 3


def test_python_publish_raises_store_unavailable_without_the_password(
    down_settings: Settings,
) -> None:
    """`syndication.publish` raises a StoreError whose text, repr and traceback hold no
    password; an invalid event is still an EventValidationError."""
    with pytest.raises(syndication.StoreUnavailable) as caught:
        syndication.publish(hostile_base(), settings=down_settings, retry_for=0.2)
    assert isinstance(caught.value, syndication.StoreError)
    assert str(caught.value) == "redis: unreachable for 0.2 s (ConnectionError)"
    shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert PASSWORD not in shown
    with pytest.raises(syndication.EventValidationError, match="type: unknown event type"):
        syndication.publish({"id": "evt-x", "type": "nope"}, settings=down_settings, retry_for=0)


def test_http_answers_503_with_json_while_redis_is_down_then_202(
    down_settings: Settings, config: Config, server: RedisServer
) -> None:
    """POST /events answers 503 with a JSON error while Redis is down (valid or not: nothing
    could be kept), then 202 and 422 once it is back."""
    signed_settings = down_settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    store = Store(connect(signed_settings), Keys(signed_settings.prefix))
    app = create_app(signed_settings, config, store=store)
    good = json.dumps(hostile_base(1)).encode()
    bad = b'{"id": "evt-bad", "type": "nope"}'
    for body in (good, bad):
        response = call(app, "POST", "/events", content=body, headers=signed(body))
        assert response.status_code == 503
        assert response.json() == {"errors": ["queue: Redis unreachable; retry later"]}
        assert PASSWORD not in response.text
    server.start()
    response = call(app, "POST", "/events", content=good, headers=signed(good))
    assert response.status_code == 202 and response.json()["event_id"] == "evt-hostile-1"
    assert call(app, "POST", "/events", content=bad, headers=signed(bad)).status_code == 422
    assert store.inbox_length() == 1 and store.count_dead_letters() == 1


def test_a_redis_that_refuses_writes_is_reported_per_event_not_raised(
    down_settings: Settings, server: RedisServer
) -> None:
    """Out of memory (maxmemory reached, noeviction): the CLI lists the events as not queued
    with Redis's answer and exits 3 at once; Python gets a StoreError."""
    server.start()
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory", 1)
    client.close()
    result = run_cli(down_settings, "publish", "-", "--json", "--retry-for", "30", input=events(1))
    assert result.exit_code == 3, result.output
    [row] = json.loads(result.stdout)["events"]
    assert row["status"] == "not-queued"
    assert row["reason"] == (
        "redis: OutOfMemoryError: command not allowed when used memory > 'maxmemory'."
    )
    with pytest.raises(syndication.StoreError, match="OutOfMemoryError") as caught:
        syndication.publish(hostile_base(2), settings=down_settings)
    assert not isinstance(caught.value, syndication.StoreUnavailable)
