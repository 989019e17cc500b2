"""Per-channel schedule state in Redis: what the scheduler's search reads when planning.

A :class:`ChannelCalendar` answers :class:`~syndication.posts.scheduling.ScheduleState`'s
questions with one round trip each, over the channel's planned times (the ledger's
``channel_planned`` sorted set, kept by the ledger's scripts): ``ZCOUNT`` for a local day, a
quota window or a slot, ``ZRANGEBYSCORE`` with a limit of one for the posts within
``min_spacing`` of a candidate. The cost of a question does not grow with the backlog.

What keeps planning flat under a backlog is the *taken stretches*: each search reports the
stretches it proved have no room (every instant there breaks a rule, given the channel's
posts), and they are merged into a sorted set, so the next search jumps over them in one step
instead of walking the backlog again. Adding posts never frees an instant, so a stretch stays
true while posts are only planned. When a post is moved (a retry) or cancelled, the ledger's
transition script notes the instant it freed, and the channel's next plan first cuts
everything within :func:`~syndication.posts.scheduling.taken_radius` of it out of the
stretches. Stretches are kept per rules fingerprint (schedule and quota), so a config change
starts afresh, and a search that began before an instant was freed does not record what it
learnt (the generation). Forgetting is always safe: it only makes a later search walk further.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from redis.commands.core import Script

from syndication.config.channels import ScheduleConfig
from syndication.keys import Keys
from syndication.posts.scheduling import Budget, Window, rules_fingerprint, taken_radius
from syndication.posts.scripts import LEARN, PREPARE, Call, run_scripts
from syndication.replies import pairs, scores, text_of

__all__ = ["Calendars", "ChannelCalendar", "Rate"]

# Stretches that ended this long ago are dropped (searches never start in the past).
_KEEP_PAST = 86_400.0


def _seconds(instant: datetime) -> str:
    return repr(instant.timestamp())


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Rate:
    """The rate-limit headers last seen on a channel."""

    remaining: int | None
    reset_at: float | None


class ChannelCalendar:
    """One channel's planned times and taken stretches, as one search reads them."""

    def __init__(
        self,
        r: redis.Redis,
        keys: Keys,
        channel: str,
        fingerprint: str,
        generation: str,
        learn: Script,
    ) -> None:
        self.r = r
        self.channel = channel
        self.fingerprint = fingerprint
        self.generation = generation
        self._planned = keys.channel_planned(channel)
        self._taken = keys.channel_taken(channel)
        self._meta = keys.channel_taken_meta(channel)
        self._learn = learn

    # --- ScheduleState -------------------------------------------------------------------
    def count(self, lo: datetime, hi: datetime) -> int:
        """How many posts fall in ``[lo, hi)``."""
        return int(self.r.zcount(self._planned, _seconds(lo), "(" + _seconds(hi)))

    def between(self, lo: datetime, hi: datetime) -> Sequence[datetime]:
        """The posts in ``[lo, hi)``, earliest first."""
        reply = self.r.zrangebyscore(
            self._planned, _seconds(lo), "(" + _seconds(hi), withscores=True
        )
        return [_instant(s) for s in scores(reply)]

    def first_in(self, lo: datetime, hi: datetime) -> datetime | None:
        """The earliest post in ``[lo, hi)``."""
        reply = self.r.zrangebyscore(
            self._planned, _seconds(lo), "(" + _seconds(hi), start=0, num=1, withscores=True
        )
        found = scores(reply)
        return _instant(found[0]) if found else None

    def last_in(self, lo: datetime, hi: datetime) -> datetime | None:
        """The latest post in ``[lo, hi)``."""
        reply = self.r.zrevrangebyscore(
            self._planned, "(" + _seconds(hi), _seconds(lo), start=0, num=1, withscores=True
        )
        found = scores(reply)
        return _instant(found[0]) if found else None

    def window(self, lo: datetime, t: datetime, hi: datetime) -> Window:
        """A quota window's counts around ``t``, in one round trip."""
        low, high = _seconds(lo), "(" + _seconds(hi)
        pipe = self.r.pipeline(transaction=False)
        pipe.zcount(self._planned, low, high)
        pipe.zcount(self._planned, "(" + _seconds(t), high)
        pipe.zrangebyscore(self._planned, low, high, start=0, num=1, withscores=True)
        total, after, first = pipe.execute()
        found = scores(first)
        return Window(int(total), int(after), _instant(found[0]) if found else None)

    def taken_until(self, t: datetime) -> datetime | None:
        """The end of the taken stretch holding ``t``, if one does."""
        reply = self.r.zrangebyscore(
            self._taken, "(" + _seconds(t), "+inf", start=0, num=1, withscores=True
        )
        found = pairs(reply)
        if not found:
            return None
        start, end = found[0]
        return _instant(end) if float(start) <= t.timestamp() else None

    # --- learning ------------------------------------------------------------------------
    def learn(self, taken: Sequence[tuple[datetime, datetime]]) -> bool:
        """Record the stretches a search proved taken; False when an instant was freed (or
        the rules changed) since this calendar was opened, and nothing was recorded."""
        call = self.learning(taken)
        return call is None or bool(run_scripts(self.r, call)[0])

    def learning(self, taken: Sequence[tuple[datetime, datetime]]) -> Call | None:
        """:meth:`learn` as a script call to send with another (``None``: nothing to learn)."""
        if not taken:
            return None
        args = [self.fingerprint, self.generation]
        for start, end in taken:
            args += [_seconds(start), _seconds(end)]
        return self._learn, [self._taken, self._meta], args


class Calendars:
    """Opens channel calendars on one Redis (the scripts are registered once)."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._prepare = r.register_script(PREPARE)
        self._learn = r.register_script(LEARN)

    def open(
        self,
        channel: str,
        schedule: ScheduleConfig,
        quota: Budget | None,
        now: float | None = None,
    ) -> tuple[ChannelCalendar, Rate]:
        """The channel's calendar for one search, after forgetting the stretches around the
        instants freed since the last one (or all of them, under other rules); and the
        rate-limit headers last seen on the channel, read in the same step."""
        now = time.time() if now is None else now
        fingerprint = rules_fingerprint(schedule, quota)
        radius = taken_radius(schedule, quota).total_seconds()
        k = self.keys
        generation, remaining, reset_at = self._prepare(
            keys=[
                k.channel_taken(channel),
                k.channel_taken_meta(channel),
                k.channel_freed(channel),
                k.channel_rate(channel),
            ],
            args=[fingerprint, repr(radius), repr(now - _KEEP_PAST)],
        )
        calendar = ChannelCalendar(
            self.r, self.keys, channel, fingerprint, text_of(generation), self._learn
        )
        rate = Rate(int(remaining) if remaining else None, float(reset_at) if reset_at else None)
        return calendar, rate
