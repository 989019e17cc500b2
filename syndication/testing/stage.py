"""The demo's stand-ins: every platform's sandbox, an image host, the sandbox credentials and
the channels config pointing at them. Used by ``syndication demo`` and the chaos tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SANDBOX_SECRETS", "ImageServer", "Sandboxes", "channels_config"]

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
