"""When a post is due: the scheduling policy of a channel (pure).

:func:`find_due` returns the earliest instant, at or after both ``now`` and the article's
publication plus the channel's delay, that satisfies every rule of the channel's
:class:`~syndication.config.channels.ScheduleConfig` and the platform's quota:

- not inside quiet hours, read on the channel's local wall clock (zoneinfo, so DST-correct);
- at least ``min_spacing`` away from every post already planned or sent on the channel,
  before *and* after (the planned list holds future posts too);
- at most ``daily_cap`` posts per *local* calendar day;
- on a free posting slot when slots are configured (each slot takes one post);
- within the platform's quota (:class:`Budget`), so a burst is spread before a 429 comes.

The search moves a candidate instant forward, rule by rule, until one pass moves it no more.
Every move skips only instants that break a rule, so the result is the earliest instant that
breaks none; every move is strictly forward and the search stops :data:`HORIZON` ahead, so it
always ends.

The channel's posts are read through a :class:`ScheduleState`, whose questions each cost a
bisection (or one sorted-set command): the posts within ``min_spacing`` of the candidate,
how many fall on its local day, in a quota window or in a slot, and whether the candidate lies
in a stretch already known to be taken. That last one is what keeps planning flat under a
backlog: each search reports the stretch it proved taken (:attr:`Due.taken`), and since adding
posts never frees an instant, the planner keeps those stretches until a post near them is
moved or cancelled (:mod:`syndication.posts.calendar`). :func:`due_time` is the same search over
a plain list of times.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from syndication.config.channels import ScheduleConfig
from syndication.platforms.facts import FACTS

__all__ = [
    "HORIZON",
    "Budget",
    "Due",
    "ScheduleState",
    "SchedulingError",
    "SortedTimes",
    "Window",
    "budget_for",
    "day_bounds",
    "due_time",
    "find_due",
    "first_candidate",
    "local_day",
    "rules_fingerprint",
    "taken_radius",
]

# How far ahead the search may look before it declares the schedule unsatisfiable.
HORIZON = timedelta(days=400)
_MAX_STEPS = 200_000
# Datetimes have microsecond resolution: the open interval (a, b) is [a + _TICK, b).
_TICK = timedelta(microseconds=1)
_ASK_TAKEN_EVERY = 4


class SchedulingError(ValueError):
    """No instant within :data:`HORIZON` satisfies the schedule (a contradictory config)."""


@dataclass(frozen=True)
class Budget:
    """A platform quota: at most ``max_posts`` in any ``window_seconds``.

    ``used_times`` are the posts that count against it (for :func:`due_time`; the planner
    counts the channel's :class:`ScheduleState` instead). ``reset_at`` and ``remaining`` come
    from the last rate-limit headers seen: until ``reset_at`` at most ``remaining`` more posts
    may go out, counting those already planned from ``now`` on.
    """

    window_seconds: float
    max_posts: int
    used_times: Sequence[datetime] = ()
    reset_at: datetime | None = None
    remaining: int | None = None

    def __post_init__(self) -> None:
        if self.window_seconds <= 0 or self.max_posts < 1:
            raise ValueError("budget: window_seconds and max_posts must be positive")


def budget_for(
    platform: str,
    used_times: Sequence[datetime] = (),
    *,
    reset_at: datetime | None = None,
    remaining: int | None = None,
) -> Budget | None:
    """The published budget of ``platform`` with what is known of its use, or ``None``."""
    facts = FACTS.get(platform)
    if facts is None or facts.quota is None:
        return None
    quota = facts.quota
    return Budget(quota.window_seconds, quota.posts, tuple(used_times), reset_at, remaining)


@dataclass(frozen=True)
class Window:
    """The posts around a candidate ``t``, for ``lo <= t < hi``: how many fall in
    ``[lo, hi)``, how many of them after ``t``, and the earliest of them."""

    total: int
    after: int
    first: datetime | None


class ScheduleState(Protocol):
    """What the search may ask about one channel's planned (or sent) posts; times are UTC."""

    def count(self, lo: datetime, hi: datetime) -> int:
        """How many posts fall in ``[lo, hi)``."""

    def between(self, lo: datetime, hi: datetime) -> Sequence[datetime]:
        """The posts in ``[lo, hi)``, earliest first."""

    def first_in(self, lo: datetime, hi: datetime) -> datetime | None:
        """The earliest post in ``[lo, hi)``."""

    def last_in(self, lo: datetime, hi: datetime) -> datetime | None:
        """The latest post in ``[lo, hi)``."""

    def window(self, lo: datetime, t: datetime, hi: datetime) -> Window:
        """What a quota window check needs, asked at once: see :class:`Window`."""

    def taken_until(self, t: datetime) -> datetime | None:
        """When ``t`` lies in a stretch already known to break a rule: the stretch's end."""


class SortedTimes:
    """A :class:`ScheduleState` over a list of times (bisection; no stretch is known taken)."""

    def __init__(self, times: Iterable[datetime], name: str = "planned") -> None:
        self.times = sorted(_aware(t, name) for t in times)

    def count(self, lo: datetime, hi: datetime) -> int:
        """How many times fall in ``[lo, hi)``."""
        return max(0, bisect.bisect_left(self.times, hi) - bisect.bisect_left(self.times, lo))

    def between(self, lo: datetime, hi: datetime) -> Sequence[datetime]:
        """The times in ``[lo, hi)``, earliest first."""
        return self.times[bisect.bisect_left(self.times, lo) : bisect.bisect_left(self.times, hi)]

    def first_in(self, lo: datetime, hi: datetime) -> datetime | None:
        """The earliest time in ``[lo, hi)``."""
        i = bisect.bisect_left(self.times, lo)
        return self.times[i] if i < len(self.times) and self.times[i] < hi else None

    def last_in(self, lo: datetime, hi: datetime) -> datetime | None:
        """The latest time in ``[lo, hi)``."""
        i = bisect.bisect_left(self.times, hi)
        return self.times[i - 1] if i > 0 and self.times[i - 1] >= lo else None

    def window(self, lo: datetime, t: datetime, hi: datetime) -> Window:
        """See :class:`Window`."""
        return Window(self.count(lo, hi), self.count(t + _TICK, hi), self.first_in(lo, hi))

    def taken_until(self, t: datetime) -> datetime | None:
        """Nothing is known beyond the list itself."""
        return None


@dataclass(frozen=True)
class Due:
    """A search's answer: the due time, and the stretches it proved taken.

    ``taken`` holds ``[start, end)`` stretches in which every instant breaks a rule of the
    schedule or quota given the channel's posts (never the rate-limit headers, which change on
    their own). They stay taken while posts are only added.
    """

    at: datetime
    taken: tuple[tuple[datetime, datetime], ...] = ()


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar day ``instant`` falls on in ``tz``."""
    return instant.astimezone(tz).date()


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants ``[start, end)`` whose local date in ``tz`` is ``day`` (UTC).

    A local date only moves forward in tzdata's rules since 2011 (Newfoundland last fell back
    across midnight in 2010), so one day is one stretch of time.
    """
    return _day_start(day, tz), _day_start(day + timedelta(days=1), tz)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return _instants_of_wall(tz, datetime.combine(day, time(0)))[0]


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _instants_of_wall(tz: ZoneInfo, wall: datetime) -> list[datetime]:
    """The instants at which the local clock in ``tz`` reads ``wall``, earliest first.

    A wall time repeated when clocks go back has two. A wall time skipped when clocks go
    forward (02:30 in Berlin on the last Sunday of March) has none; it is then stood in for by
    the instant the clocks jump, the first one whose reading is past it.
    """
    candidates = sorted({wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    existing = [u for u in candidates if _wall(u, tz) == wall]
    if existing:
        return existing
    # In a gap the two readings straddle the transition; find it to the second (tzdata
    # transitions fall on whole seconds, and the wall clock rises monotonically across one).
    lo, hi = candidates[0], candidates[-1]
    while hi - lo > timedelta(seconds=1):
        mid = (lo + (hi - lo) / 2).replace(microsecond=0)
        if mid <= lo:
            break
        if _wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid
    return [hi]


def _next_instant_at(tz: ZoneInfo, wall: datetime, after: datetime) -> datetime:
    """The first instant after ``after`` at which ``tz`` reads ``wall`` (or jumps past it)."""
    for instant in _instants_of_wall(tz, wall):
        if instant > after:
            return instant
    # Callers only ask for a wall time still ahead of ``after``; stay strictly forward anyway.
    return after + timedelta(seconds=1)


# --- the rules: each returns t if t keeps it, else an instant before which none does ---------
def _quiet_push(schedule: ScheduleConfig, tz: ZoneInfo, t: datetime) -> datetime:
    quiet = schedule.quiet_hours
    if quiet is None:
        return t
    local = t.astimezone(tz)
    if not quiet.contains(local.time()):
        return t
    end_day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None, fold=0) >= quiet.start:
        end_day += timedelta(days=1)
    return _next_instant_at(tz, datetime.combine(end_day, quiet.end), t)


def _spacing_push(spacing: timedelta, state: ScheduleState, t: datetime) -> datetime:
    if spacing <= timedelta(0):
        return t
    # Only the posts within one spacing of t, on either side, matter; past the latest of
    # them, every instant is still too close to it.
    last = state.last_in(t - spacing + _TICK, t + spacing)
    return t if last is None else last + spacing


def _cap_push(cap: int | None, tz: ZoneInfo, state: ScheduleState, t: datetime) -> datetime:
    if cap is None:
        return t
    start, end = day_bounds(local_day(t, tz), tz)
    # The next day starts at ``end``: every instant before it is on this, full, day.
    return t if state.count(start, end) < cap else end


def _slot_instants(schedule: ScheduleConfig, tz: ZoneInfo, day: date) -> list[datetime]:
    # A slot in a repeated hour is one slot (its first reading), not two.
    return sorted(
        {_instants_of_wall(tz, datetime.combine(day, slot))[0] for slot in schedule.slots}
    )


def _slot_push(
    schedule: ScheduleConfig, tz: ZoneInfo, state: ScheduleState, t: datetime
) -> datetime:
    """Move ``t`` to the first slot instant at or after it that may be free.

    A slot is taken when a planned post falls between it and the next slot, so a post that
    went out a little late (a retry after a 429) still holds its slot. Only a slot at ``t``
    itself is looked at; a later one is checked on the search's next pass, after the stretches
    known to be taken, so a long run of taken slots is skipped in one step.
    """
    if not schedule.slots:
        return t
    day = local_day(t, tz)
    for _ in range(int(HORIZON.days) + 2):
        instants = _slot_instants(schedule, tz, day)
        following = _slot_instants(schedule, tz, day + timedelta(days=1))
        bounds = [*instants, *following[:1]]
        for i, slot in enumerate(instants):
            if slot < t:
                continue
            if slot > t:
                return slot
            nxt = bounds[i + 1] if i + 1 < len(bounds) else slot + timedelta(days=1)
            if state.count(slot, nxt) == 0:
                return slot
        day += timedelta(days=1)
    raise SchedulingError("schedule.slots: no free slot within the horizon")


def _held_until(budget: Budget | None, used: ScheduleState, now: datetime) -> datetime | None:
    """Until when the last rate-limit headers hold every post back (posts planned from now
    on already take what they said remains)."""
    if budget is None or budget.reset_at is None or budget.remaining is None:
        return None
    reset_at = _aware(budget.reset_at, "budget.reset_at")
    if reset_at <= now:
        return None
    return reset_at if used.count(now, reset_at) >= budget.remaining else None


def _budget_push(budget: Budget | None, used: ScheduleState, t: datetime) -> datetime:
    if budget is None:
        return t
    window = timedelta(seconds=budget.window_seconds)
    lo, hi = t - window + _TICK, t + window
    # Every window [x, x + W) holding t lies within (t - W, t + W).
    around = used.window(lo, t, hi)
    if around.total < budget.max_posts:
        return t
    if around.after == 0 and around.first is not None:
        # Nothing after t (planning at the end of a backlog): the fullest window holding t
        # starts at the first post after t - W, and it is full; it frees a place W later.
        return around.first + window
    near = used.between(lo, hi)
    # Every window [x, x + W) that would contain t must keep room for it; such windows start
    # at t itself or at a used time in (t - W, t].
    for x in [*near[: bisect.bisect_right(near, t)], t]:
        inside = bisect.bisect_left(near, x + window) - bisect.bisect_left(near, x)
        if inside >= budget.max_posts:
            # The earliest post of that window leaves it W later, which frees a place.
            return near[bisect.bisect_left(near, x)] + window
    return t


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: naive datetime (an offset is required)")
    return value.astimezone(UTC)


# --- the search -------------------------------------------------------------------------------
def first_candidate(schedule: ScheduleConfig, published_at: datetime, now: datetime) -> datetime:
    """Where :func:`find_due` starts: ``now``, or the article's publication plus the channel's
    delay when that is later (the planner has the calendar answer about it in advance)."""
    return max(
        _aware(now, "now"), _aware(published_at, "published_at") + schedule.delay_after_publish
    )


def find_due(
    schedule: ScheduleConfig,
    published_at: datetime,
    now: datetime,
    state: ScheduleState,
    budget: Budget | None = None,
    used: ScheduleState | None = None,
) -> Due:
    """The earliest instant the next post of a channel may go out, and what the search learnt.

    Args:
        schedule: the channel's schedule.
        published_at: when the article went live; the post waits ``delay_after_publish``.
        now: the current time (the result is never earlier).
        state: the channel's posts planned or sent (spacing, daily cap, slots).
        budget: the platform quota of the channel's account, if any.
        used: the posts counted against ``budget`` (default: ``state``).

    Raises:
        SchedulingError: when nothing within :data:`HORIZON` satisfies the schedule.
    """
    now = _aware(now, "now")
    used = state if used is None else used
    tz = schedule.tz
    held_until = _held_until(budget, used, now)
    t = first_candidate(schedule, published_at, now)
    limit = t + HORIZON
    taken: list[tuple[datetime, datetime]] = []
    run = t  # the start of the stretch this search has shown taken so far
    for step in range(_MAX_STEPS):
        start = t
        # The known stretches are asked at the start and every few passes after: enough to
        # jump a backlog, without a question on each short step past its end.
        if step % _ASK_TAKEN_EVERY == 0:
            known = state.taken_until(t)
            if known is not None and known > t:
                t = known
        t = _quiet_push(schedule, tz, t)
        t = _spacing_push(schedule.min_spacing, state, t)
        t = _cap_push(schedule.daily_cap, tz, state, t)
        if held_until is not None and t < held_until:
            # Held back by the headers, not by the posts: not a stretch to remember.
            if t > run:
                taken.append((run, t))
            t = run = held_until
        t = _budget_push(budget, used, t)
        t = _slot_push(schedule, tz, state, t)
        if t == start:
            if t > run:
                taken.append((run, t))
            return Due(t, tuple(taken))
        if t > limit:
            break
    raise SchedulingError(
        "schedule: no time within 400 days satisfies quiet_hours, min_spacing, daily_cap, "
        "slots and the platform budget together"
    )


def due_time(
    schedule: ScheduleConfig,
    published_at: datetime,
    planned: Sequence[datetime],
    now: datetime,
    budget: Budget | None = None,
) -> datetime:
    """:func:`find_due` over lists: ``planned`` (every post of the channel planned or sent, at
    least those within a day of ``now`` and any in the future) and ``budget.used_times``."""
    used = SortedTimes(budget.used_times, "budget.used_times") if budget is not None else None
    return find_due(schedule, published_at, now, SortedTimes(planned), budget, used).at


def rules_fingerprint(schedule: ScheduleConfig, budget: Budget | None) -> str:
    """A digest of everything that decides which instants are taken, so that stretches learnt
    under one configuration are never used under another."""
    quota = "" if budget is None else f"{budget.window_seconds!r}/{budget.max_posts}"
    return _fingerprint(schedule, quota)


@lru_cache(maxsize=256)
def _fingerprint(schedule: ScheduleConfig, quota: str) -> str:
    # Every plan asks, and a channel's schedule (a frozen model) is the same each time.
    text = schedule.model_dump_json(exclude={"approval", "delay_after_publish"}) + quota
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def taken_radius(schedule: ScheduleConfig, budget: Budget | None) -> timedelta:
    """How far from a post its removal can free an instant: its spacing, its quota windows,
    its local day (at most 26 hours long) and the slot it holds (at most a day before it)."""
    window = timedelta(seconds=budget.window_seconds) if budget is not None else timedelta(0)
    return max(timedelta(days=3), schedule.min_spacing, window) + timedelta(seconds=1)
