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

The planner holds the channel's lock from the start of a search until its post is written,
so that two planners never choose a time from the same view of the channel. It takes the lock
in the same script call that opens the calendar (:meth:`Calendars.hold`), which also answers
the search's first question, and the ledger's create script releases it: one round trip
before the search and one after it, where a separate lock would add two.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from redis.commands.core import Script
from redis.exceptions import LockError

from syndication.config.channels import ScheduleConfig
from syndication.connection import run_script
from syndication.keys import Keys
from syndication.posts.scheduling import Budget, Window, rules_fingerprint, taken_radius
from syndication.posts.scripts import LEARN, PREPARE, RELEASE, WINDOW, Call, run_scripts
from syndication.replies import pairs, scores, text_of

__all__ = ["LOCK_SECONDS", "Calendars", "ChannelCalendar", "Rate"]

# Stretches that ended this long ago are dropped (searches never start in the past).
_KEEP_PAST = 86_400.0
# How long a planner may hold a channel's lock (it expires after that), and wait for it.
LOCK_SECONDS = 30.0
# How long a planner waits before asking again for a lock another holds.
_LOCK_RETRY = 0.1


def _seconds(instant: datetime) -> str:
    return repr(instant.timestamp())


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _stretch_end(found: Sequence[tuple[str, float]], t: datetime) -> datetime | None:
    """The end of the stretch holding ``t``, given the first stretch that ends after it."""
    if not found:
        return None
    start, end = found[0]
    return _instant(end) if float(start) <= t.timestamp() else None


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
        window: Script,
        *,
        first: tuple[datetime, datetime | None] | None = None,
        lock_token: str = "",
        release: Script | None = None,
    ) -> None:
        self.r = r
        self.channel = channel
        self.fingerprint = fingerprint
        self.generation = generation
        # The token of the channel lock this search holds ("" for none).
        self.lock_token = lock_token
        self._planned = keys.channel_planned(channel)
        self._taken = keys.channel_taken(channel)
        self._meta = keys.channel_taken_meta(channel)
        self._lock = keys.channel_lock(channel)
        self._learn = learn
        self._window = window
        self._release = release
        # The answer to taken_until(first[0]), read when the calendar was opened.
        self._first = first

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
        """A quota window's counts around ``t``, in one script call (one command where a
        pipeline of three cost the client three times the work)."""
        total, after, first = run_script(
            self.r, self._window, [self._planned], [_seconds(lo), _seconds(t), _seconds(hi)]
        )
        return Window(int(total), int(after), None if first is None else _instant(float(first)))

    def taken_until(self, t: datetime) -> datetime | None:
        """The end of the taken stretch holding ``t``, if one does."""
        if self._first is not None and self._first[0] == t:
            # Answered when the calendar was opened (the search's first question).
            answer, self._first = self._first[1], None
            return answer
        reply = self.r.zrangebyscore(
            self._taken, "(" + _seconds(t), "+inf", start=0, num=1, withscores=True
        )
        return _stretch_end(pairs(reply), t)

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

    # --- the channel lock ----------------------------------------------------------------
    def release(self) -> bool:
        """Release the channel lock this calendar holds (when no post is written: the
        ledger's create script releases it otherwise); False when it was no longer held."""
        if not self.lock_token or self._release is None:
            return False
        token, self.lock_token = self.lock_token, ""
        return bool(self._release(keys=[self._lock], args=[token]))


class Calendars:
    """Opens channel calendars on one Redis (the scripts are registered once)."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._prepare = r.register_script(PREPARE)
        self._learn = r.register_script(LEARN)
        self._release = r.register_script(RELEASE)
        self._window = r.register_script(WINDOW)

    def open(
        self,
        channel: str,
        schedule: ScheduleConfig,
        quota: Budget | None,
        now: float | None = None,
        *,
        first: datetime | None = None,
    ) -> tuple[ChannelCalendar, Rate]:
        """The channel's calendar for one search, after forgetting the stretches around the
        instants freed since the last one (or all of them, under other rules); and the
        rate-limit headers last seen on the channel, read in the same step (with the taken
        stretch holding ``first``, the search's first candidate, when given)."""
        now = time.time() if now is None else now
        opened = self._open(channel, schedule, quota, now, first, "", 0)
        if opened is None:  # only a lock is ever refused, and none was asked for
            raise RuntimeError(f"calendar {channel}: refused without a lock")
        return opened

    def hold(
        self,
        channel: str,
        schedule: ScheduleConfig,
        quota: Budget | None,
        now: float,
        *,
        first: datetime | None = None,
        timeout: float = LOCK_SECONDS,
    ) -> tuple[ChannelCalendar, Rate]:
        """:meth:`open`, under the channel's lock, taken in the same script call: held for at
        most ``timeout`` seconds, and waited for as long when another planner holds it.

        The ledger's create script releases it (:meth:`~syndication.posts.ledger.Ledger.
        creating` with the calendar's ``lock_token``), or :meth:`ChannelCalendar.release`.

        Raises:
            LockError: the lock was not free within ``timeout`` seconds.
        """
        token = uuid.uuid4().hex
        hold_ms = int(timeout * 1000)
        stop = time.monotonic() + timeout
        while True:
            try:
                opened = self._open(channel, schedule, quota, now, first, token, hold_ms)
            except BaseException:
                # The call may have taken the lock before it failed (or lost its answer).
                with contextlib.suppress(redis.RedisError):
                    self._release(keys=[self.keys.channel_lock(channel)], args=[token])
                raise
            if opened is not None:
                return opened
            if time.monotonic() + _LOCK_RETRY > stop:
                raise LockError(
                    "Unable to acquire lock within the time specified",
                    lock_name=self.keys.channel_lock(channel),
                )
            time.sleep(_LOCK_RETRY)

    def _open(
        self,
        channel: str,
        schedule: ScheduleConfig,
        quota: Budget | None,
        now: float,
        first: datetime | None,
        token: str,
        hold_ms: int,
    ) -> tuple[ChannelCalendar, Rate] | None:
        fingerprint = rules_fingerprint(schedule, quota)
        radius = taken_radius(schedule, quota).total_seconds()
        k = self.keys
        keys = [
            k.channel_taken(channel),
            k.channel_taken_meta(channel),
            k.channel_freed(channel),
            k.channel_rate(channel),
            *([k.channel_lock(channel)] if token else []),
        ]
        reply = run_script(
            self.r,
            self._prepare,
            keys,
            [
                fingerprint,
                repr(radius),
                repr(now - _KEEP_PAST),
                "" if first is None else _seconds(first),
                token,
                str(hold_ms),
            ],
        )
        if not int(reply[0]):
            return None  # another planner holds the lock
        _, generation, remaining, reset_at, start, end = reply
        answer = None
        if first is not None:
            found = [] if start is None else [(text_of(start), float(end))]
            answer = (first, _stretch_end(found, first))
        calendar = ChannelCalendar(
            self.r,
            self.keys,
            channel,
            fingerprint,
            text_of(generation),
            self._learn,
            self._window,
            first=answer,
            lock_token=token,
            release=self._release,
        )
        rate = Rate(int(remaining) if remaining else None, float(reset_at) if reset_at else None)
        return calendar, rate
