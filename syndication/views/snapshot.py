"""The status snapshot: everything an operator checks first, as typed JSON.

``syndication status`` prints it (or its JSON), and ``GET /status`` renders it as a page. It
only reads, through the repository classes (Store, Ledger, DocumentStore, WorkList, Ops).
Numbers are numbers, booleans booleans and times Unix seconds; the shells format them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feeds.documents import DocumentStore
from syndication.connection import redacted
from syndication.embedded import socket_path
from syndication.keys import QUEUES
from syndication.ops import Ops
from syndication.posts.ledger import Ledger, Post, PostStatus
from syndication.settings import Settings
from syndication.store import Store
from syndication.worklist import pending_counts

__all__ = ["STALE", "Reading", "reading_for", "snapshot"]

# A worker or beat not seen for this long is reported as gone.
STALE = 60.0
# Failed posts are looked for among this many of the newest posts (the ledger keeps no
# index by status, and a status view must stay cheap).
RECENT_POSTS = 1000
# Scheduled posts listed per channel in the next-24-hours view.
UPCOMING_PER_CHANNEL = 20


@dataclass(frozen=True)
class Reading:
    """Where the snapshot was read: the Redis (URL already redacted), prefix and config."""

    redis: str
    embedded: bool
    prefix: str
    config: str


def reading_for(settings: Settings) -> Reading:
    """Where ``settings`` point: the Redis (password masked), the prefix, the config."""
    url = settings.redis_url_value or f"unix://{socket_path(settings.data_dir)}"
    return Reading(
        redis=redacted(url),
        embedded=settings.redis_url is None,
        prefix=settings.prefix,
        config=str(settings.config_path),
    )


def _post_row(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "channel": post.channel,
        "platform": post.platform,
        "article_id": post.article_id,
        "status": post.status.value,
        "due_at": post.due_at or None,
        "title": post.title or None,
        "remote_url": post.remote_url or None,
        "last_error": post.last_error or None,
        "approved": post.approved,
    }


def snapshot(
    store: Store, reading: Reading, now: float, *, details: bool = False
) -> dict[str, Any]:
    """Queues, workers and beat, feeds and their age, posts per channel, dead letters,
    work owed per stage and Redis health, with the warnings they call for.

    ``details`` adds what the status page lists: every feed document with its age, the next
    24 hours of scheduled posts per channel, failed and uncertain posts, the newest dead
    letters.
    """
    ops = Ops(store)
    documents = DocumentStore(store).documents()
    ages = [now - d.rendered_at for d in documents if d.rendered_at]
    due_total, due_now = ops.due_counts(now)
    persistence = ops.persistence()
    warnings: list[str] = []
    if not persistence["aof_enabled"] and not reading.embedded:
        warnings.append(
            "Redis persistence: AOF is off; a restart can lose queued events (appendonly yes)"
        )
    policy = persistence["maxmemory_policy"]
    if policy not in ("noeviction", "unknown"):
        warnings.append(f"Redis maxmemory-policy is {policy}: use noeviction")
    workers = {n: round(now - t, 1) for n, t in ops.heartbeats("worker").items()}
    beats = {n: round(now - t, 1) for n, t in ops.heartbeats("beat").items()}
    if not any(age < STALE for age in workers.values()):
        warnings.append("no worker seen in the last minute")
    if not any(age < STALE for age in beats.values()):
        warnings.append(
            "no beat seen in the last minute (posts are not dispatched, inbox not drained)"
        )
    ledger = Ledger(store)
    posts: dict[str, dict[str, int]] = {}
    for (_platform, channel, status), n in sorted(ledger.counts().items()):
        posts.setdefault(channel, {})[status] = n
    dead = store.count_dead_letters()
    if dead:
        warnings.append(f"{dead} dead letter(s): syndication dlq list")
    articles = store.count_articles()
    owed = {
        stage: {"owed": total, "due_now": due}
        for stage, (total, due) in pending_counts(store, now).items()
    }
    snap: dict[str, Any] = {
        "reading": {
            "redis": reading.redis,
            "embedded": reading.embedded,
            "prefix": reading.prefix,
            "config": reading.config,
        },
        "redis": {"embedded": reading.embedded, **persistence},
        "queues": {
            **ops.queue_lengths(QUEUES),
            "inbox": store.inbox_length(),
            "inbox_pending": store.inbox_pending(),
            "dirty_feeds": len(store.dirty_feeds()),
        },
        "owed": owed,
        "workers_seen_seconds_ago": workers,
        "beat_seen_seconds_ago": beats,
        "articles": articles,
        "feeds": {
            "documents": len(documents),
            "newest_render_age": round(min(ages), 1) if ages else None,
            "oldest_render_age": round(max(ages), 1) if ages else None,
        },
        "posts": posts,
        "posts_waiting": due_total,
        "posts_due_now": due_now,
        "dead_letters": dead,
        "other_prefixes": {},
        "warnings": warnings,
    }
    if not (articles or documents or posts or dead or workers or beats):
        # Nothing under this prefix: the data may well be under another one (the demo's).
        others = ops.other_prefixes()
        snap["other_prefixes"] = others
        if others:
            listed = ", ".join(f"{p} ({n} articles)" for p, n in others.items())
            warnings.insert(
                0,
                f"nothing under the prefix {reading.prefix!r}, but this Redis holds data under "
                f"{listed}: use --prefix (or SYNDICATION_PREFIX)",
            )
    if details:
        snap.update(_details(store, ledger, ops, documents, now, dead))
    return snap


def _details(
    store: Store,
    ledger: Ledger,
    ops: Ops,
    documents: list[Any],
    now: float,
    dead: int,
) -> dict[str, Any]:
    upcoming: dict[str, list[dict[str, Any]]] = {}
    due = ops.due_between(now, now + 86400, limit=2000)
    for post in ledger.many([pid for pid, _ in due]):
        rows = upcoming.setdefault(post.channel, [])
        if len(rows) < UPCOMING_PER_CHANNEL:
            rows.append(_post_row(post))
    uncertain = ledger.many(ops.reconciling())
    recent = ledger.many(ledger.all_ids(limit=RECENT_POSTS))
    failed = [p for p in recent if p.status == PostStatus.FAILED]
    uncertain_ids = {p.id for p in uncertain}
    uncertain += [
        p for p in recent if p.status == PostStatus.UNCERTAIN and p.id not in uncertain_ids
    ]
    letters = store.dead_letters(limit=20, offset=max(0, dead - 20))
    return {
        "documents": [
            {
                "path": d.path,
                "items": d.items,
                "bytes": d.size,
                "rendered_at": d.rendered_at or None,
                "age": round(now - d.rendered_at, 1) if d.rendered_at else None,
            }
            for d in documents
        ],
        "upcoming": dict(sorted(upcoming.items())),
        "failed_posts": [_post_row(p) for p in failed],
        "uncertain_posts": [_post_row(p) for p in uncertain],
        "recent_dead_letters": [
            {
                "id": d.id,
                "at": d.at,
                "source": d.source,
                "event_id": d.event_id,
                "error": d.errors[0] if d.errors else None,
            }
            for d in reversed(letters)
        ],
    }
