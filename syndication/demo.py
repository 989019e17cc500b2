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
from pydantic import SecretStr

from syndication.publishing import Publisher
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


class ImageServer:
    """Stands in for the portal's image host: a lead photo per article, drawn on the fly.

    The sample articles name images on a host this machine cannot reach; the demo points
    them here so that every platform's sandbox receives a real photo with its caption.
    """

    def __init__(self, delay: float = 0.0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        def jpeg(seed: str) -> bytes:
            import hashlib
            import io

            from PIL import Image, ImageDraw

            r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
            image = Image.new("RGB", (1200, 800), (r, g, b))
            ImageDraw.Draw(image).rectangle(
                (100, 100, 1100, 700), outline=(255, 255, 255), width=12
            )
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=80)
            return buffer.getvalue()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if delay:
                    time.sleep(delay)  # a slow image host (the chaos tests use one)
                body = jpeg(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def localise(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with its lead image served from here."""
        image = event.get("article", {}).get("image")
        if isinstance(image, dict) and isinstance(image.get("url"), str):
            image["url"] = self.base_url + "/" + image["url"].split("://", 1)[-1].split("/", 1)[-1]
        return event

    def stop(self) -> None:
        self.server.shutdown()


@dataclass
class Sandboxes:
    """Every platform's local stand-in, started in this process."""

    servers: dict[str, Any] = field(default_factory=dict)

    def start(self) -> dict[str, str]:
        from syndication.testing.bluesky import BlueskySandbox
        from syndication.testing.facebook import FacebookSandbox
        from syndication.testing.linkedin import LinkedInSandbox
        from syndication.testing.mastodon import MastodonSandbox
        from syndication.testing.telegram import TelegramSandbox
        from syndication.testing.threads import ThreadsSandbox
        from syndication.testing.x import XSandbox

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
            "attach_image": True,
            **extra,
        }

    return {
        # The demo's lead photos come from a server on this machine (see ImageServer).
        "images": {"allow_private": True},
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
    from feeds.documents import DocumentStore
    from syndication.cli._context import CliContext
    from syndication.connection import redacted, redis_url
    from syndication.posts.ledger import Ledger, PostStatus
    from syndication.worklist import WorkList

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

    from syndication.embedded import is_running, stop_embedded

    embedded_before = settings.redis_url is None and is_running(data)
    url = redis_url(settings)
    _say(f"Redis: {redacted(url)}{'' if settings.redis_url else ' (embedded)'}")
    sandboxes = Sandboxes()
    urls = sandboxes.start()
    images = ImageServer()
    (config_dir / "channels.yaml").write_text(
        yaml.safe_dump(channels_config(urls)), encoding="utf-8"
    )
    _say("Platform sandboxes: " + ", ".join(f"{k} {v}" for k, v in urls.items()))

    # A prefix of the demo's own: it starts by deleting every key under it, and must never
    # touch a real deployment's keys on the same server.
    prefix = f"{settings.prefix}-demo"
    demo_settings = settings.model_copy(
        update={
            "redis_url": SecretStr(url),
            "prefix": prefix,
            "data_dir": data,
            "config_path": config_dir,
            "webhook_secret": settings.webhook_secret or SecretStr("demo-webhook-secret"),
        }
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
        **SANDBOX_SECRETS,
        "DEMO_BLUESKY_HANDLE": "news.sandbox.test",
        **demo_settings.to_env(),
        "PYTHONUNBUFFERED": "1",
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
        spawn("server", "serve", "--host", "127.0.0.1", "--port", str(port))
        lines = [
            json.loads(line)
            for line in samples.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        _publish(ctx, [images.localise(event) for event in lines])
        _say(f"published {len(lines)} sample events; waiting for the worker...")
        ids = [e["id"] for e in lines]
        deadline = time.monotonic() + 90
        ledger = Ledger(ctx.store)
        docs = DocumentStore(ctx.store)
        plans, syncs = WorkList(ctx.store, "plan"), WorkList(ctx.store, "sync")
        while time.monotonic() < deadline:
            applied = sum(1 for s in ctx.store.event_states(ids) if s == "applied")
            posts = ledger.many(ledger.all_ids())
            open_posts = [p for p in posts if p.status in (PostStatus.PLANNED, PostStatus.SENDING)]
            owed = plans.size() + syncs.size()
            if (
                applied == len(ids)
                and posts
                and not open_posts
                and not owed
                and not ctx.store.dirty_feeds()
            ):
                break
            time.sleep(0.5)
        _report(ctx, ledger, docs, sandboxes, port)
        _lifecycle(ctx, ledger, docs, lines)
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
        images.stop()
        if settings.redis_url is None and not embedded_before:
            stop_embedded(data)  # it saves first; the next command starts it again
        _say("stopped worker, beat, server, sandboxes and the Redis the demo started")
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
        ["post", "status", "photo", "remote"],
        [
            [
                p.id,
                p.status.value,
                "yes" if p.image_url and not _image_skipped(p) else "no",
                p.remote_url or p.remote_id or p.last_error,
            ]
            for p in posts
        ],
    )
    live = sandboxes.live_posts()
    _say(
        "Posts received by each platform's sandbox: "
        + ", ".join(f"{k} {v}" for k, v in live.items())
    )
    _say(
        "Afterwards: SYNDICATION_PREFIX="
        + ctx.settings.prefix
        + " SYNDICATION_CONFIG_PATH="
        + str(ctx.settings.config_path)
        + " syndication posts list (or status, feeds list, dlq list)"
    )


def _image_skipped(post: Any) -> bool:
    return any("image skipped" in str(h.get("note", "")) for h in post.history)


def _publish(ctx: Any, events: list[dict[str, Any]]) -> None:
    """Hand events over the way every producer does (validate, inbox, nudge)."""
    publisher = Publisher(ctx.store, ctx.settings.limits, nudge=ctx.nudge_drain)
    for done in publisher.publish_all(events, source="demo"):
        if done.status != "queued":
            why = "; ".join(map(str, done.errors)) or done.reason
            _say(f"event {done.event_id} {done.status}: {why}")


def _lifecycle(ctx: Any, ledger: Any, docs: Any, lines: list[dict[str, Any]]) -> None:
    """An update and a retraction after the posts went out: feeds follow, posts are edited
    where the platform can and deleted where the channel asks."""
    import copy

    from syndication.worklist import WorkList

    first, second = lines[0], lines[5]
    update = copy.deepcopy(first)
    update["id"], update["type"] = "evt-demo-update", "article.updated"
    update["article"]["title"] += " (cập nhật)"
    update["article"]["updated_at"] = "2026-11-25T09:00:00+07:00"
    retract = {
        "id": "evt-demo-retract",
        "type": "article.unpublished",
        "occurred_at": "2026-11-25T09:05:00+07:00",
        "article": {"id": second["article"]["id"]},
    }
    _publish(ctx, [update, retract])
    updated_id, retracted_id = first["article"]["id"], second["article"]["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        gone = all(
            p.status.value in ("deleted", "cancelled") for p in ledger.for_article(retracted_id)
        )
        settled = not WorkList(ctx.store, "sync").size() and not WorkList(ctx.store, "plan").size()
        if gone and settled and not ctx.store.dirty_feeds():
            break
        time.sleep(0.5)
    feed = docs.get("/feeds/vi/all.rss")
    body = feed.body.decode() if feed else ""
    _say(
        f"\nUpdated {updated_id}: new title in /feeds/vi/all.rss: "
        f"{'yes' if update['article']['title'] in body else 'not yet'}"
    )
    _say(
        f"Retracted {retracted_id}: still in /feeds/vi/all.rss: "
        f"{'yes' if second['article']['url'] in body else 'no'}; its posts: "
        + ", ".join(f"{p.channel} {p.status.value}" for p in ledger.for_article(retracted_id))
    )
