"""Posts with the lead image, the instance's own text limits, and logs without secrets."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from structlog.testing import capture_logs

from feeds.catalog import FeedsConfig
from syndication.config import Config, ImagesConfig
from syndication.config.channels import ChannelConfig, RouteConfig, RoutingConfig
from syndication.events import parse_event
from syndication.posts import Posts
from syndication.posts.fitting import measure, rules_for
from syndication.posts.ledger import Ledger, PostStatus
from syndication.store import Store
from syndication.testing.mastodon import MastodonSandbox
from tests.unit.test_events import event

TOKEN = "tok-SECRET-media-7a1c"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def image_server() -> Iterator[str]:
    """A local web server with one lead photo, as the portal's image host would serve it."""
    body = _png()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/lead.png" else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _poster(
    store: Store,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    private: bool = True,
    **channel: object,
) -> Posts:
    monkeypatch.setenv("MEDIA_TEST_TOKEN", TOKEN)
    config = Config(
        feeds=FeedsConfig(),
        channels=(
            ChannelConfig.model_validate(
                {
                    "name": "m-vi",
                    "platform": "mastodon",
                    "language": "vi",
                    "api_base_url": base_url,
                    "credentials": {"access_token": "MEDIA_TEST_TOKEN"},
                    "max_age": "3650d",
                    "schedule": {"min_spacing": "0s"},
                    **channel,
                }
            ),
        ),
        routing=RoutingConfig(routes=(RouteConfig(channels=("m-vi",)),)),
        images=ImagesConfig(allow_private=private),
    )
    return Posts(store, config)


def _article(store: Store, image_url: str, **changes: object):
    parsed = parse_event(
        event(article__image={"url": image_url, "caption": "Đèn lồng Hội An về đêm"}, **changes)
    )
    store.apply_event(parsed, ["vi/all"])
    return parsed.event.article


def test_lead_image_is_attached_with_its_caption_as_alt_text(
    store: Store, image_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel that attaches images uploads the lead photo once, captioned, with the post."""
    with MastodonSandbox() as sandbox:
        poster = _poster(store, sandbox.base_url, monkeypatch, attach_image=True)
        article = _article(store, f"{image_server}/lead.png")
        [decision] = [d for d in poster.planner.plan(article, 1.0) if d.action == "planned"]
        assert poster.sender.deliver(decision.post_id or "", "t", 2.0) == "sent"
        [media] = sandbox.media.values()
        assert media["description"] == "Đèn lồng Hội An về đêm"
        [post] = sandbox.live_posts()
        assert post.data["media_ids"] == list(sandbox.media)


def test_a_refused_image_never_blocks_the_post(
    store: Store, image_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image config refuses (a private address) is dropped when planned; the post goes out."""
    with MastodonSandbox() as sandbox:
        poster = _poster(store, sandbox.base_url, monkeypatch, private=False, attach_image=True)
        article = _article(store, f"{image_server}/lead.png")
        [decision] = [d for d in poster.planner.plan(article, 1.0) if d.action == "planned"]
        planned = Ledger(store).require(decision.post_id or "")
        assert planned.image_url == ""
        assert any("image skipped at planning" in str(h["note"]) for h in planned.history)
        assert poster.sender.deliver(planned.id, "t", 2.0) == "sent"
        assert sandbox.media == {} and len(sandbox.live_posts()) == 1


def test_an_image_over_the_platform_limit_is_dropped_when_planned(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo too large for Telegram (width + height over 10,000) is refused at planning."""
    big = io.BytesIO()
    Image.new("RGB", (6000, 4100), (10, 120, 60)).save(big, format="PNG")
    body = big.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MEDIA_TG_TOKEN", "123456:TEST-token")
        config = Config(
            channels=(
                ChannelConfig.model_validate(
                    {
                        "name": "tg-vi",
                        "platform": "telegram",
                        "language": "vi",
                        "attach_image": True,
                        "api_base_url": "http://127.0.0.1:9",
                        "options": {"chat_id": "@x"},
                        "credentials": {"bot_token": "MEDIA_TG_TOKEN"},
                        "max_age": "3650d",
                    }
                ),
            ),
            routing=RoutingConfig(routes=(RouteConfig(channels=("tg-vi",)),)),
            images=ImagesConfig(allow_private=True),
        )
        poster = Posts(store, config)
        article = _article(store, f"http://127.0.0.1:{server.server_address[1]}/huge.png")
        [decision] = [d for d in poster.planner.plan(article, 1.0) if d.action == "planned"]
        post = Ledger(store).require(decision.post_id or "")
        assert post.image_url == ""
        notes = " ".join(str(h["note"]) for h in post.history)
        assert "image skipped at planning" in notes and "10000" in notes.replace(",", "")
    finally:
        server.shutdown()


def test_text_is_fitted_to_the_instance_limit_read_from_the_instance(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Mastodon instance with a 120-character limit gets posts that fit it, link intact."""
    with MastodonSandbox(max_characters=120, characters_reserved_per_url=23) as sandbox:
        poster = _poster(store, sandbox.base_url, monkeypatch)
        article = _article(
            store,
            "https://img.example/a.jpg",
            article__summary="Phố cổ Hội An lung linh đèn lồng trong đêm rằm. " * 10,
        )
        [decision] = [d for d in poster.planner.plan(article, 1.0) if d.action == "planned"]
        post = Ledger(store).require(decision.post_id or "")
        rules = rules_for("mastodon", max_characters=120, characters_reserved_per_url=23)
        assert measure(post.text, rules) <= 120
        assert article.url in post.text
        assert sandbox.requests_to("GET", "/api/v2/instance")
        assert poster.sender.deliver(post.id, "t", 2.0) == "sent"


def test_logs_carry_ids_and_never_the_token(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed delivery logs one line with the post and channel, and no credential anywhere."""
    with MastodonSandbox(bad_tokens=(TOKEN,)) as sandbox:
        poster = _poster(store, sandbox.base_url, monkeypatch)
        article = _article(store, "https://img.example/a.jpg")
        [decision] = [d for d in poster.planner.plan(article, 1.0) if d.action == "planned"]
        with capture_logs() as logs:
            assert (
                poster.sender.deliver(decision.post_id or "", "t", 2.0) == PostStatus.FAILED.value
            )
        failed = [entry for entry in logs if entry["event"] == "post.failed"]
        assert len(failed) == 1
        assert failed[0]["post_id"] == decision.post_id and failed[0]["channel"] == "m-vi"
        assert TOKEN not in repr(logs)
        post = Ledger(store).require(decision.post_id or "")
        assert TOKEN not in post.last_error and TOKEN not in repr(post.history)
