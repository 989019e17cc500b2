"""Posts whose worker messages were lost are recovered by the dispatcher, never duplicated."""

from __future__ import annotations

import time

import pytest

from syndication.config import load_config
from syndication.events import parse_event
from syndication.posts import Posts
from syndication.posts.ledger import Ledger, PostStatus
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.mastodon import MastodonSandbox
from tests.conftest import wait_until
from tests.integration.test_pipeline import make_event

TOKEN = "recovery-SECRET-token"


def _setup(
    settings: Settings, store: Store, sandbox: MastodonSandbox, monkeypatch: pytest.MonkeyPatch
) -> tuple[Posts, str]:
    monkeypatch.setenv("RECOVERY_TOKEN", TOKEN)
    (settings.config_path / "channels.yaml").write_text(
        "channels:\n"
        f"  - {{name: m-vi, platform: mastodon, language: vi, api_base_url: '{sandbox.base_url}',\n"
        "     credentials: {access_token: RECOVERY_TOKEN}, max_age: 3650d,\n"
        "     schedule: {min_spacing: 0s}}\n"
        "routing: {routes: [{match: {}, channels: [m-vi]}]}\n",
        encoding="utf-8",
    )
    poster = Posts(store, load_config(settings.config_path))
    parsed = parse_event(make_event(1))
    store.apply_event(parsed, ["vi/all"])
    [decision] = poster.planner.plan(parsed.event.article, time.time())  # type: ignore[arg-type]
    return poster, decision.post_id or ""


def test_an_uncertain_post_whose_reconcile_was_lost_is_reconciled_by_the_dispatcher(
    settings: Settings, store: Store, worker_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post left uncertain with no reconcile message in any queue is picked up by beat's
    dispatcher, resent with its idempotency key, and exists once on the platform."""
    with MastodonSandbox() as sandbox:
        poster, post_id = _setup(settings, store, sandbox, monkeypatch)
        ledger = Ledger(store)
        now = time.time()
        # The state a worker leaves when it dies after the platform accepted the post and
        # before anything else: claimed, sent, then lost along with its reconcile message.
        assert ledger.claim(post_id, "dead-worker", now, 0.0) == "claimed"
        poster.adapters.for_channel(poster.channels["m-vi"]).post(
            poster.sender.outgoing(ledger.require(post_id))
        )
        assert ledger.transition(post_id, PostStatus.SENDING, PostStatus.UNCERTAIN, now, "lost")
        ledger.expect_reconcile(post_id, now)
        ledger.drop_lease(post_id)

        worker_factory(settings, "-c", "1", "-Q", "deliver", "--beat")
        wait_until(
            lambda: ledger.require(post_id).status == PostStatus.SENT,
            timeout=60,
            message="post reconciled to sent",
        )
        assert len(sandbox.live_posts()) == 1
        assert ledger.reconcile_due(time.time() + 3600) == []


def test_a_released_post_whose_deliver_message_was_lost_is_released_again(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Releasing a post only pushes it ahead in the due set; if no sender claims it, it
    comes due again, and the sender's claim is what removes it."""
    with MastodonSandbox() as sandbox:
        poster, post_id = _setup(settings, store, sandbox, monkeypatch)
        ledger = Ledger(store)
        now = time.time() + 10
        assert poster.dispatcher.due_now(now) == [post_id]
        ledger.defer(post_id, now + 60)  # what dispatch_due does after sending `deliver`
        assert poster.dispatcher.due_now(now) == []
        assert poster.dispatcher.due_now(now + 61) == [post_id]  # the message was lost: due again
        assert poster.sender.deliver(post_id, "w", now + 61) == "sent"
        assert poster.dispatcher.due_now(now + 10_000) == [] and len(sandbox.live_posts()) == 1
