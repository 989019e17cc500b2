"""Celery tasks. Each is thin: it reads ids or plain JSON, calls one function of the core,
logs, and returns a small JSON-able dict. Each is idempotent (``acks_late`` may run it twice).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import redis
import structlog
from celery import Celery, Task, shared_task

from feeds.catalog import feed_indexer
from feeds.storage import FeedStorage, refresh_feed
from feeds.websub import ping_hub
from syndication import metrics
from syndication.errors import TransientError
from syndication.inbox import drain_inbox as _drain
from syndication.ingest import Ingestor, Outcome
from syndication.posts.poster import Poster, follow_up
from workers.runtime import runtime

log = structlog.get_logger(__name__)

# A burst of events touching one feed within this window renders it once.
RENDER_DEBOUNCE = 0.5
# dispatch_due releases due posts in pages of this size, for at most this many seconds.
DISPATCH_PAGE = 200
DISPATCH_BUDGET = 3.0
# A released post not claimed by a sender within this long is released again.
REDISPATCH_AFTER = 60.0
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def schedule_renders(app: Celery, feed_ids: Iterable[str]) -> int:
    """Queue the render of newly dirty feeds, slightly delayed so a burst coalesces.

    One message carries every feed of one event: publishing a message costs about as much as
    applying the event, so one per feed would halve ingest throughput.
    """
    ids = sorted(set(feed_ids))
    if ids:
        app.send_task("syndication.render_feeds", (ids,), countdown=RENDER_DEBOUNCE)
    return len(ids)


def _poster(task: Task) -> Poster:
    rt = runtime(task.app)
    return Poster(rt.store, rt.config, rt.adapter_for, lease_seconds=rt.settings.post_lease_seconds)


def plan_posts(task: Task, outcomes: Iterable[Outcome]) -> int:
    """Plan the posts of applied events; queue edits and deletes of sent posts."""
    poster = _poster(task)
    if not poster.channels:
        return 0
    n = 0
    now = time.time()
    for outcome in outcomes:
        if outcome.status != "applied":
            continue
        for decision in follow_up(
            poster, poster.store, outcome.event_type, outcome.article_id, now
        ):
            if decision.action == "edit":
                task.app.send_task("syndication.edit_post", (decision.post_id,))
            elif decision.action == "delete":
                task.app.send_task("syndication.delete_post", (decision.post_id,))
            n += 1
    return n


def _ingestor(task: Task) -> Ingestor:
    rt = runtime(task.app)
    return Ingestor(rt.store, feed_indexer(rt.config.feeds), rt.settings.limits)


@shared_task(bind=True, name="syndication.noop")
def noop(self: Task) -> None:
    """Does nothing: the benchmark's ceiling for one task round trip."""


@shared_task(
    bind=True,
    name="syndication.ingest",
    autoretry_for=_REDIS_DOWN,
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=20,
)
def ingest(self: Task, payload: Any, source: str = "celery") -> dict[str, object]:
    """Validate and apply one event; plan what it changes."""
    with metrics.INGEST_SECONDS.time():
        outcome = _ingestor(self).ingest(payload, source=source)
    schedule_renders(self.app, outcome.dirtied)
    plan_posts(self, [outcome])
    return outcome.to_json()


@shared_task(
    bind=True,
    name="syndication.drain_inbox",
    autoretry_for=_REDIS_DOWN,
    retry_backoff=True,
    max_retries=5,
)
def drain_inbox(self: Task) -> dict[str, object]:
    """Apply what CMSes appended to the inbox stream, in batches."""
    with metrics.INGEST_SECONDS.time():
        rt = runtime(self.app)
        report = _drain(
            _ingestor(self),
            rt.consumer_name,
            batch=rt.settings.inbox_batch,
            min_idle_ms=int(rt.settings.inbox_claim_after * 1000),
        )
    schedule_renders(self.app, report.dirtied)
    plan_posts(self, report.outcomes)
    if report.entries:
        log.info("inbox.drained", entries=report.entries, feeds=len(report.dirtied))
    return {"entries": report.entries, "feeds": len(report.dirtied)}


@shared_task(bind=True, name="syndication.sweep")
def sweep(self: Task, stale_after: float = 10.0) -> dict[str, object]:
    """Queue a render for feeds left dirty too long (their render task was lost)."""
    rt = runtime(self.app)
    stale = rt.store.dirty_feeds(older_than=time.time() - stale_after)
    schedule_renders(self.app, stale)
    storage = FeedStorage(rt.store)
    storage.render_index(storage.all_feeds(rt.config.feeds), rt.config.feeds)
    return {"requeued": len(stale)}


@shared_task(
    bind=True,
    name="syndication.render_feeds",
    autoretry_for=_REDIS_DOWN,
    retry_backoff=True,
    max_retries=10,
)
def render_feeds(self: Task, feed_ids: list[str]) -> dict[str, object]:
    """Render dirty feeds in every format; ping WebSub for documents whose bytes changed."""
    rt = runtime(self.app)
    config = rt.config.feeds
    storage = FeedStorage(rt.store)
    again: list[str] = []
    changed: list[str] = []
    rendered = 0
    for feed_id in feed_ids:
        result = refresh_feed(storage, config, feed_id)
        if result.again:
            again.append(feed_id)
        report = result.report
        if report is None:
            continue  # another render already took care of it
        rendered += 1
        changed.extend(report.changed)
        metrics.RENDER_SECONDS.observe(report.seconds)
        metrics.FEEDS_RENDERED.labels(changed=str(bool(report.changed)).lower()).inc()
        log.info(
            "feed.rendered",
            feed=feed_id,
            items=report.items,
            changed=len(report.changed),
            ms=round(report.seconds * 1000, 2),
        )
    schedule_renders(self.app, again)
    if changed and config.websub_hub:
        urls = [config.base_url + path for path in changed]
        self.app.send_task("syndication.websub_ping", (urls,), queue="render")
    return {"feeds": len(feed_ids), "rendered": rendered, "changed": len(changed)}


@shared_task(
    bind=True,
    name="syndication.websub_ping",
    autoretry_for=(TransientError,),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def websub_ping(self: Task, urls: list[str]) -> dict[str, object]:
    """Tell the configured WebSub hub which feed documents changed."""
    hub = runtime(self.app).config.feeds.websub_hub
    if not hub:
        return {"pinged": 0}
    n = ping_hub(hub, urls)
    log.info("websub.pinged", hub=hub, urls=n)
    return {"pinged": n}


@shared_task(bind=True, name="syndication.dispatch_due")
def dispatch_due(self: Task) -> dict[str, object]:
    """Beat: release posts whose time has come to the deliver queue; recover lost sends."""
    poster = _poster(self)
    now = time.time()
    released = 0
    # Release in pages until nothing is due (bounded, so a huge backlog cannot hold the
    # dispatcher for longer than a beat interval or two).
    while time.time() - now < DISPATCH_BUDGET:
        due = poster.due_now(now, limit=DISPATCH_PAGE)
        for post_id in due:
            # Send first, then push its due time a little ahead instead of removing it: the
            # delivery's claim removes it from the due set. If the deliver message is lost
            # (a worker killed before kombu recorded it), the post comes due again and is
            # released once more; a second delivery of one post is a no-op.
            self.app.send_task("syndication.deliver", (post_id,))
            poster.ledger.defer(post_id, now + REDISPATCH_AFTER)
        released += len(due)
        if len(due) < DISPATCH_PAGE:
            break
    # Uncertain posts whose reconcile message was lost (or whose reconciler died) come back
    # here; each retry is noted ahead so one tick does not send it twice.
    stranded = poster.ledger.reconcile_due(now)
    for post_id in [*poster.expire_leases(now), *stranded]:
        self.app.send_task("syndication.reconcile", (post_id,))
    for post_id in stranded:
        poster.ledger.expect_reconcile(post_id, now + REDISPATCH_AFTER)
    return {"released": released}


@shared_task(
    bind=True,
    name="syndication.deliver",
    autoretry_for=_REDIS_DOWN,
    retry_backoff=True,
    max_retries=10,
)
def deliver(self: Task, post_id: str) -> dict[str, object]:
    """Claim one post and send it once; rate limits and outages reschedule it."""
    poster = _poster(self)
    started = time.time()
    status = poster.deliver(post_id, runtime(self.app).consumer_name, started)
    post = poster.ledger.get(post_id)
    if post is not None and status in ("sent", "failed", "uncertain", "planned"):
        metrics.DELIVERY_SECONDS.labels(post.platform).observe(time.time() - started)
        metrics.POSTS.labels(post.platform, status).inc()
        if status == "sent":
            metrics.DELIVERY_LAG_SECONDS.labels(post.platform).observe(
                max(0.0, started - post.due_at)
            )
    if status == "sent" and post is not None and post.delete_requested:
        self.app.send_task("syndication.delete_post", (post_id,))
    return {"post": post_id, "status": status}


@shared_task(bind=True, name="syndication.reconcile")
def reconcile(self: Task, post_id: str) -> dict[str, object]:
    """Resolve a post whose send had an unknown outcome, without re-sending blindly."""
    return {"post": post_id, "status": _poster(self).reconcile(post_id, time.time())}


@shared_task(
    bind=True,
    name="syndication.edit_post",
    autoretry_for=(TransientError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def edit_post(self: Task, post_id: str) -> dict[str, object]:
    """Edit a sent post after its article was updated (where the platform can)."""
    return {"post": post_id, "status": _poster(self).edit(post_id, time.time())}


@shared_task(
    bind=True,
    name="syndication.delete_post",
    autoretry_for=(TransientError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def delete_post(self: Task, post_id: str) -> dict[str, object]:
    """Delete a sent post after its article was unpublished (where the channel allows)."""
    return {"post": post_id, "status": _poster(self).delete(post_id, time.time())}
