"""Work one stage owes the next, kept in Redis until it is done (a transactional outbox).

Every hand-off between stages (an applied event owes its posts a plan, a changed post owes the
platform an edit or a delete, a rendered document owes the hub a WebSub ping and the export
folder a copy) is an item in a :class:`WorkList`: a sorted set per stage whose member is the
item (an article id, a post id, a document path) and whose score is when it may next be taken.

- **Recording** is part of the producer's own atomic step: the apply script, a ledger script
  or a MULTI block adds the item together with the change that makes it owed, so no crash can
  fall between the two. :data:`~syndication.store.OWE_LUA` is the snippet those scripts embed.
- **Taking** moves an item's score to ``now + lease``: nobody else takes it while the taker
  works. A taker that dies leaves the item to come due again when the lease ends.
- **Completing** removes the item only if nothing recorded it again since it was taken (a
  generation counter per item): a change that arrived during the work is done again, after.
  Recording an item that is already there never makes it due sooner, so one item is never
  worked on by two takers at once (until a lease runs out).
- **Failing** puts the item back at a later time; the periodic sweep of each stage (beat)
  takes whatever is due, so a lost Celery message costs a delay, never the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from redis.client import Pipeline

from syndication.errors import SyndicationError
from syndication.keys import Keys
from syndication.store import Store, pairs, text_of
from syndication.store_scripts import OWE_LUA

R = TypeVar("R")

__all__ = ["STAGES", "Taken", "WorkList"]

# Every stage that owes work to another; each has a sorted set and a generation hash.
STAGES: tuple[str, ...] = ("plan", "sync", "websub", "export", "federate", "indexnow")

_ADD = (
    OWE_LUA
    + """
for i = 2, #ARGV do owe(KEYS[1], KEYS[2], ARGV[i], ARGV[1]) end
return #ARGV - 1
"""
)

# KEYS: zset, generations. ARGV: now, lease_until, limit.
_TAKE = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, item in ipairs(items) do
  redis.call('ZADD', KEYS[1], ARGV[2], item)
  table.insert(out, item)
  table.insert(out, redis.call('HGET', KEYS[2], item) or '0')
end
return out
"""

# KEYS: zset, generations, failures. ARGV: item, generation taken, now.
_DONE = """
local gen = redis.call('HGET', KEYS[2], ARGV[1]) or '0'
redis.call('HDEL', KEYS[3], ARGV[1])
if gen == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 0
"""


@dataclass(frozen=True)
class Taken:
    """An item taken from a work list, with the generation it had when it was taken."""

    item: str
    generation: str


class WorkList:
    """One stage's owed work (see the module docstring)."""

    def __init__(self, store: Store, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage: unknown stage {stage!r}")
        self.r = store.r
        self.stage = stage
        self.key = store.keys.owed(stage)
        self.generations = store.keys.owed_generations(stage)
        self.failures = store.keys.owed_failures(stage)
        self._add = self.r.register_script(_ADD)
        self._take = self.r.register_script(_TAKE)
        self._done = self.r.register_script(_DONE)

    @staticmethod
    def keys_of(keys: Keys, stage: str) -> tuple[str, str]:
        """The sorted set and generation hash of a stage (for scripts that record work)."""
        return keys.owed(stage), keys.owed_generations(stage)

    def add(self, items: Iterable[str], now: float, *, client: Pipeline | None = None) -> None:
        """Record items as owed (inside ``client``'s transaction when given)."""
        names = list(items)
        if names:
            self._add(
                keys=[self.key, self.generations], args=[repr(now), *names], client=client or self.r
            )

    def take(self, now: float, lease: float, limit: int = 100) -> list[Taken]:
        """Items due at ``now``, each leased until ``now + lease``."""
        reply = self._take(
            keys=[self.key, self.generations], args=[repr(now), repr(now + lease), limit]
        )
        flat = [text_of(v) for v in reply]
        return [Taken(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    def done(self, taken: Taken, now: float) -> bool:
        """The work is done: forget the item, unless it was recorded again meanwhile (then it
        is due again at once, and False is returned)."""
        return bool(
            self._done(
                keys=[self.key, self.generations, self.failures],
                args=[taken.item, taken.generation, repr(now)],
            )
        )

    def work_off(
        self,
        handle: Callable[[str, float], R],
        *,
        lease: float,
        budget: float = 10.0,
        batch: int = 50,
        on_failure: Callable[[str, Exception, int], None] | None = None,
    ) -> tuple[list[R], int]:
        """Take due items and ``handle(item, now)`` each, until none is due or ``budget``
        seconds are spent; returns what each handled item gave, and how many failed.

        An item whose handling raises a :class:`~syndication.errors.SyndicationError` or an
        ``OSError`` is retried later with backoff (``on_failure`` hears of it) and the rest go
        on; one the budget leaves untouched is given back at once.
        """
        results: list[R] = []
        failed = 0
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            taken = self.take(time.time(), lease, batch)
            if not taken:
                break
            for item in taken:
                now = time.time()
                if time.monotonic() > deadline:
                    self.retry(item.item, now)
                    continue
                try:
                    result = handle(item.item, now)
                except (SyndicationError, OSError) as exc:
                    attempts = self.fail(item, now)
                    failed += 1
                    if on_failure is not None:
                        on_failure(item.item, exc, attempts)
                    continue
                self.done(item, now)
                results.append(result)
        return results, failed

    def fail(
        self,
        taken: Taken,
        now: float,
        *,
        base: float = 15.0,
        cap: float = 3600.0,
        not_before: float = 0.0,
    ) -> int:
        """The work failed: try again later, backing off (15 s, 30 s, ... up to an hour), and
        not before ``not_before`` (a server's Retry-After).

        Returns how many times in a row this item has failed.
        """
        attempts = int(self.r.hincrby(self.failures, taken.item, 1))
        self.retry(taken.item, max(not_before, now + min(cap, base * 2 ** (attempts - 1))))
        return attempts

    def retry(self, item: str, at: float) -> None:
        """Put an item back, to be taken at ``at`` (after a failure)."""
        self.r.zadd(self.key, {item: at}, xx=True)

    def due(self, now: float) -> int:
        """How many items are due (taken by nobody, or left by a taker that died)."""
        return int(self.r.zcount(self.key, "-inf", now))

    def next_due(self) -> float | None:
        """When the soonest item may be taken (None when nothing is owed)."""
        first = pairs(self.r.zrange(self.key, 0, 0, withscores=True))
        return first[0][1] if first else None

    def size(self) -> int:
        """How many items are owed, due or not."""
        return int(self.r.zcard(self.key))

    def items(self, limit: int = 100) -> list[tuple[str, float]]:
        """Owed items with the time each may next be taken, soonest first (operators)."""
        return pairs(self.r.zrange(self.key, 0, limit - 1, withscores=True))

    def contains(self, item: str) -> bool:
        """Whether ``item`` is owed."""
        return self.r.zscore(self.key, item) is not None


def pending_counts(store: Store, now: float) -> dict[str, tuple[int, int]]:
    """For every stage: (owed, due now), in one round trip (status and metrics)."""
    pipe = store.r.pipeline(transaction=False)
    for stage in STAGES:
        pipe.zcard(store.keys.owed(stage))
        pipe.zcount(store.keys.owed(stage), "-inf", now)
    replies: Sequence[int] = pipe.execute()
    return {s: (int(replies[2 * i]), int(replies[2 * i + 1])) for i, s in enumerate(STAGES)}
