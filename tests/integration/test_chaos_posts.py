"""Chaos at the seams of the posts pipeline, with real workers, real Redis and every platform.

- An update and a retraction of sent posts applied in one batch (as after an outage) end with
  every post deleted and none edited: the retraction wins, the edit never re-creates.
- An update that arrives while a post is being sent (a slow platform) is edited in once the
  send settles, on every platform that can edit; the others keep the sent text, noted.
- SIGKILL storms while articles are ingested and planned (lead images from a slow host): every
  article's posts are planned and sent exactly once.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from syndication.posts.ledger import Ledger, Post, PostStatus
from syndication.settings import Settings
from syndication.store import Store
from syndication.testing.base import SandboxServer
from syndication.testing.stage import SANDBOX_SECRETS, ImageServer, Sandboxes, channels_config
from syndication.worklist import WorkList
from tests.conftest import WorkerProcess, wait_until
from tests.integration.test_posts import article_event, unpublish_event
from workers.app import create_app
from workers.handles import DRAIN_INBOX

# Where each platform's adapter creates a post (the request a slow platform holds up).
CREATE_PATH = {
    "x": "/2/tweets",
    "mastodon": "/api/v1/statuses",
    "telegram": "/bot",
    "facebook": "/v",
    "bluesky": "/xrpc/com.atproto.repo.createRecord",
    "linkedin": "/rest/posts",
    "threads": "/v",
}
EDITABLE = {"mastodon", "telegram", "facebook", "bluesky", "linkedin"}
LANGUAGES = ("vi", "en", "ja")


@pytest.fixture
def sandboxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandboxes]:
    """Every platform's sandbox, running, with the demo's credentials in the environment."""
    boxes = Sandboxes()
    boxes.start()
    for name, value in {**SANDBOX_SECRETS, "DEMO_BLUESKY_HANDLE": "news.sandbox.test"}.items():
        monkeypatch.setenv(name, value)
    yield boxes
    boxes.stop()


@pytest.fixture
def chaos_settings(settings: Settings) -> Settings:
    """Short leases and claims, so work left by a killed worker comes back within seconds."""
    return settings.model_copy(
        update={
            "post_lease_seconds": 4.0,
            "work_lease_seconds": 4.0,
            "inbox_claim_after": 2.0,
            "visibility_timeout": 20,
        }
    )


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Real worker subprocesses; SIGKILLed at the end of the test."""
    started: list[WorkerProcess] = []

    def start(settings: Settings, *extra: str) -> WorkerProcess:
        log = tmp_path / f"chaos-worker-{len(started)}.log"
        w = WorkerProcess(settings, log, *extra).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


def write_channels(settings: Settings, sandboxes: Sandboxes, **changes: Any) -> None:
    """The demo's seven channels (one per platform), posting at once, with ``changes``."""
    urls = {name: server.base_url for name, server in sandboxes.servers.items()}
    doc = channels_config(urls)
    for channel in doc["channels"]:
        channel["schedule"] = {"delay_after_publish": 0, "min_spacing": 0}
        channel.update(changes)
    (settings.config_path / "channels.yaml").write_text(
        yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
    )


def publish(settings: Settings, store: Store, events: list[dict[str, object]]) -> None:
    """Hand events over as every producer does: the inbox stream, then a nudge."""
    for event in events:
        store.inbox_add(json.dumps(event, ensure_ascii=False))
    DRAIN_INBOX.send(create_app(settings))


def publish_together(settings: Settings, store: Store, events: list[dict[str, object]]) -> None:
    """Append events in one MULTI, so one drain applies them in one batch (as after an outage)."""
    pipe = store.r.pipeline(transaction=True)
    for event in events:
        pipe.xadd(store.keys.inbox, {"event": json.dumps(event, ensure_ascii=False)})
    pipe.execute()
    DRAIN_INBOX.send(create_app(settings))


# Stories in every language go back this far, so that their updates are newer.
PUBLISHED_AGO = timedelta(minutes=5)


def publish_stories(settings: Settings, store: Store, name: str) -> tuple[list[str], datetime]:
    """One story per language (so every platform's channel gets one post); their ids and
    publish time."""
    articles = [f"{name}-{lang}" for lang in LANGUAGES]
    published = datetime.now(UTC) - PUBLISHED_AGO
    publish(
        settings,
        store,
        [article_event(f"pub-{a}", a, language=a[-2:], published_at=published) for a in articles],
    )
    return articles, published


def update_of(article_id: str, published: datetime) -> dict[str, object]:
    """An update of a story from :func:`publish_stories`, with a new title."""
    return article_event(
        f"upd-{article_id}",
        article_id,
        language=article_id[-2:],
        title=f"Updated {article_id}",
        published_at=published,
        updated_at=datetime.now(UTC),
    )


def posts_of(ledger: Ledger, article_ids: list[str]) -> list[Post]:
    return [p for a in article_ids for p in ledger.for_article(a)]


def held_by(sandboxes: Sandboxes, post: Post) -> Any:
    """The one post a platform's sandbox holds for ``post`` (each channel posts one story)."""
    server: SandboxServer = sandboxes.servers[post.platform]
    held = list(server.posts.values())
    assert len(held) == 1, f"{post.platform} holds {len(held)} posts"
    return held[0]


def test_an_update_and_a_retraction_in_one_batch_end_deleted_never_edited(
    chaos_settings: Settings, store: Store, sandboxes: Sandboxes, workers: Any
) -> None:
    """Sent posts on all seven platforms, then an update and a retraction of each article
    applied in one batch: every post ends deleted on its platform and in the ledger, and no
    platform saw an edit (the retraction wins; Bluesky's putRecord never re-creates)."""
    write_channels(chaos_settings, sandboxes)
    workers(chaos_settings, "-c", "3", "--beat")
    articles, published = publish_stories(chaos_settings, store, "story")
    ledger = Ledger(store)
    wait_until(
        lambda: (
            len(sent := [p for p in posts_of(ledger, articles) if p.status == "sent"]) == 7 and sent
        ),
        timeout=60,
        message="seven posts sent",
    )
    batch: list[dict[str, object]] = []
    for a in articles:
        batch += [update_of(a, published), unpublish_event(f"ret-{a}", a)]
    publish_together(chaos_settings, store, batch)

    wait_until(
        lambda: all(p.status == PostStatus.DELETED for p in posts_of(ledger, articles)),
        timeout=60,
        message="every post deleted",
    )
    wait_until(lambda: WorkList(store, "sync").size() == 0, message="no sync owed")
    for post in posts_of(ledger, articles):
        held = held_by(sandboxes, post)
        assert held.deleted, post.id
        assert held.edits == [], f"{post.platform} saw an edit of a retracted story"
    assert all(server.live_posts() == [] for server in sandboxes.servers.values())


def test_an_update_during_a_slow_send_is_edited_in_once_the_send_settles(
    chaos_settings: Settings, store: Store, sandboxes: Sandboxes, workers: Any
) -> None:
    """Each platform holds the create call for a few seconds; an update applied meanwhile is
    remembered and edited in after the send, where the platform can edit; elsewhere the sent
    text stays and the ledger says why. Nothing is posted twice."""
    write_channels(chaos_settings, sandboxes)
    for name, server in sandboxes.servers.items():
        server.delay_next(5.0, method="POST", path=CREATE_PATH[name])
    workers(chaos_settings, "--pool", "threads", "-c", "12", "--beat")
    articles, published = publish_stories(chaos_settings, store, "slow")
    ledger = Ledger(store)
    wait_until(
        lambda: sum(p.status == PostStatus.SENDING for p in posts_of(ledger, articles)) == 7,
        timeout=30,
        message="all seven sends in progress",
    )
    publish(chaos_settings, store, [update_of(a, published) for a in articles])

    def settled() -> bool:
        posts = posts_of(ledger, articles)
        return (
            len(posts) == 7
            and all(p.status == PostStatus.SENT and not p.needs_sync for p in posts)
            and WorkList(store, "sync").size() == 0
        )

    try:
        wait_until(settled, timeout=60, message="sends settled and updates applied")
    except AssertionError:
        for p in posts_of(ledger, articles):
            print(p.id, p.status, p.article_version, p.sent_version, p.needs_sync, p.last_error)
        print(WorkList(store, "sync").items(), WorkList(store, "plan").items())
        raise
    for listed in posts_of(ledger, articles):
        post = ledger.require(listed.id)  # with its history
        notes = " ".join(str(h["note"]) for h in post.history)
        assert "edited in once the send is settled" in notes, post.id  # the race happened
        held = held_by(sandboxes, post)
        assert not held.deleted
        if post.platform in EDITABLE:
            assert "Updated" in held.text and held.edits, post.platform
        else:
            assert "Updated" not in held.text and "cannot edit" in notes, post.platform


def test_sigkill_storms_during_ingest_and_slow_planning_lose_and_double_nothing(
    chaos_settings: Settings, store: Store, sandboxes: Sandboxes, workers: Any
) -> None:
    """Forty articles with lead images from a slow host, planned onto Mastodon and Bluesky
    while the worker is SIGKILLed every few seconds: every article gets its two posts,
    each sent exactly once."""
    images = ImageServer(delay=0.4)
    boxes = sandboxes
    urls = {name: server.base_url for name, server in boxes.servers.items()}
    try:
        doc = channels_config(urls)
        keep = {"mastodon-vi", "bluesky-ja"}
        doc["channels"] = [c for c in doc["channels"] if c["name"] in keep]
        for channel in doc["channels"]:
            channel.update(language="vi", schedule={"delay_after_publish": 0, "min_spacing": 0})
        doc["routing"]["routes"][0]["channels"] = sorted(keep)
        (chaos_settings.config_path / "channels.yaml").write_text(
            yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
        )
        n = 40
        published = datetime.now(UTC) - timedelta(minutes=5)
        events = []
        for i in range(n):
            event = article_event(f"storm-{i}", f"storm-{i:03d}", published_at=published)
            article: dict[str, Any] = event["article"]  # type: ignore[assignment]
            article["image"] = {"url": f"{images.base_url}/lead/{i}.jpg", "caption": f"Ảnh {i}"}
            events.append(event)

        worker = workers(chaos_settings, "-c", "2", "--beat")
        publish(chaos_settings, store, events)
        kills = 0
        rng = random.Random(7)
        for _ in range(5):
            time.sleep(rng.uniform(2.0, 4.0))
            worker.kill()
            kills += 1
            worker = workers(chaos_settings, "-c", "2", "--beat")
        ledger = Ledger(store)
        article_ids = [f"storm-{i:03d}" for i in range(n)]

        def all_sent() -> bool:
            posts = posts_of(ledger, article_ids)
            return len(posts) == 2 * n and all(p.status == PostStatus.SENT for p in posts)

        wait_until(all_sent, timeout=150, interval=0.5, message="every article's posts sent")
        mastodon = Counter(p.text for p in boxes.servers["mastodon"].live_posts())
        bluesky = Counter(p.text for p in boxes.servers["bluesky"].live_posts())
        duplicates = sum(c - 1 for c in (*mastodon.values(), *bluesky.values()))
        lost = 2 * n - len(mastodon) - len(bluesky)
        print(
            f"\nSIGKILL storm: kills={kills} events={n} posts={len(posts_of(ledger, article_ids))}"
            f" lost={lost} duplicates={duplicates}"
        )
        assert lost == 0 and duplicates == 0
        assert WorkList(store, "plan").size() == 0
    finally:
        images.stop()


def test_a_worker_killed_mid_delete_leaves_the_delete_owed_and_done_once(
    chaos_settings: Settings, store: Store, sandboxes: Sandboxes, workers: Any
) -> None:
    """The worker is SIGKILLed while Mastodon holds its DELETE: the sync stays owed (its
    lease runs out), a new worker deletes the post, the ledger says deleted, and the status
    is gone from the platform without ever being re-created."""
    write_channels(chaos_settings, sandboxes)
    worker = workers(chaos_settings, "-c", "2", "--beat")
    articles, _ = publish_stories(chaos_settings, store, "kill")
    ledger = Ledger(store)
    wait_until(
        lambda: sum(p.status == PostStatus.SENT for p in posts_of(ledger, articles)) == 7,
        timeout=60,
        message="seven posts sent",
    )
    mastodon: SandboxServer = sandboxes.servers["mastodon"]
    mastodon.delay_next(30.0, method="DELETE", path="/api/v1/statuses/")
    publish(chaos_settings, store, [unpublish_event("ret-kill-vi", "kill-vi")])
    wait_until(
        lambda: mastodon.requests_to("DELETE", "/api/v1/statuses/"),
        timeout=30,
        message="the DELETE held by the platform",
    )
    worker.kill()  # mid-call: the delete's outcome is never recorded
    post_id = "mastodon-vi--kill-vi"
    assert ledger.require(post_id).status == PostStatus.SENT
    assert WorkList(store, "sync").contains(post_id)  # still owed, durable
    mastodon.clear_faults()

    workers(chaos_settings, "-c", "2", "--beat")
    wait_until(
        lambda: (
            all(
                p.status in (PostStatus.DELETED, PostStatus.CANCELLED)
                for p in ledger.for_article("kill-vi")
            )
            and WorkList(store, "sync").size() == 0
        ),
        timeout=60,
        message="the retraction settled after the restart",
    )
    post = ledger.require(post_id)
    assert post.status == PostStatus.DELETED
    held = mastodon.get_post(post.remote_id)
    assert held is not None and held.deleted and not held.edits
    assert [p for p in mastodon.live_posts() if p.id == post.remote_id] == []
    assert len(mastodon.posts) == 1  # the one Vietnamese story, never re-created
