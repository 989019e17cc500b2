"""Delivery in batches and ahead of time: each post still claimed, sent once and settled alone.

Real Redis (a prefix per test), the real ledger scripts, the real Mastodon.py adapter against
the Mastodon sandbox, and a real worker with beat where the release path is the story.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from syndication.config import load_config
from syndication.posts import Posts
from syndication.posts.dispatcher import DISPATCH_PAGE, MAX_BATCH, REDISPATCH_AFTER
from syndication.posts.ledger import Ledger, Post, PostStatus
from syndication.posts.scripts import CLAIM
from syndication.posts.sender import DUE_TOLERANCE
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.mastodon import MastodonSandbox
from tests.conftest import wait_until
from tests.sandbox_values import MASTODON_TOKEN

TOKEN_ENV = "DELIVERY_TEST_MASTODON_TOKEN"


@pytest.fixture
def sandbox() -> Iterator[MastodonSandbox]:
    """A Mastodon sandbox for this test."""
    with MastodonSandbox() as server:
        yield server


@pytest.fixture
def poster(
    settings: Settings, store: Store, sandbox: MastodonSandbox, monkeypatch: pytest.MonkeyPatch
) -> Posts:
    """Two Mastodon channels on the sandbox, posting at once."""
    monkeypatch.setenv(TOKEN_ENV, MASTODON_TOKEN)
    channel = (
        "  - {{name: {name}, platform: mastodon, language: {lang}, api_base_url: '{url}',\n"
        f"     credentials: {{{{access_token: {TOKEN_ENV}}}}}, max_age: 3650d,\n"
        "     schedule: {{min_spacing: 0s}}}}\n"
    )
    (settings.config_path / "channels.yaml").write_text(
        "channels:\n"
        + channel.format(name="m-vi", lang="vi", url=sandbox.base_url)
        + channel.format(name="m-en", lang="en", url=sandbox.base_url)
        + "routing: {routes: [{match: {}, channels: [m-vi, m-en]}]}\n",
        encoding="utf-8",
    )
    return Posts(store, load_config(settings.config_path))


def make_posts(ledger: Ledger, channel: str, count: int, due: float, first: int = 0) -> list[str]:
    """``count`` planned posts on ``channel``, due at ``due``."""
    ids = []
    for n in range(first, first + count):
        post = Post(
            id=f"{channel}--a{n}",
            channel=channel,
            platform="mastodon",
            article_id=f"a{n}",
            story_id=f"a{n}",
            status=PostStatus.PLANNED,
            text=f"Tin số {n} https://portal.example/a{n}",
            link=f"https://portal.example/a{n}",
            language="vi",
            idempotency_key=f"{channel}-key-{n}",
            due_at=due,
            created_at=due,
            updated_at=due,
        )
        assert ledger.create(post, enqueue=True)
        ids.append(post.id)
    return ids


def test_a_batch_settles_each_post_on_its_own(poster: Posts, sandbox: MastodonSandbox) -> None:
    """In one batch a post the platform refuses fails alone: the ones before and after it are
    sent, each exactly once."""
    ledger = poster.ledger
    ids = make_posts(ledger, "m-vi", 3, time.time())
    sandbox.fail_next(422, body={"error": "Validation failed: Text too long"}, method="POST")
    # The first post meets the fault (it is the first POST the sandbox sees).
    results = dict(poster.sender.send_all(ids, "w1"))
    assert [results[i].status for i in ids] == ["failed", "sent", "sent"]
    posts = {p.id: p for p in ledger.many(ids)}
    assert posts[ids[0]].last_error.endswith("Text too long")
    assert all(posts[i].status == PostStatus.SENT and posts[i].attempts == 1 for i in ids[1:])
    assert sorted(p.idempotency_key for p in sandbox.live_posts()) == [
        "m-vi-key-1",
        "m-vi-key-2",
    ]
    assert ledger.due_ids(time.time() + 3600) == []


def test_a_batch_skips_a_post_already_sent_and_sends_the_rest(
    poster: Posts, sandbox: MastodonSandbox
) -> None:
    """A message delivered twice (or a post in two messages) never sends a post twice."""
    ledger = poster.ledger
    ids = make_posts(ledger, "m-vi", 3, time.time())
    assert poster.sender.deliver(ids[1], "w0", time.time()) == "sent"
    results = dict(poster.sender.send_all(ids, "w1"))
    assert [results[i].status for i in ids] == ["sent", "sent", "sent"]
    assert results[ids[1]].post is None  # refused at the claim: it was sent already
    assert len(sandbox.live_posts()) == 3


def test_a_batch_past_its_budget_leaves_the_rest_unclaimed(
    poster: Posts, sandbox: MastodonSandbox
) -> None:
    """Once its time is up a sender claims no further post: the rest stay planned and due."""
    ledger = poster.ledger
    ids = make_posts(ledger, "m-vi", 3, time.time())
    done = list(poster.sender.send_all(ids, "w1", until=time.monotonic() - 1))
    assert [(i, d.status) for i, d in done] == [(ids[0], "sent")]
    assert [p.status for p in ledger.many(ids[1:])] == [PostStatus.PLANNED] * 2
    assert set(ledger.due_ids(time.time() + 1)) == set(ids[1:])


def test_a_post_moved_later_after_its_release_is_not_sent_early(
    poster: Posts, sandbox: MastodonSandbox
) -> None:
    """A message released for a post that was then moved an hour later is refused at the
    claim; the post waits, due at its new time."""
    ledger = poster.ledger
    [post_id] = make_posts(ledger, "m-vi", 1, time.time())
    later = time.time() + 3600
    assert ledger.schedule(post_id, later, time.time(), "moved by an operator")
    [(_, delivery)] = poster.sender.send_all([post_id], "w1", only_due=True)
    assert delivery.status == "not-due"
    assert ledger.require(post_id).status == PostStatus.PLANNED and sandbox.live_posts() == []
    assert ledger.due_ids(later) == [post_id]


def test_the_dispatcher_batches_a_backlog_and_sends_few_posts_alone(poster: Posts) -> None:
    """A full page of due posts goes out ten a message; three due posts go one a message;
    every released post is pushed ahead in the due set, not removed."""
    ledger, now = poster.ledger, time.time()
    backlog = make_posts(ledger, "m-vi", DISPATCH_PAGE, now - 10)
    sent: list[list[str]] = []
    report = poster.dispatcher.tick(now, deliver=sent.append, reconcile=lambda _: None)
    assert report.released == DISPATCH_PAGE and {len(b) for b in sent} == {MAX_BATCH}
    assert sorted(p for b in sent for p in b) == sorted(backlog)
    assert ledger.due_ids(now) == [] and len(ledger.due_ids(now + REDISPATCH_AFTER)) == 200

    few = make_posts(ledger, "m-en", 3, now - 5)
    sent.clear()
    poster.dispatcher.tick(now, deliver=sent.append, reconcile=lambda _: None)
    assert sorted(sent) == sorted([p] for p in few)


def test_posts_due_before_the_next_tick_are_released_for_their_due_time(poster: Posts) -> None:
    """A tick hands posts due in the next two seconds to messages that wait for their due
    time (posts due together share one), and leaves later posts alone."""
    ledger, now = poster.ledger, time.time()
    soon = make_posts(ledger, "m-vi", 2, now + 1.0)
    later = make_posts(ledger, "m-vi", 1, now + 1.7, first=2)
    far = make_posts(ledger, "m-vi", 1, now + 30, first=3)
    ahead: list[tuple[list[str], float]] = []
    report = poster.dispatcher.tick(
        now,
        deliver=lambda ids: pytest.fail(f"nothing is due yet: {ids}"),
        reconcile=lambda _: None,
        deliver_at=lambda ids, at: ahead.append((sorted(ids), at)),
    )
    assert report.released == 3
    assert ahead == [(sorted(soon), pytest.approx(now + 1.0)), (later, pytest.approx(now + 1.7))]
    # Released posts are pushed REDISPATCH_AFTER past their due time; the far one stays.
    assert ledger.due_ids(now + 31) == far


def test_a_paused_channel_with_a_full_page_due_holds_up_no_other(poster: Posts) -> None:
    """More due posts than a page on a paused channel, due first, do not keep another
    channel's due post from going out."""
    ledger, now = poster.ledger, time.time()
    make_posts(ledger, "m-vi", DISPATCH_PAGE + 5, now - 100)
    [other] = make_posts(ledger, "m-en", 1, now - 1, first=1000)
    ledger.pause("m-vi", True)
    sent: list[list[str]] = []
    report = poster.dispatcher.tick(now, deliver=sent.append, reconcile=lambda _: None)
    assert sent == [[other]] and report.released == 1
    assert len(ledger.due_ids(now, limit=1000)) == DISPATCH_PAGE + 5


def test_a_script_redis_forgot_is_loaded_again(poster: Posts, sandbox: MastodonSandbox) -> None:
    """After a SCRIPT FLUSH (a Redis restart loses scripts too) the sender's pipelined outcome
    and claim still run, each once."""
    ledger = poster.ledger
    ids = make_posts(ledger, "m-vi", 2, time.time())
    ledger.r.script_flush()
    assert not ledger.r.script_exists(ledger.r.register_script(CLAIM).sha)[0]
    results = dict(poster.sender.send_all(ids, "w1"))
    assert [results[i].status for i in ids] == ["sent", "sent"]
    assert [p.attempts for p in ledger.many(ids)] == [1, 1] and len(sandbox.live_posts()) == 2


def test_a_post_released_ahead_is_sent_at_its_time_not_before(
    settings: Settings, poster: Posts, sandbox: MastodonSandbox, worker_factory
) -> None:
    """With a worker and beat running, a post due a few seconds from now is released ahead
    and goes out once, claimed no earlier than its due time (less the claim's tolerance for
    two machines' clocks)."""
    worker_factory(settings, "-c", "1", "-Q", "deliver", "--beat")
    ledger = poster.ledger
    due = time.time() + 4.0
    [post_id] = make_posts(ledger, "m-vi", 1, due)
    wait_until(
        lambda: ledger.require(post_id).status == PostStatus.SENT,
        timeout=60,
        message="the post sent",
    )
    assert ledger.require(post_id).sent_at >= due - DUE_TOLERANCE
    assert len(sandbox.live_posts()) == 1
