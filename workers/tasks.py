"""Celery tasks. Each is thin: it reads ids or plain JSON, calls one function of the core,
logs, and returns a small JSON-able dict. Each is idempotent (``acks_late`` may run it twice).

A message is a nudge, never the only record of work owed: what one stage owes the next is in
Redis (the inbox stream, dirty feeds, the due set, the work lists of
:mod:`syndication.worklist`), and beat's ticks take whatever a lost message left behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis
import structlog
from celery import Celery, Task, shared_task

from feeds.export import export_owed
from feeds.storage import RENDER_INTERVAL, FeedStorage, refresh_feeds
from feeds.websub import ping_owed
from syndication import metrics
from syndication.errors import TransientError
from syndication.inbox import DrainReport
from syndication.inbox import drain_inbox as _drain
from syndication.worklist import pending_counts
from workers.handles import (
    DELIVER,
    DELIVER_ACTIVITY,
    DISPATCH_DUE,
    DRAIN_INBOX,
    EXPORT,
    FEDERATE,
    INDEXNOW,
    NOOP,
    PLAN_POSTS,
    RECONCILE,
    RENDER_FEEDS,
    SWEEP,
    SYNC_POSTS,
    WEBSUB,
    Handle,
)
from workers.runtime import runtime

if TYPE_CHECKING:
    from syndication.posts.sender import Delivery

log = structlog.get_logger(__name__)

# Feeds rendered by one round at most (the rest of a backlog by the next rounds).
ROUND_FEEDS = 60
# A deliver message stops taking its posts after this long and hands the rest to a new message
# (well inside the task time limit; their due entries would bring them back anyway).
DELIVER_BUDGET = 30.0
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)

# The task that works off each stage's work list.
_STAGE_TASKS: dict[str, Handle[[]]] = {
    "plan": PLAN_POSTS,
    "sync": SYNC_POSTS,
    "websub": WEBSUB,
    "export": EXPORT,
    "federate": FEDERATE,
    "indexnow": INDEXNOW,
}


def schedule_renders(app: Celery, feed_ids: Iterable[str], *, after: float = 0.0) -> int:
    """Queue the render of feeds ``after`` seconds from now (at once by default).

    One message carries many feeds: publishing a message costs about as much as applying an
    event, so one per feed would halve ingest throughput.
    """
    ids = sorted(set(feed_ids))
    if ids and after > 0:
        RENDER_FEEDS.send_later(app, after, ids)
    elif ids:
        RENDER_FEEDS.send(app, ids)
    return len(ids)


def _language(feed_id: str) -> str:
    return feed_id.partition("/")[0]


# The time (monotonic) at which this process last asked for each language's render round.
_round_at: dict[str, float] = {}


def render_soon(app: Celery, last_rendered: Mapping[str, float], now: float) -> int:
    """Queue the render round of each language that has newly dirty feeds.

    A round renders every dirty feed of its language together (an event's feeds are all of
    one language, so they show it at the same moment), each at most once per
    ``RENDER_INTERVAL``: at once when one of the newly dirty feeds has been quiet that
    long (the leading edge), else when the first one's interval is over. Events that find
    their feeds already dirty send nothing (the dirty marks coalesce them), and a process
    that has a round on its way for that time sends no other.
    """
    return ask_rounds(
        app, {f: max(0.0, RENDER_INTERVAL - (now - at)) for f, at in last_rendered.items()}
    )


def _ask_round(app: Celery, language: str, feed_ids: Sequence[str], after: float) -> int:
    """Queue a render round of ``language`` in ``after`` seconds, unless this process has
    one on its way that runs after now and no later than that."""
    clock = time.monotonic()
    asked = _round_at.get(language)
    if asked is not None and clock <= asked <= clock + after:
        return 0
    _round_at[language] = clock + after
    return schedule_renders(app, feed_ids, after=after)


def ask_rounds(app: Celery, waits: Mapping[str, float]) -> int:
    """Queue the rounds that render ``waits``' feeds (feed -> seconds to wait): one per
    language, when the first of its feeds may render."""
    by_language: dict[str, list[str]] = {}
    for feed_id in waits:
        by_language.setdefault(_language(feed_id), []).append(feed_id)
    return sum(
        _ask_round(app, language, ids, min(waits[f] for f in ids))
        for language, ids in by_language.items()
    )


# A process nudges one stage at most this often: a nudge only says "look at the work list",
# and a run takes everything due, so a burst of events needs one nudge, not one each. Every
# applied event is still followed by a nudge that runs after it: an earlier one still to come,
# or a new one sent now or for the end of the interval.
NUDGE_INTERVAL = 0.25
_nudge_at: dict[str, float] = {}


def _nudge(app: Celery, stage: str, now: float, delay: float = 0.0) -> None:
    due = _nudge_at.get(stage)
    wanted = now + delay
    if due is not None and due >= wanted:
        return  # a nudge that runs after this event is already on its way
    at = wanted if due is None or wanted - due >= NUDGE_INTERVAL else due + NUDGE_INTERVAL
    _nudge_at[stage] = at
    task = _STAGE_TASKS[stage]
    if at > now:
        task.send_later(app, at - now)
    else:
        task.send(app)


def nudge_applied(app: Celery, owe: Iterable[str]) -> None:
    """After events were applied: nudge the task of every stage they owe work to (the work
    itself is already recorded by the apply script); IndexNow once its batch window has
    passed, so that a burst goes in one request."""
    now = time.monotonic()
    for stage in owe:
        if stage == "indexnow":
            config = runtime(app).config.search.indexnow
            _nudge(app, stage, now, (config.batch_window if config else 0.0) + 0.5)
        else:
            _nudge(app, stage, now)


def dispatch_activities(app: Celery, now: float) -> int:
    """Hand due ActivityPub deliveries to senders (and recover those of dead senders)."""
    federation = runtime(app).federation
    if not federation.enabled:
        return 0
    report = federation.dispatcher.tick(
        now, deliver=lambda delivery_id: DELIVER_ACTIVITY.send(app, delivery_id)
    )
    return report.released


def nudge_owed(app: Celery, now: float, stages: Iterable[str] | None = None) -> list[str]:
    """Queue the task of every stage that has work due (all stages unless named)."""
    counts = pending_counts(runtime(app).store, now)
    nudged = []
    for stage in stages or counts:
        if counts[stage][1]:
            _STAGE_TASKS[stage].send(app)
            nudged.append(stage)
    return nudged


@shared_task(bind=True, name=NOOP.name)
def noop(self: Task, payload: Any = None) -> None:
    """Does nothing with ``payload``: the benchmark's ceiling for one task round trip, bare
    or carrying an event."""


@shared_task(
    bind=True,
    name=DRAIN_INBOX.name,
    autoretry_for=REDIS_DOWN,
    retry_backoff=True,
    max_retries=5,
)
def drain_inbox(self: Task) -> dict[str, object]:
    """Apply one batch of what CMSes appended to the inbox stream; a full batch nudges the
    next one, so a backlog is drained by bounded tasks, never by one long one."""
    rt = runtime(self.app)
    with metrics.INGEST_SECONDS.time():
        report = _drain(
            rt.ingestor,
            rt.consumer_name,
            batch=rt.settings.inbox_batch,
            min_idle_ms=int(rt.settings.inbox_claim_after * 1000),
        )
    after_drain(self.app, report)
    if report.entries >= rt.settings.inbox_batch:
        DRAIN_INBOX.send(self.app)
    return {"entries": report.entries, "feeds": len(report.dirtied)}


def after_drain(app: Celery, report: DrainReport) -> None:
    """Queue what a drained batch owes: its renders and the work its changes owe."""
    render_soon(app, report.renders(), time.time())
    if any(o.status == "applied" for o in report.outcomes):
        nudge_applied(app, runtime(app).ingestor.owe)
    if report.entries:
        log.info("inbox.drained", entries=report.entries, feeds=len(report.dirtied))


@shared_task(bind=True, name=PLAN_POSTS.name, autoretry_for=REDIS_DOWN, max_retries=5)
def plan_posts(self: Task) -> dict[str, object]:
    """Plan the posts of articles whose changes owe a plan (the ``plan`` work list)."""
    report = runtime(self.app).posts.planner.run()
    if any(d.action in ("edit", "delete") for d in report.decisions):
        SYNC_POSTS.send(self.app)
    if report.articles or report.failed:
        log.info("posts.planned", articles=report.articles, failed=report.failed)
    return {"articles": report.articles, "failed": report.failed}


@shared_task(bind=True, name=SYNC_POSTS.name, autoretry_for=REDIS_DOWN, max_retries=5)
def sync_posts(self: Task) -> dict[str, object]:
    """Edit or delete sent posts whose articles changed (the ``sync`` work list)."""
    report = runtime(self.app).posts.syncer.run()
    return {"synced": report.synced, "failed": report.failed}


@shared_task(bind=True, name=SWEEP.name)
def sweep(self: Task, stale_after: float = 10.0) -> dict[str, object]:
    """Queue a render for feeds left dirty too long (their render task was lost); refresh the
    feed index, and the news sitemaps that an article aged out of."""
    rt = runtime(self.app)
    stale = rt.store.dirty_feeds(older_than=time.time() - stale_after)
    schedule_renders(self.app, stale)
    config = rt.config.feeds
    rt.feeds.render_index(rt.feeds.all_feeds(config), config)
    aged = rt.feeds.refresh_sitemaps(config)
    if aged:
        nudge_owed(self.app, time.time(), ("export",))
        log.info("sitemaps.refreshed", languages=aged)
    return {"requeued": len(stale), "sitemaps": len(aged)}


@shared_task(
    bind=True,
    name=RENDER_FEEDS.name,
    autoretry_for=REDIS_DOWN,
    retry_backoff=True,
    max_retries=10,
)
def render_feeds(self: Task, feed_ids: list[str]) -> dict[str, object]:
    """Render round: every dirty feed of the languages of ``feed_ids``, together; changed
    documents owe a WebSub ping and an export."""
    rt = runtime(self.app)
    config = rt.config.feeds
    # A language renders at most one round per RENDER_INTERVAL: one that started a round
    # less than that ago waits for the rest of the interval (the dirty marks keep collecting
    # the events meanwhile), so a burst renders each feed a bounded number of times.
    now = time.time()
    claimed, early = rt.feeds.claim_rounds(sorted({_language(f) for f in feed_ids}), now)
    # Least recently changed first; a backlog (a backfill, a new config) goes in bounded rounds: one
    # script reads a whole round, and Redis answers nobody else meanwhile.
    dirty = [f for f in rt.store.dirty_feeds() if _language(f) in claimed]
    dirty, rest = dirty[:ROUND_FEEDS], dirty[ROUND_FEEDS:]
    # A round asked for a language claimed meanwhile asks again for when it may run (it is
    # the round asked); what this round leaves, or finds changed after it read, is asked once
    # per language (a round asked since this one's claim will read it).
    waits = {f: early[_language(f)] for f in feed_ids if _language(f) in early}
    waits.update(dict.fromkeys(_unasked(rt.feeds, rest), RENDER_INTERVAL))
    ask_rounds(self.app, waits)
    result = refresh_feeds(rt.feeds, config, dirty)
    changed = 0
    for report in result.reports:
        changed += len(report.changed)
        metrics.RENDER_SECONDS.observe(report.seconds)
        metrics.FEEDS_RENDERED.labels(changed=str(bool(report.changed)).lower()).inc()
        log.info(
            "feed.rendered",
            feed=report.feed_id,
            items=report.items,
            changed=len(report.changed),
            ms=round(report.seconds * 1000, 2),
        )
    ask_rounds(self.app, dict.fromkeys(_unasked(rt.feeds, result.again), RENDER_INTERVAL))
    if changed:
        clock = time.monotonic()
        for work in rt.feeds.owed_by(config):
            _nudge(self.app, work.stage, clock)
    return {"feeds": len(dirty), "rendered": len(result.reports), "changed": changed}


def _unasked(feeds: FeedStorage, feed_ids: Sequence[str]) -> list[str]:
    """Those of ``feed_ids`` whose language's round nobody has asked yet (now asked)."""
    if not feed_ids:
        return []
    languages = set(feeds.flag_rounds(_language(f) for f in feed_ids))
    return [f for f in feed_ids if _language(f) in languages]


@shared_task(bind=True, name=WEBSUB.name, autoretry_for=REDIS_DOWN, max_retries=5)
def websub(self: Task) -> dict[str, object]:
    """Tell the configured WebSub hub which feed documents changed (the ``websub`` list)."""
    rt = runtime(self.app)
    config = rt.config.feeds
    if not config.websub_hub:
        return {"pinged": 0}
    try:
        n = ping_owed(rt.feeds.websub, config.websub_hub, config.base_url)
    except TransientError as exc:
        # The paths stay owed with a backoff; come back when the first is due (beat would
        # too, within its next tick after that).
        due = rt.feeds.websub.next_due() or time.time()
        WEBSUB.send_later(self.app, max(1.0, due - time.time()))
        log.warning("websub.deferred", hub=config.websub_hub, error=str(exc))
        return {"pinged": 0, "deferred": True}
    if n:
        log.info("websub.pinged", hub=config.websub_hub, urls=n)
    return {"pinged": n}


@shared_task(bind=True, name=EXPORT.name, autoretry_for=REDIS_DOWN, max_retries=5)
def export(self: Task) -> dict[str, object]:
    """Copy changed documents into the export folder (the ``export`` work list)."""
    rt = runtime(self.app)
    folder = rt.config.feeds.export_dir
    if not folder:
        return {"exported": 0}
    return {"exported": export_owed(rt.feeds, rt.feeds.export, folder)}


@shared_task(bind=True, name=INDEXNOW.name, autoretry_for=REDIS_DOWN, max_retries=5)
def indexnow(self: Task) -> dict[str, object]:
    """Submit the URLs of changed articles to IndexNow (the ``indexnow`` work list)."""
    submitter = runtime(self.app).indexnow
    if submitter is None:
        return {"submitted": 0}
    report = submitter.run()
    wait = submitter.next_run_in(time.time()) if report.deferred or report.held else None
    if wait is not None and wait <= 60:
        # Come back when the retry can go (beat would too, within a tick); a long wait is
        # left to beat, as the Redis transport redelivers long countdowns early.
        INDEXNOW.send_later(self.app, max(0.5, wait + 0.1))
    return {
        "submitted": report.submitted,
        "skipped": report.skipped,
        "refused": report.refused,
        "requests": report.requests,
        "deferred": report.deferred,
    }


@shared_task(bind=True, name=DISPATCH_DUE.name)
def dispatch_due(self: Task) -> dict[str, object]:
    """Beat: release due posts to senders, recover lost sends, and nudge every stage whose
    work list has work due (what a lost message, a crash or a time limit left)."""
    now = time.time()
    report = runtime(self.app).posts.dispatcher.tick(
        now,
        deliver=lambda post_ids: DELIVER.send(self.app, post_ids),
        reconcile=lambda post_id: RECONCILE.send(self.app, post_id),
        deliver_at=lambda post_ids, at: DELIVER.send_later(
            self.app, max(0.0, at - time.time()), post_ids
        ),
    )
    nudged = nudge_owed(self.app, now)
    activities = dispatch_activities(self.app, now)
    return {
        "released": report.released,
        "reconciling": report.reconciling,
        "nudged": nudged,
        "activities": activities,
    }


def _count(app: Celery, sent: Delivery) -> None:
    """Metrics of one send; nudge the sync an update or retraction during the send owes."""
    post = sent.post  # as claimed: None when another sender had it or it was settled
    if post is not None:
        metrics.DELIVERY_SECONDS.labels(post.platform).observe(time.time() - sent.claimed_at)
        metrics.POSTS.labels(post.platform, sent.status).inc()
        if sent.status == "sent":
            metrics.DELIVERY_LAG_SECONDS.labels(post.platform).observe(
                max(0.0, sent.claimed_at - post.due_at)
            )
    if sent.owes_sync:
        SYNC_POSTS.send(app)


@shared_task(
    bind=True,
    name=DELIVER.name,
    autoretry_for=REDIS_DOWN,
    retry_backoff=True,
    max_retries=10,
)
def deliver(self: Task, post_ids: list[str]) -> dict[str, object]:
    """Claim each post and send it once, one after the other; rate limits and outages
    reschedule a post. Past DELIVER_BUDGET the rest go on in a new message."""
    ids = [post_ids] if isinstance(post_ids, str) else post_ids  # a message of one post_id
    rt = runtime(self.app)
    until = time.monotonic() + DELIVER_BUDGET
    statuses: dict[str, str] = {}
    done = 0
    sending = rt.posts.sender.send_all(ids, rt.consumer_name, until=until, only_due=True)
    for post_id, sent in sending:
        statuses[post_id], done = sent.status, done + 1
        _count(self.app, sent)
    if done < len(ids):
        DELIVER.send(self.app, ids[done:])
    return {"posts": statuses}


@shared_task(bind=True, name=RECONCILE.name)
def reconcile(self: Task, post_id: str) -> dict[str, object]:
    """Resolve a post whose send had an unknown outcome, without re-sending blindly."""
    return {
        "post": post_id,
        "status": runtime(self.app).posts.sender.reconcile(post_id, time.time()),
    }


@shared_task(bind=True, name=FEDERATE.name, autoretry_for=REDIS_DOWN, max_retries=5)
def federate(self: Task) -> dict[str, object]:
    """Turn article changes into ActivityPub activities (the ``federate`` work list), then
    hand their deliveries to senders at once."""
    report = runtime(self.app).federation.federator.run()
    released = dispatch_activities(self.app, time.time()) if report.deliveries else 0
    if report.activities or report.failed:
        log.info(
            "federation.federated",
            articles=report.articles,
            activities=report.kinds,
            deliveries=report.deliveries,
            failed=report.failed,
        )
    return {"articles": report.articles, "deliveries": report.deliveries, "released": released}


@shared_task(
    bind=True,
    name=DELIVER_ACTIVITY.name,
    autoretry_for=REDIS_DOWN,
    retry_backoff=True,
    max_retries=10,
)
def deliver_activity(self: Task, delivery_id: str) -> dict[str, object]:
    """Claim one ActivityPub delivery and POST it once; failures reschedule it."""
    rt = runtime(self.app)
    result = rt.federation.deliverer.deliver(delivery_id, rt.consumer_name, time.time())
    if result.released:
        DELIVER_ACTIVITY.send(self.app, result.released)  # the next of its chain may go now
    return {"delivery": delivery_id, "status": result.status}
