"""No secret in any line any process writes, at DEBUG or INFO, whatever library writes it.

Every credential is a distinctive marker: the X, Mastodon, Telegram, Facebook, Bluesky,
LinkedIn and Threads credentials of one channel each (against the local sandboxes, with the
real client libraries), the webhook secret and the Redis password. The real processes run
(a supervised worker with beat, ``syndication serve``, and the CLI: ``channels check``,
``publish``, ``posts list``, ``posts show``, ``status``), a story is posted to every platform,
updated (edited where the platform can) and retracted (deleted), and then the whole output of
every process, stdout and stderr, is searched for the markers.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from syndication.platforms.facts import FACTS
from syndication.server import signature_for
from syndication.settings import Settings
from syndication.testing.base import SandboxServer
from syndication.testing.bluesky import BlueskySandbox
from syndication.testing.facebook import FacebookSandbox
from syndication.testing.linkedin import LinkedInSandbox
from syndication.testing.mastodon import MastodonSandbox
from syndication.testing.telegram import TelegramSandbox
from syndication.testing.threads import ThreadsSandbox
from syndication.testing.x import XSandbox
from tests.conftest import PrivateRedis, env_for, free_port, wait_until
from tests.unit.test_events import EVENT

# One distinctive value per secret; the environment variable each lives in.
MARKERS = {
    "LEAKTEST_X_CONSUMER_KEY": "xck-MARKER-7a1c9e3f5b",
    "LEAKTEST_X_CONSUMER_SECRET": "xcs-MARKER-2d4f6a8c0e",
    "LEAKTEST_X_ACCESS_TOKEN": "1500-xat-MARKER-9b7d5f3a1c",
    "LEAKTEST_X_ACCESS_SECRET": "xas-MARKER-4e6a8c0b2d",
    "LEAKTEST_MASTODON_TOKEN": "mdn-MARKER-5c3a1e9f7d",
    "LEAKTEST_TELEGRAM_TOKEN": "7000000001:AAF-MARKER-tg3b5d7f9a1c",
    "LEAKTEST_FACEBOOK_TOKEN": "EAAB-MARKER-fb8e6c4a2f",
    "LEAKTEST_BLUESKY_PASSWORD": "mark-erbs-kypw-d0c2",
    "LEAKTEST_LINKEDIN_TOKEN": "AQV-MARKER-li1f3b5d7e",
    "LEAKTEST_THREADS_TOKEN": "THQW-MARKER-th6d8f0a2c",
    "SYNDICATION_WEBHOOK_SECRET": "whs-MARKER-0e2c4a6f8b",
}
REDIS_PASSWORD = "rds-MARKER-3f5b7d9a1e"
SECRETS = (*MARKERS.values(), REDIS_PASSWORD)
ARTICLE = "leaktest-1"


@pytest.fixture
def sandboxes() -> Iterator[dict[str, SandboxServer]]:
    """Every platform's sandbox, accepting only the marker credentials."""
    servers: dict[str, SandboxServer] = {
        "x": XSandbox(),
        "mastodon": MastodonSandbox(),
        "telegram": TelegramSandbox(token=MARKERS["LEAKTEST_TELEGRAM_TOKEN"]),
        "facebook": FacebookSandbox(token=MARKERS["LEAKTEST_FACEBOOK_TOKEN"]),
        "bluesky": BlueskySandbox(app_password=MARKERS["LEAKTEST_BLUESKY_PASSWORD"]),
        "linkedin": LinkedInSandbox(token=MARKERS["LEAKTEST_LINKEDIN_TOKEN"]),
        "threads": ThreadsSandbox(token=MARKERS["LEAKTEST_THREADS_TOKEN"]),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def channels(urls: dict[str, str]) -> dict[str, Any]:
    """One channel per platform, all in Vietnamese, posting at once, editing and deleting."""

    def channel(platform: str, credentials: dict[str, str], **options: str) -> dict[str, Any]:
        return {
            "name": f"{platform}-vi",
            "platform": platform,
            "language": "vi",
            "api_base_url": urls[platform],
            "credentials": credentials,
            "options": options,
            "schedule": {"delay_after_publish": 0, "min_spacing": 0},
            "edit_on_update": True,
            "delete_on_unpublish": True,
        }

    chans = [
        channel(
            "x",
            {
                "consumer_key": "LEAKTEST_X_CONSUMER_KEY",
                "consumer_secret": "LEAKTEST_X_CONSUMER_SECRET",
                "access_token": "LEAKTEST_X_ACCESS_TOKEN",
                "access_token_secret": "LEAKTEST_X_ACCESS_SECRET",
            },
            username="sandbox_news",
        ),
        channel("mastodon", {"access_token": "LEAKTEST_MASTODON_TOKEN"}),
        channel("telegram", {"bot_token": "LEAKTEST_TELEGRAM_TOKEN"}, chat_id="@leaktest_vi"),
        channel("facebook", {"page_access_token": "LEAKTEST_FACEBOOK_TOKEN"}, page_id="1122334455"),
        channel(
            "bluesky",
            {"handle": "LEAKTEST_BLUESKY_HANDLE", "app_password": "LEAKTEST_BLUESKY_PASSWORD"},
        ),
        channel("linkedin", {"access_token": "LEAKTEST_LINKEDIN_TOKEN"}, organization_id="2414183"),
        channel("threads", {"access_token": "LEAKTEST_THREADS_TOKEN"}, user_id="17841400000000001"),
    ]
    names = [c["name"] for c in chans]
    return {"channels": chans, "routing": {"mode": "all", "routes": [{"channels": names}]}}


def article_event(kind: str, n: int, published: datetime, **article: object) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(EVENT)
    doc.update(id=f"leaktest-evt-{n}", type=kind, occurred_at=datetime.now(UTC).isoformat())
    if kind == "article.unpublished":
        doc["article"] = {"id": ARTICLE}
        return doc
    doc["article"].pop("image")
    doc["article"].update(id=ARTICLE, published_at=published.isoformat(), **article)
    return doc


class Processes:
    """Every process the test runs, each with its whole output kept in a file."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.services: list[subprocess.Popen[bytes]] = []
        self.outputs: dict[str, Path] = {}

    def _log(self, name: str) -> Path:
        path = self.folder / f"{len(self.outputs):02d}-{name}.log"
        self.outputs[name] = path
        return path

    def start(self, name: str, *args: str) -> None:
        """A long-running ``syndication`` process in a process group of its own."""
        self.services.append(
            subprocess.Popen(
                [sys.executable, "-m", "syndication", *args],
                env=self.env,
                stdout=self._log(name).open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def run(self, name: str, *args: str, stdin: str | None = None) -> str:
        """A CLI command to completion; its stdout (both streams are kept)."""
        done = subprocess.run(
            [sys.executable, "-m", "syndication", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self._log(name).write_text(done.stdout + done.stderr, encoding="utf-8")
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def stop(self) -> None:
        for proc in self.services:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.services:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def post_signed(base: str, event: dict[str, Any]) -> None:
    """POST /events signed with the webhook secret, as a CMS would."""
    body = json.dumps(event, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    secret = MARKERS["SYNDICATION_WEBHOOK_SECRET"].encode()
    response = httpx.post(
        f"{base}/events",
        content=body,
        headers={
            "X-Syndication-Timestamp": ts,
            "X-Syndication-Signature": signature_for(secret, ts, body),
        },
        timeout=10,
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_no_secret_reaches_any_output_at_any_level(
    level: str, tmp_path: Path, config_dir: Path, sandboxes: dict[str, SandboxServer]
) -> None:
    """A story sent, edited and deleted on every platform leaves no credential, webhook
    secret or Redis password in any process's output."""
    server = PrivateRedis(tmp_path / "redis", password=REDIS_PASSWORD).start()
    urls = {name: s.base_url for name, s in sandboxes.items()}
    (config_dir / "channels.yaml").write_text(yaml.safe_dump(channels(urls)), encoding="utf-8")
    settings = Settings(
        redis_url=server.url, prefix="leaktest", data_dir=tmp_path / "data", config_path=config_dir
    )
    env = {
        **env_for(settings),
        **MARKERS,
        "LEAKTEST_BLUESKY_HANDLE": "news.sandbox.test",
        "SYNDICATION_LOG_LEVEL": level,
    }
    port = free_port()
    procs = Processes(tmp_path, env)
    published = datetime.now(UTC) - timedelta(seconds=5)
    try:
        procs.start("worker", "worker", "--beat", "-c", "2", f"--loglevel={level}")
        procs.start("serve", "serve", "--port", str(port), f"--loglevel={level}")
        procs.run("channels check", "channels", "check")
        procs.run(
            "publish",
            "publish",
            "-",
            "--json",
            stdin=json.dumps(article_event("article.published", 1, published)),
        )
        wait_until(
            lambda: all(len(s.live_posts()) == 1 for s in sandboxes.values()),
            timeout=40,
            message="the story posted on every platform",
        )
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), timeout=20, message="the server up")
        updated = article_event(
            "article.updated",
            2,
            published,
            title="Phố cổ Hội An về đêm",
            updated_at=datetime.now(UTC).isoformat(),
        )
        post_signed(base, updated)
        editable = [n for n in sandboxes if FACTS[n].can_edit]
        wait_until(
            lambda: all(sandboxes[n].live_posts()[0].edits for n in editable),
            timeout=40,
            message=f"the story edited on {', '.join(editable)}",
        )
        post_signed(base, article_event("article.unpublished", 3, published))
        wait_until(
            lambda: all(not s.live_posts() for s in sandboxes.values()),
            timeout=40,
            message="the story deleted everywhere",
        )
        listed = json.loads(procs.run("posts list", "posts", "list", "--json"))["posts"]
        assert len(listed) == len(sandboxes)
        for post in listed[:2]:
            procs.run(f"posts show {post['id']}", "posts", "show", post["id"])
        procs.run("status", "status")
    finally:
        procs.stop()
        server.stop()
    lines = 0
    for name, path in procs.outputs.items():
        text = path.read_text(encoding="utf-8", errors="replace")
        lines += text.count("\n")
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{name} wrote {leaked}"
    print(f"\n[{level}] {len(procs.outputs)} outputs, {lines} lines, {len(SECRETS)} markers: none")
    # The libraries did talk, and what they said reached the output, scrubbed: httpx's line
    # for each Telegram call (the token is in its URL) and, at DEBUG, oauthlib's for X.
    worker = procs.outputs["worker"].read_text(encoding="utf-8", errors="replace")
    assert '"logger": "httpx"' in worker and "/bot[redacted]/sendMessage" in worker
    if level == "DEBUG":
        assert '"logger": "requests_oauthlib.oauth1_auth"' in worker


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
