"""Operator views of Redis: queue lengths, heartbeats, due counts, persistence, backfill bookmark.

Read-only except for the backfill bookmark; used by ``syndication status`` and
``syndication backfill``.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from syndication.store import Store, decode_map


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

    def persistence(self) -> dict[str, str]:
        """The server's persistence and eviction settings (AOF, RDB, maxmemory-policy)."""
        info = self.r.info("persistence")
        try:
            policy = self.r.config_get("maxmemory-policy").get("maxmemory-policy", "")
        except redis.ResponseError:  # managed servers may refuse CONFIG
            policy = "unknown"
        return {
            "aof_enabled": str(info.get("aof_enabled", 0)),
            "rdb_last_save": str(info.get("rdb_last_save_time", "")),
            "rdb_changes_since_last_save": str(info.get("rdb_changes_since_last_save", "")),
            "maxmemory_policy": str(policy),
        }

    def backfill_done(self, fingerprint: str) -> int:
        """How many lines of a backfill file were already applied."""
        value = self.r.hget(self.keys.backfill, fingerprint)
        return int(value) if value else 0

    def set_backfill_done(self, fingerprint: str, lines: int) -> None:
        """Remember how far a backfill got, so a rerun resumes there."""
        self.r.hset(self.keys.backfill, fingerprint, lines)
