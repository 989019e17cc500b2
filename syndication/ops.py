"""Operator views of Redis: queue lengths, heartbeats, due counts, persistence, backfill bookmark.

Read-only except for the backfill bookmark; used by ``syndication status`` and
``syndication backfill``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from syndication.keys import QUEUES
from syndication.store import Store, decode_map, members, text_of


@dataclass(frozen=True)
class Gauges:
    """Sizes read in one round trip at a metrics scrape."""

    queues: dict[str, int]
    inbox: int
    dead_letters: int
    documents: int
    posts: int
    dirty_feeds: int


def _alive(seen: Mapping[str, str], now: float, stale_after: float) -> dict[str, Any]:
    ages = {}
    for name, value in seen.items():
        try:
            ages[name] = round(now - float(value), 1)
        except ValueError:
            continue
    alive = sorted(n for n, age in ages.items() if age <= stale_after)
    return {
        "ok": bool(alive),
        "alive": alive,
        "last_seen_seconds": min(ages.values(), default=None),
    }


class Ops:
    """Read-only views for operators (status screen, readiness) and the backfill bookmark."""

    def __init__(self, store: Store) -> None:
        self.r = store.r
        self.keys = store.keys

    def queue_lengths(self, queues: Sequence[str]) -> dict[str, int]:
        """Messages waiting in each Celery queue."""
        pipe = self.r.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(self.keys.celery_queue(queue))
        return dict(zip(queues, (int(n) for n in pipe.execute()), strict=True))

    def gauges(self, queues: Sequence[str] = QUEUES) -> Gauges:
        """Queue, inbox, dead-letter, document, post and dirty-feed counts in one round trip."""
        k = self.keys
        pipe = self.r.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(k.celery_queue(queue))
        pipe.xlen(k.inbox)
        pipe.zcard(k.dead_letters)
        pipe.zcard(k.rendered_index)
        pipe.zcard(k.posts)
        pipe.zcard(k.dirty_feeds)
        *lengths, inbox, dead, documents, posts, dirty = (int(v) for v in pipe.execute())
        return Gauges(dict(zip(queues, lengths, strict=True)), inbox, dead, documents, posts, dirty)

    def beat(self, role: str, name: str, now: float) -> None:
        """Record that process ``name`` (a worker, beat, a server) is alive at ``now``."""
        self.r.hset(self.keys.heartbeat(role), name, now)

    def readiness(
        self, now: float, *, stale_after: float, backlog_limit: int
    ) -> dict[str, dict[str, Any]]:
        """Every readiness check by name, each with ``ok`` and what it saw."""
        try:
            self.r.ping()
        except redis.RedisError as exc:
            down = {"ok": False, "error": "redis unreachable"}
            return {
                "redis": {"ok": False, "error": f"{type(exc).__name__}"},
                "workers": down,
                "beat": down,
                "backlog": down,
            }
        k = self.keys
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(k.heartbeat("worker"))
        pipe.hgetall(k.heartbeat("beat"))
        pipe.xlen(k.inbox)
        for queue in QUEUES:
            pipe.llen(k.celery_queue(queue))
        workers, beat, inbox, *lengths = pipe.execute()
        queues = dict(zip(QUEUES, (int(n) for n in lengths), strict=True))
        total = int(inbox) + sum(queues.values())
        return {
            "redis": {"ok": True},
            "workers": _alive(decode_map(workers), now, stale_after),
            "beat": _alive(decode_map(beat), now, stale_after),
            "backlog": {
                "ok": total <= backlog_limit,
                "total": total,
                "limit": backlog_limit,
                "inbox": int(inbox),
                "queues": queues,
            },
        }

    def heartbeats(self, role: str) -> dict[str, float]:
        """Process name -> last time seen, for ``worker`` or ``beat``."""
        return {
            k: float(v) for k, v in decode_map(self.r.hgetall(self.keys.heartbeat(role))).items()
        }

    def due_counts(self, now: float) -> tuple[int, int]:
        """(posts waiting in the due set, of which already due)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(self.keys.due)
        pipe.zcount(self.keys.due, "-inf", now)
        total, due = pipe.execute()
        return int(total), int(due)

    def persistence(self) -> dict[str, bool | int | str | None]:
        """The server's persistence and eviction settings (AOF, RDB, maxmemory-policy), typed:
        ``aof_enabled`` a boolean, the RDB figures integers (``None`` when not reported)."""
        info = self.r.info("persistence")
        try:
            policy = self.r.config_get("maxmemory-policy").get("maxmemory-policy", "")
        except redis.ResponseError:  # managed servers may refuse CONFIG
            policy = "unknown"

        def number(name: str) -> int | None:
            value = info.get(name)
            return int(value) if isinstance(value, int | float | str) and str(value) else None

        return {
            "aof_enabled": bool(int(info.get("aof_enabled", 0) or 0)),
            "rdb_last_save": number("rdb_last_save_time"),
            "rdb_changes_since_last_save": number("rdb_changes_since_last_save"),
            "maxmemory_policy": str(policy),
        }

    def due_between(self, start: float, end: float, limit: int = 500) -> list[tuple[str, float]]:
        """Posts in the due set due from ``start`` to ``end``, soonest first: (id, due at)."""
        found = self.r.zrangebyscore(self.keys.due, start, end, start=0, num=limit, withscores=True)
        return [(text_of(pair[0]), float(pair[1])) for pair in found if isinstance(pair, tuple)]

    def reconciling(self, limit: int = 500) -> list[str]:
        """Uncertain posts waiting for a reconciliation, oldest first."""
        return members(self.r.zrange(self.keys.reconciling, 0, limit - 1))

    def other_prefixes(self, *, scan_limit: int = 200_000) -> dict[str, int]:
        """Other key prefixes on this server that hold syndication data, with how many live
        articles each holds (found by their ``<prefix>:articles`` set; at most ``scan_limit``
        keys are looked at, so a huge shared server costs a bounded scan)."""
        marker = self.keys.articles.removeprefix(self.keys.prefix)  # ":articles"
        found: dict[str, int] = {}
        keys = self.r.scan_iter(match="*" + marker, count=1000, _type="zset")
        for seen, key in enumerate(keys, start=1):
            prefix = text_of(key).removesuffix(marker)
            if prefix != self.keys.prefix and prefix:
                found[prefix] = int(self.r.zcard(key))
            if seen >= scan_limit:
                break
        return dict(sorted(found.items()))

    def backfill_done(self, fingerprint: str) -> int:
        """How many lines of a backfill file were already applied."""
        value = self.r.hget(self.keys.backfill, fingerprint)
        return int(value) if value else 0

    def set_backfill_done(self, fingerprint: str, lines: int) -> None:
        """Remember how far a backfill got, so a rerun resumes there."""
        self.r.hset(self.keys.backfill, fingerprint, lines)
