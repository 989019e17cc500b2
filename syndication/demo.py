"""``syndication demo``: the whole system on one machine, on the sample articles.

Starts (or finds) the embedded Redis, a local sandbox standing in for every platform, a
worker with beat, and the HTTP server, all in one process group; publishes the samples;
waits until the feeds are rendered and the posts are sent; prints where to look. On a
terminal it keeps running until Ctrl-C; otherwise it stops by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syndication.settings import Settings

SANDBOX_SECRETS = {
    # Fake credentials the local sandboxes accept; they grant nothing anywhere else.
    "DEMO_X_CONSUMER_KEY": "demo-consumer-key",
    "DEMO_X_CONSUMER_SECRET": "demo-consumer-secret",
    "DEMO_X_ACCESS_TOKEN": "demo-access-token",
    "DEMO_X_ACCESS_SECRET": "demo-access-secret",
    "DEMO_MASTODON_TOKEN": "demo-mastodon-token",
    "DEMO_TELEGRAM_TOKEN": "123456:TEST-token",
    "DEMO_FACEBOOK_TOKEN": "EAAB-sandbox-page-token",
    "DEMO_BLUESKY_PASSWORD": "abcd-efgh-ijkl-mnop",
    "DEMO_LINKEDIN_TOKEN": "AQV-sandbox-token",
    "DEMO_THREADS_TOKEN": "THQW-sandbox-token",
}


@dataclass
class Sandboxes:
    """Every platform's local stand-in, started in this process."""

    servers: dict[str, Any] = field(default_factory=dict)

    def start(self) -> dict[str, str]:
        from syndication.sandbox.bluesky import BlueskySandbox
        from syndication.sandbox.facebook import FacebookSandbox
        from syndication.sandbox.linkedin import LinkedInSandbox
        from syndication.sandbox.mastodon import MastodonSandbox
        from syndication.sandbox.telegram import TelegramSandbox
        from syndication.sandbox.threads import ThreadsSandbox
        from syndication.sandbox.x import XSandbox

        self.servers = {
            "x": XSandbox(),
            "mastodon": MastodonSandbox(),
            "telegram": TelegramSandbox(),
            "facebook": FacebookSandbox(),
            "bluesky": BlueskySandbox(),
            "linkedin": LinkedInSandbox(),
            "threads": ThreadsSandbox(),
        }
        return {name: server.start() for name, server in self.servers.items()}

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def live_posts(self) -> dict[str, int]:
        return {name: len(server.live_posts()) for name, server in self.servers.items()}


def channels_config(urls: dict[str, str]) -> dict[str, Any]:
    """One channel per platform, languages spread across vi/en/ja, pointing at the sandboxes."""
    fast = {"delay_after_publish": 0, "min_spacing": "2s", "timezone": "Asia/Ho_Chi_Minh"}

    def channel(
        name: str, platform: str, lang: str, creds: dict[str, str], **extra: Any
    ) -> dict[str, Any]:
        return {
            "name": name,
            "platform": platform,
            "language": lang,
            "api_base_url": urls[platform],
            "credentials": creds,
            "schedule": fast,
            "max_age": "3650d",
            "edit_on_update": True,
            "delete_on_unpublish": True,
            "utm": {"source": platform, "medium": "social"},
            **extra,
        }

    return {
        "channels": [
            channel(
                "x-en",
                "x",
                "en",
                {
                    "consumer_key": "DEMO_X_CONSUMER_KEY",
                    "consumer_secret": "DEMO_X_CONSUMER_SECRET",
                    "access_token": "DEMO_X_ACCESS_TOKEN",
                    "access_token_secret": "DEMO_X_ACCESS_SECRET",
                },
            ),
            channel("mastodon-vi", "mastodon", "vi", {"access_token": "DEMO_MASTODON_TOKEN"}),
            channel(
                "telegram-vi",
                "telegram",
                "vi",
                {"bot_token": "DEMO_TELEGRAM_TOKEN"},
                options={"chat_id": "@portal_vi"},
            ),
            channel(
                "facebook-en",
                "facebook",
                "en",
                {"page_access_token": "DEMO_FACEBOOK_TOKEN"},
                options={"page_id": "1122334455"},
            ),
            channel(
                "bluesky-ja",
                "bluesky",
                "ja",
                {"handle": "DEMO_BLUESKY_HANDLE", "app_password": "DEMO_BLUESKY_PASSWORD"},
            ),
            channel(
                "linkedin-en",
                "linkedin",
                "en",
                {"access_token": "DEMO_LINKEDIN_TOKEN"},
                options={"organization_id": "2414183"},
            ),
            channel(
                "threads-ja",
                "threads",
                "ja",
                {"access_token": "DEMO_THREADS_TOKEN"},
                options={"user_id": "17841400000000001"},
            ),
        ],
        "routing": {
            "mode": "all",
            "routes": [
                {
                    "name": "everything",
                    "match": {},
                    "channels": [
                        "x-en",
                        "mastodon-vi",
                        "telegram-vi",
                        "facebook-en",
                        "bluesky-ja",
                        "linkedin-en",
                        "threads-ja",
                    ],
                },
            ],
        },
    }


def _say(message: str) -> None:
    print(message, flush=True)


def run_demo(
    settings: Settings, *, source_config: Path, samples: Path, port: int, keep_running: bool
) -> int:
    """Run the demo; return the exit code."""
    from syndication.cli._context import CliContext
    from syndication.connection import redacted, redis_url
    from syndication.documents import DocumentStore
    from syndication.ledger import Ledger, PostStatus

    data = settings.data_dir.resolve()
    config_dir = data / "demo-config"
    shutil.rmtree(config_dir, ignore_errors=True)
    config_dir.mkdir(parents=True)
    for file in sorted(source_config.glob("*.yaml")):
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        if "feeds" in doc:
            doc["feeds"]["base_url"] = f"http://127.0.0.1:{port}"
            doc["feeds"]["export_dir"] = str(data / "export")
        (config_dir / file.name).write_text(
            yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
        )

    url = redis_url(settings)
    _say(f"Redis: {redacted(url)}{'' if settings.redis_url else ' (embedded)'}")
    sandboxes = Sandboxes()
    urls = sandboxes.start()
    (config_dir / "channels.yaml").write_text(
        yaml.safe_dump(channels_config(urls)), encoding="utf-8"
    )
    _say("Platform sandboxes: " + ", ".join(f"{k} {v}" for k, v in urls.items()))

    prefix = settings.prefix
    env = {
        **os.environ,
        **SANDBOX_SECRETS,
        "DEMO_BLUESKY_HANDLE": "news.sandbox.test",
        "REDIS_URL": url,
        "SYNDICATION_PREFIX": prefix,
        "SYNDICATION_DATA_DIR": str(data),
        "SYNDICATION_CONFIG_PATH": str(config_dir),
        "PYTHONUNBUFFERED": "1",
        "SYNDICATION_WEBHOOK_SECRET": os.environ.get(
            "SYNDICATION_WEBHOOK_SECRET", "demo-webhook-secret"
        ),
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("DEMO_")})
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, *args: str) -> None:
        out = (logs / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "syndication", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=False,
            )
        )
        _say(f"started {name} (log: {logs / (name + '.log')})")

    ctx = CliContext(
        {"redis_url": url, "prefix": prefix, "config_path": config_dir, "data_dir": data}
    )
    code = 0
    try:
        ctx.store.delete_all()  # a demo starts from a clean slate under its own prefix
        spawn("worker", "worker", "-c", "2", "--beat", "--loglevel", "WARNING")
        from syndication.cli import cli

        if "serve" in cli.commands:
            spawn("server", "serve", "--host", "127.0.0.1", "--port", str(port))
        lines = [
            json.loads(line)
            for line in samples.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        for event in lines:
            ctx.app.send_task("syndication.ingest", (event,), kwargs={"source": "demo"})
        _say(f"published {len(lines)} sample events; waiting for the worker...")
        ids = [e["id"] for e in lines]
        deadline = time.monotonic() + 90
        ledger = Ledger(ctx.store)
        docs = DocumentStore(ctx.store)
        while time.monotonic() < deadline:
            applied = sum(1 for s in ctx.store.event_states(ids) if s == "applied")
            posts = ledger.many(ledger.all_ids())
            open_posts = [
                p
                for p in posts
                if p.status in (PostStatus.PLANNED, PostStatus.DUE, PostStatus.SENDING)
            ]
            if applied == len(ids) and posts and not open_posts and not ctx.store.dirty_feeds():
                break
            time.sleep(0.5)
        # An update and a retraction after the posts went out: edits and deletions follow.
        _report(ctx, ledger, docs, sandboxes, port)
    except KeyboardInterrupt:
        code = 130
    finally:
        if keep_running and code == 0:
            _say("\nRunning. Press Ctrl-C to stop.")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        sandboxes.stop()
        _say(
            "stopped worker, beat, server and sandboxes (the embedded Redis keeps the data; "
            "`syndication redis stop` stops it)"
        )
    return code


def _report(ctx: Any, ledger: Any, docs: Any, sandboxes: Sandboxes, port: int) -> None:
    from syndication.cli._context import print_table

    stored = ctx.store.count_articles()
    documents = docs.documents()
    _say(
        f"\n{stored} articles stored; {len(documents)} feed documents rendered "
        f"(also exported to {ctx.settings.data_dir.resolve() / 'export'})"
    )
    base = f"http://127.0.0.1:{port}"
    for path in (
        "/feeds/vi/all.rss",
        "/feeds/en/all.atom",
        "/feeds/ja/all.json",
        "/feeds/vi/category/heritage.rss",
        "/feeds/index.opml",
    ):
        _say(f"  {base}{path}")
    posts = ledger.many(ledger.all_ids())
    print_table(
        "Posts",
        ["post", "status", "remote"],
        [[p.id, p.status.value, p.remote_url or p.remote_id or p.last_error] for p in posts],
    )
    live = sandboxes.live_posts()
    _say(
        "Posts received by each platform's sandbox: "
        + ", ".join(f"{k} {v}" for k, v in live.items())
    )
    _say(
        "Try: syndication posts list · syndication feeds list · syndication dlq list "
        "(with SYNDICATION_PREFIX and SYNDICATION_CONFIG_PATH as above)"
    )
