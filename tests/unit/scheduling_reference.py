"""The scheduler as it was before per-channel schedule state: every rule walks the full,
sorted list of the channel's planned times. Kept verbatim (only its imports trimmed) as the
specification the incremental search is checked against."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from syndication.config.channels import ScheduleConfig
from syndication.posts.scheduling import Budget, SchedulingError, local_day

# How far ahead the search may look before it declares the schedule unsatisfiable.
HORIZON = timedelta(days=400)
_MAX_STEPS = 200_000


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


def _spacing_push(spacing: timedelta, planned: Sequence[datetime], t: datetime) -> datetime:
    if spacing <= timedelta(0):
        return t
    # ``planned`` is sorted: look only at posts within one spacing of t, on either side.
    lo = bisect.bisect_right(planned, t - spacing)
    hi = bisect.bisect_left(planned, t + spacing)
    if lo >= hi:
        return t
    return planned[hi - 1] + spacing


def _cap_push(cap: int | None, tz: ZoneInfo, planned_days: Sequence[date], t: datetime) -> datetime:
    if cap is None:
        return t
    day = local_day(t, tz)
    used = bisect.bisect_right(planned_days, day) - bisect.bisect_left(planned_days, day)
    if used < cap:
        return t
    return _next_instant_at(tz, datetime.combine(day + timedelta(days=1), time(0)), t)


def _slot_instants(schedule: ScheduleConfig, tz: ZoneInfo, day: date) -> list[datetime]:
    # A slot in a repeated hour is one slot (its first reading), not two.
    return sorted(
        {_instants_of_wall(tz, datetime.combine(day, slot))[0] for slot in schedule.slots}
    )


def _slot_push(
    schedule: ScheduleConfig, tz: ZoneInfo, planned: Sequence[datetime], t: datetime
) -> datetime:
    """Move ``t`` to the first free slot instant at or after it.

    A slot is taken when a planned post falls between it and the next slot, so a post that
    went out a little late (a retry after a 429) still holds its slot.
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
            nxt = bounds[i + 1] if i + 1 < len(bounds) else slot + timedelta(days=1)
            if bisect.bisect_left(planned, nxt) - bisect.bisect_left(planned, slot) == 0:
                return slot
        day += timedelta(days=1)
    raise SchedulingError("schedule.slots: no free slot within the horizon")


def _budget_push(budget: Budget | None, now: datetime, t: datetime) -> datetime:
    if budget is None:
        return t
    used = sorted(budget.used_times)
    if budget.reset_at is not None and budget.remaining is not None and t < budget.reset_at:
        pending = bisect.bisect_left(used, budget.reset_at) - bisect.bisect_left(used, now)
        if pending >= budget.remaining:
            return budget.reset_at
    window = timedelta(seconds=budget.window_seconds)
    # Every window [x, x + W) that would contain t must keep room for it; such windows start
    # at t itself or at a used time in (t - W, t].
    first = bisect.bisect_right(used, t - window)
    starts = [*used[first : bisect.bisect_right(used, t)], t]
    for x in starts:
        inside = bisect.bisect_left(used, x + window) - bisect.bisect_left(used, x)
        if inside >= budget.max_posts:
            # The earliest post of that window leaves it W later, which frees a place.
            return used[bisect.bisect_left(used, x)] + window
    return t


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: naive datetime (an offset is required)")
    return value.astimezone(UTC)


def due_time(
    schedule: ScheduleConfig,
    published_at: datetime,
    planned: Sequence[datetime],
    now: datetime,
    budget: Budget | None = None,
) -> datetime:
    """The earliest instant the next post of a channel may go out (UTC).

    Args:
        schedule: the channel's schedule.
        published_at: when the article went live; the post waits ``delay_after_publish``.
        planned: every post of the channel already planned or sent, at least those within a
            day of ``now`` (for the daily cap) and any in the future.
        now: the current time (the result is never earlier).
        budget: the platform quota of the channel's account, if any.

    Raises:
        SchedulingError: when nothing within :data:`HORIZON` satisfies the schedule.
    """
    now = _aware(now, "now")
    tz = schedule.tz
    times = sorted(_aware(p, "planned") for p in planned)
    days = sorted(local_day(p, tz) for p in times)
    t = max(now, _aware(published_at, "published_at") + schedule.delay_after_publish)
    limit = t + HORIZON
    for _ in range(_MAX_STEPS):
        start = t
        t = _quiet_push(schedule, tz, t)
        t = _spacing_push(schedule.min_spacing, times, t)
        t = _cap_push(schedule.daily_cap, tz, days, t)
        t = _budget_push(budget, now, t)
        t = _slot_push(schedule, tz, times, t)
        if t == start:
            return t
        if t > limit:
            break
    raise SchedulingError(
        "schedule: no time within 400 days satisfies quiet_hours, min_spacing, daily_cap, "
        "slots and the platform budget together"
    )
