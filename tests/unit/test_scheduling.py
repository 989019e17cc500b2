"""Scheduling policy: due times under quiet hours, spacing, daily caps, slots and budgets."""

from __future__ import annotations

import bisect
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndication.config.channels import QuietHours, ScheduleConfig
from syndication.platforms.facts import FACTS, Quota
from syndication.posts.scheduling import (
    Budget,
    Due,
    ScheduleState,
    SchedulingError,
    SortedTimes,
    budget_for,
    due_time,
    find_due,
    local_day,
    taken_radius,
)
from tests.strategies import TIMEZONES, aware_datetimes
from tests.unit import scheduling_reference as reference


def schedule_of(**fields: object) -> ScheduleConfig:
    """A schedule from config-style values (durations as text or seconds, "HH:MM" times)."""
    return ScheduleConfig.model_validate(fields)


def quiet_of(**fields: object) -> QuietHours:
    """Quiet hours from "HH:MM" strings."""
    return QuietHours.model_validate(fields)


NOW = datetime(2025, 8, 24, 2, 0, tzinfo=UTC)  # 09:00 in Ho Chi Minh City


def plan_burst(
    schedule: ScheduleConfig, count: int, now: datetime, budget_platform: str | None = None
) -> list[datetime]:
    planned: list[datetime] = []
    for _ in range(count):
        budget = budget_for(budget_platform, planned) if budget_platform else None
        planned.append(due_time(schedule, now, planned, now, budget))
    return planned


def test_due_time_waits_for_the_delay_after_publish() -> None:
    """A post is never due before publication plus the channel's delay."""
    schedule = schedule_of(delay_after_publish="15m")
    assert due_time(schedule, NOW, [], NOW) == NOW + timedelta(minutes=15)
    assert due_time(schedule, NOW - timedelta(hours=1), [], NOW) == NOW


def test_quiet_hours_crossing_midnight_push_to_their_local_end() -> None:
    """A post planned at 23:30 in Ho Chi Minh City waits for 06:30 local the next morning."""
    schedule = schedule_of(
        timezone="Asia/Ho_Chi_Minh", quiet_hours=quiet_of(start="23:00", end="06:30")
    )
    late = datetime(2025, 8, 24, 16, 30, tzinfo=UTC)  # 23:30 +07:00
    due = due_time(schedule, late, [], late)
    assert due.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")) == datetime(
        2025, 8, 25, 6, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")
    )


def test_quiet_hours_ending_in_the_spring_forward_gap_end_at_the_jump() -> None:
    """Berlin skips 02:30 on 30 March 2025; quiet hours ending then end at 03:00 CEST."""
    schedule = schedule_of(
        timezone="Europe/Berlin", quiet_hours=quiet_of(start="23:00", end="02:30")
    )
    now = datetime(2025, 3, 29, 23, 30, tzinfo=UTC)  # 00:30 CET
    due = due_time(schedule, now, [], now)
    assert due == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert due.astimezone(ZoneInfo("Europe/Berlin")).time() == time(3, 0)


def test_quiet_hours_in_the_repeated_fall_back_hour_stay_quiet() -> None:
    """In New York 01:00-02:00 happens twice on 2 Nov 2025; both passes are quiet until 01:45."""
    schedule = schedule_of(
        timezone="America/New_York", quiet_hours=quiet_of(start="23:00", end="01:45")
    )
    second_pass = datetime(2025, 11, 2, 6, 10, tzinfo=UTC)  # 01:10 EST, after 01:xx EDT
    due = due_time(schedule, second_pass, [], second_pass)
    assert due == datetime(2025, 11, 2, 6, 45, tzinfo=UTC)  # 01:45 EST


def test_daily_cap_counts_the_local_day() -> None:
    """A Tokyo channel capped at 2 a day moves the third post to local midnight, not UTC's."""
    schedule = schedule_of(timezone="Asia/Tokyo", daily_cap=2, min_spacing=0)
    now = datetime(2025, 8, 24, 0, 0, tzinfo=UTC)  # 09:00 JST
    planned = plan_burst(schedule, 3, now)
    assert planned[2] == datetime(2025, 8, 24, 15, 0, tzinfo=UTC)  # 00:00 JST on the 25th


def test_spacing_respects_future_planned_posts() -> None:
    """A post is not squeezed just before an already planned one: it goes after it."""
    schedule = schedule_of(min_spacing="30m")
    planned = [NOW + timedelta(minutes=10)]
    assert due_time(schedule, NOW, planned, NOW) == NOW + timedelta(minutes=40)
    gap = [NOW, NOW + timedelta(hours=2)]
    assert due_time(schedule, NOW, gap, NOW) == NOW + timedelta(minutes=30)


def test_a_burst_of_fifty_is_spread_by_spacing() -> None:
    """Fifty articles published at once go out ten minutes apart, not together."""
    planned = plan_burst(schedule_of(min_spacing="10m"), 50, NOW)
    assert planned == [NOW + timedelta(minutes=10 * i) for i in range(50)]


def test_slots_take_one_post_each_in_local_time() -> None:
    """With slots at 08:00, 12:00 and 18:00 Hanoi time, posts fill free slots in order."""
    schedule = schedule_of(
        timezone="Asia/Ho_Chi_Minh", slots=["18:00", "08:00", "12:00"], min_spacing=0
    )
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    local = [t.astimezone(tz) for t in plan_burst(schedule, 4, NOW)]
    assert [(t.day, t.hour) for t in local] == [(24, 12), (24, 18), (25, 8), (25, 12)]


def test_a_slot_in_the_spring_forward_gap_is_taken_at_the_jump() -> None:
    """A 02:30 slot in New York on 9 March 2025 is served at 03:00 EDT."""
    schedule = schedule_of(timezone="America/New_York", slots=["02:30"])
    now = datetime(2025, 3, 9, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert due_time(schedule, now, [], now) == datetime(2025, 3, 9, 7, 0, tzinfo=UTC)


def test_x_budget_spreads_a_burst_beyond_300_in_three_hours() -> None:
    """With 300 posts already in the last three hours, the next waits for the oldest to age out."""
    used = [NOW - timedelta(minutes=170) + timedelta(seconds=i) for i in range(300)]
    budget = budget_for("x", used)
    assert budget is not None
    due = due_time(schedule_of(min_spacing=0), NOW, [], NOW, budget)
    assert due == used[0] + timedelta(hours=3)


def test_rate_limit_headers_hold_posts_until_the_reset() -> None:
    """When the headers say no calls remain, the post waits for the reset time."""
    budget = Budget(300, 300, reset_at=NOW + timedelta(minutes=4), remaining=0)
    assert due_time(schedule_of(), NOW, [], NOW, budget) == NOW + timedelta(minutes=4)
    roomy = Budget(300, 300, reset_at=NOW + timedelta(minutes=4), remaining=5)
    assert due_time(schedule_of(), NOW, [], NOW, roomy) == NOW


def test_platform_budgets_have_the_published_figures() -> None:
    """X allows 300 posts per 3 h, Mastodon 300 requests per 5 min, Threads 250 per day."""
    assert FACTS["x"].quota == Quota(10_800, 300)
    assert FACTS["mastodon"].quota == Quota(300, 300)
    assert FACTS["threads"].quota == Quota(86_400, 250)
    assert budget_for("facebook") is None


def test_an_unsatisfiable_schedule_raises_instead_of_looping() -> None:
    """A budget that never frees up (all future slots used) ends in a clear error."""
    budget = Budget(10**9, 1, used_times=[NOW])
    with pytest.raises(SchedulingError, match="400 days"):
        due_time(schedule_of(), NOW, [], NOW, budget)


def test_naive_now_is_rejected() -> None:
    """Times without an offset are refused rather than guessed."""
    with pytest.raises(ValueError, match="now: naive"):
        due_time(schedule_of(), NOW, [], NOW.replace(tzinfo=None))


def is_on_a_slot(instant: datetime, schedule: ScheduleConfig) -> bool:
    """True when the local wall clock reads a slot, or jumped over one at this instant."""
    tz = schedule.tz
    wall = instant.astimezone(tz).replace(tzinfo=None)
    before = (instant - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None)
    return any(
        wall.time() == slot or before < datetime.combine(wall.date(), slot) < wall
        for slot in schedule.slots
    )


@st.composite
def schedules(draw: st.DrawFn) -> ScheduleConfig:
    quiet = draw(
        st.none()
        | st.tuples(st.times(), st.times())
        .filter(
            lambda p: p[0].replace(second=0, microsecond=0) != p[1].replace(second=0, microsecond=0)
        )
        .map(lambda p: quiet_of(start=p[0].strftime("%H:%M"), end=p[1].strftime("%H:%M")))
    )
    slots = draw(st.lists(st.times().map(lambda t: t.strftime("%H:%M")), max_size=4))
    if quiet is not None:
        slots = [s for s in slots if not quiet.contains(time.fromisoformat(s))]
    return schedule_of(
        delay_after_publish=draw(st.integers(0, 7200)),
        min_spacing=draw(st.integers(0, 3 * 3600)),
        quiet_hours=quiet,
        daily_cap=draw(st.none() | st.integers(1, 12)),
        timezone=draw(st.sampled_from(TIMEZONES)),
        slots=slots,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=schedules(),
    now=aware_datetimes(),
    offsets=st.lists(st.integers(-2 * 86_400, 2 * 86_400), max_size=20),
    published_ago=st.integers(-3600, 86_400),
)
def test_due_time_satisfies_every_rule(
    schedule: ScheduleConfig, now: datetime, offsets: list[int], published_ago: int
) -> None:
    """The due time follows the delay and is outside quiet hours, spaced, capped, on a slot."""
    published = now - timedelta(seconds=published_ago)
    planned = [now + timedelta(seconds=o) for o in offsets]
    due = due_time(schedule, published, planned, now)
    tz = schedule.tz
    assert due >= now and due >= published + schedule.delay_after_publish
    if schedule.quiet_hours is not None:
        assert not schedule.quiet_hours.contains(due.astimezone(tz).time())
    assert all(abs(due - p) >= schedule.min_spacing for p in planned)
    if schedule.daily_cap is not None:
        day = local_day(due, tz)
        assert sum(local_day(p, tz) == day for p in planned) < schedule.daily_cap
    if schedule.slots:
        assert is_on_a_slot(due, schedule)
    assert due_time(schedule, published, list(reversed(planned)), now) == due


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(), now=aware_datetimes())
def test_a_planned_burst_never_breaks_spacing_or_the_local_daily_cap(
    schedule: ScheduleConfig, now: datetime
) -> None:
    """Thirty posts planned one after another keep spacing and the cap for every local day."""
    planned = plan_burst(schedule, 30, now)
    ordered = sorted(planned)
    assert all(b - a >= schedule.min_spacing for a, b in pairwise(ordered))
    if schedule.daily_cap is not None:
        per_day = Counter(local_day(p, schedule.tz) for p in planned)
        assert max(per_day.values()) <= schedule.daily_cap


@settings(max_examples=30, deadline=None)
@given(now=aware_datetimes(), count=st.integers(1, 60))
def test_a_budget_is_never_exceeded_in_any_window(now: datetime, count: int) -> None:
    """Planning against a 5-per-minute budget never puts 6 posts in any 60-second window."""
    planned: list[datetime] = []
    for _ in range(count):
        planned.append(
            due_time(schedule_of(min_spacing=0), now, planned, now, Budget(60, 5, planned))
        )
    ordered = sorted(planned)
    assert all(
        ordered[i + 5] - ordered[i] >= timedelta(seconds=60) for i in range(len(ordered) - 5)
    )


# Instants when clocks change: spring forward and fall back in Berlin and New York, and
# Lord Howe Island's half-hour shift.
TRANSITIONS = {
    "Europe/Berlin": (
        datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
        datetime(2025, 10, 26, 1, 0, tzinfo=UTC),
    ),
    "America/New_York": (
        datetime(2025, 3, 9, 7, 0, tzinfo=UTC),
        datetime(2025, 11, 2, 6, 0, tzinfo=UTC),
    ),
    "Australia/Lord_Howe": (
        datetime(2025, 4, 5, 15, 0, tzinfo=UTC),
        datetime(2025, 10, 4, 15, 30, tzinfo=UTC),
    ),
}


@st.composite
def near_transitions(draw: st.DrawFn) -> tuple[ScheduleConfig, datetime]:
    zone = draw(st.sampled_from(sorted(TRANSITIONS)))
    base = draw(st.sampled_from(TRANSITIONS[zone]))
    now = base + timedelta(minutes=draw(st.integers(-36 * 60, 12 * 60)))
    schedule = draw(schedules())
    return schedule.model_copy(update={"timezone": zone}), now


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=near_transitions(), offsets=st.lists(st.integers(-86_400, 86_400), max_size=10))
def test_rules_hold_across_dst_transitions(
    case: tuple[ScheduleConfig, datetime], offsets: list[int]
) -> None:
    """Around a DST change the due time is still outside quiet hours, capped and on a slot."""
    schedule, now = case
    planned = [now + timedelta(seconds=o) for o in offsets]
    due = due_time(schedule, now, planned, now)
    tz = schedule.tz
    assert due >= now
    if schedule.quiet_hours is not None:
        assert not schedule.quiet_hours.contains(due.astimezone(tz).time())
    assert all(abs(due - p) >= schedule.min_spacing for p in planned)
    if schedule.daily_cap is not None:
        day = local_day(due, tz)
        assert sum(local_day(p, tz) == day for p in planned) < schedule.daily_cap
    if schedule.slots:
        assert is_on_a_slot(due, schedule)


# --- the incremental search against the full-list walk it replaced ----------------------------
@st.composite
def budgets(draw: st.DrawFn, now: datetime) -> Budget | None:
    if not draw(st.booleans()):
        return None
    reset = draw(st.none() | st.integers(-600, 3600).map(lambda s: now + timedelta(seconds=s)))
    return Budget(
        window_seconds=draw(st.integers(60, 4 * 3600)),
        max_posts=draw(st.integers(1, 6)),
        reset_at=reset,
        remaining=None if reset is None else draw(st.integers(0, 4)),
    )


def reference_or_error(
    schedule: ScheduleConfig,
    published: datetime,
    planned: list[datetime],
    now: datetime,
    budget: Budget | None,
) -> datetime | str:
    """The full-list walk's due time, or "unsatisfiable"."""
    try:
        return reference.due_time(schedule, published, planned, now, budget)
    except SchedulingError:
        return "unsatisfiable"


def search_or_error(
    schedule: ScheduleConfig,
    published: datetime,
    now: datetime,
    state: ScheduleState,
    budget: Budget | None,
) -> Due | str:
    """The incremental search's answer, or "unsatisfiable"."""
    try:
        return find_due(schedule, published, now, state, budget)
    except SchedulingError:
        return "unsatisfiable"


offsets_strategy = st.lists(st.integers(-2 * 86_400, 2 * 86_400), max_size=25)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=schedules(),
    now=aware_datetimes(),
    offsets=offsets_strategy,
    published_ago=st.integers(-3600, 86_400),
    data=st.data(),
)
def test_the_search_finds_what_the_full_list_walk_found(
    schedule: ScheduleConfig,
    now: datetime,
    offsets: list[int],
    published_ago: int,
    data: st.DataObject,
) -> None:
    """Over random histories and quotas, the search equals the previous full-list walk."""
    quota = data.draw(budgets(now))
    planned = [now + timedelta(seconds=o) for o in offsets]
    budget = None
    if quota is not None:
        # The quota counts the channel's posts, or (given as a list) any others.
        used = planned
        if data.draw(st.booleans()):
            used = [now + timedelta(seconds=o) for o in data.draw(offsets_strategy)]
        budget = Budget(
            quota.window_seconds, quota.max_posts, used, quota.reset_at, quota.remaining
        )
    published = now - timedelta(seconds=published_ago)
    want = reference_or_error(schedule, published, planned, now, budget)
    try:
        got: datetime | str = due_time(schedule, published, planned, now, budget)
    except SchedulingError:
        got = "unsatisfiable"
    assert got == want


class RememberingTimes(SortedTimes):
    """A pure model of the planner's per-channel state: the posts, plus the stretches earlier
    searches proved taken, forgotten around a post that is moved or cancelled."""

    def __init__(self, radius: timedelta) -> None:
        super().__init__([])
        self.radius = radius
        self.taken: list[tuple[datetime, datetime]] = []

    def taken_until(self, t: datetime) -> datetime | None:
        return next((end for start, end in self.taken if start <= t < end), None)

    def add(self, t: datetime, learnt: tuple[tuple[datetime, datetime], ...]) -> None:
        bisect.insort(self.times, t)
        self.taken += learnt

    def remove(self, t: datetime) -> None:
        self.times.remove(t)
        lo, hi = t - self.radius, t + self.radius
        kept: list[tuple[datetime, datetime]] = []
        for start, end in self.taken:
            if end <= lo or start >= hi:
                kept.append((start, end))
                continue
            if start < lo:
                kept.append((start, lo))
            if end > hi:
                kept.append((hi, end))
        self.taken = kept


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=schedules(),
    start=aware_datetimes(),
    steps=st.lists(
        st.tuples(st.integers(0, 5400), st.integers(-3600, 7200), st.integers(0, 3)),
        min_size=1,
        max_size=40,
    ),
    data=st.data(),
)
def test_remembered_stretches_never_change_a_due_time(
    schedule: ScheduleConfig,
    start: datetime,
    steps: list[tuple[int, int, int]],
    data: st.DataObject,
) -> None:
    """Planning through a history of plans, moves and cancels with remembered taken stretches
    gives the due time a full-list walk gives, every time."""
    quota = data.draw(budgets(start))
    budget = None
    if quota is not None:
        budget = Budget(quota.window_seconds, quota.max_posts, (), quota.reset_at, quota.remaining)
    state = RememberingTimes(taken_radius(schedule, budget))
    now = start
    for elapsed, published_offset, action in steps:
        now += timedelta(seconds=elapsed)
        if action == 3 and state.times:
            # A post is cancelled or moved (a retry): its instant is freed.
            victim = data.draw(st.sampled_from(state.times))
            state.remove(victim)
            if data.draw(st.booleans()):
                state.add(victim + timedelta(seconds=data.draw(st.integers(1, 7200))), ())
            continue
        published = now - timedelta(seconds=published_offset)
        full = None
        if budget is not None:
            times = list(state.times)
            full = Budget(
                budget.window_seconds, budget.max_posts, times, budget.reset_at, budget.remaining
            )
        want = reference_or_error(schedule, published, list(state.times), now, full)
        got = search_or_error(schedule, published, now, state, budget)
        assert (got if isinstance(got, str) else got.at) == want
        if isinstance(got, Due):
            assert all(end <= got.at for _, end in got.taken)
            state.add(got.at, got.taken)
