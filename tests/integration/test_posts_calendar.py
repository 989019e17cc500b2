"""Per-channel schedule state in Redis: the calendar the planner's search reads.

Real Redis (a prefix per test, or per Hypothesis example), the real ledger and its scripts.
Posts are created, moved and cancelled through the ledger as the planner, the sender and an
operator do, and every due time is checked against the full-list walk the calendar replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import LockError

from syndication.config.channels import ScheduleConfig
from syndication.keys import Keys
from syndication.posts.calendar import Calendars, ChannelCalendar
from syndication.posts.ledger import Ledger, Post, PostStatus
from syndication.posts.scheduling import (
    Budget,
    SchedulingError,
    Window,
    budget_for,
    find_due,
    first_candidate,
)
from syndication.posts.scripts import FREED_MAX, run_scripts
from syndication.store import Store
from tests.strategies import aware_datetimes
from tests.unit import scheduling_reference as reference
from tests.unit.test_scheduling import budgets, schedule_of, schedules

CHANNEL = "mastodon-en"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@contextmanager
def ledger_on(redis_url: str) -> Iterator[Ledger]:
    """A ledger under a prefix of its own, whose keys are deleted at the end."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(redis_url)
    try:
        yield Ledger(Store(client, Keys(prefix)))
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def post_at(n: int, due: datetime) -> Post:
    """The n-th post of the channel, due at ``due``."""
    at = due.timestamp()
    return Post(
        id=f"{CHANNEL}--a{n}",
        channel=CHANNEL,
        platform="mastodon",
        article_id=f"a{n}",
        story_id=f"a{n}",
        status=PostStatus.PLANNED,
        text=f"post {n}",
        link=f"https://portal.example/a{n}",
        language="en",
        idempotency_key=f"key-{n}",
        due_at=at,
        created_at=at,
        updated_at=at,
    )


def planned_times(ledger: Ledger) -> list[datetime]:
    """Every due time the channel holds (what the full-list walk read)."""
    reply = ledger.r.zrange(ledger.keys.channel_planned(CHANNEL), 0, -1, withscores=True)
    return [datetime.fromtimestamp(score, UTC) for _, score in reply]


def plan(
    ledger: Ledger,
    calendars: Calendars,
    n: int,
    schedule: ScheduleConfig,
    quota: Budget | None,
    published: datetime,
    now: datetime,
) -> datetime:
    """What the planner does for one post: hold the calendar (the channel lock, and the
    search's first question answered with it), search, then learn and create, which releases
    the lock."""
    first = first_candidate(schedule, published, now)
    calendar, rate = calendars.hold(CHANNEL, schedule, quota, now.timestamp(), first=first)
    budget = quota
    if quota is not None and rate.reset_at is not None:
        reset = datetime.fromtimestamp(rate.reset_at, UTC)
        budget = Budget(quota.window_seconds, quota.max_posts, (), reset, rate.remaining)
    try:
        due = find_due(schedule, published, now, calendar, budget)
    except SchedulingError:
        assert calendar.release()
        raise
    learnt = calendar.learning(due.taken)
    create = ledger.creating(post_at(n, due.at), enqueue=True, lock_token=calendar.lock_token)
    replies = run_scripts(ledger.r, *([learnt] if learnt else []), create)
    assert replies[-1] == [b"created", 1]
    return due.at


def full_list_due(
    ledger: Ledger,
    schedule: ScheduleConfig,
    quota: Budget | None,
    published: datetime,
    now: datetime,
) -> datetime | str:
    """The due time the full-list walk gives over everything the channel holds."""
    planned = planned_times(ledger)
    budget = None
    if quota is not None:
        remaining, reset_at = ledger.rate(CHANNEL)
        reset = datetime.fromtimestamp(reset_at, UTC) if reset_at else None
        budget = Budget(quota.window_seconds, quota.max_posts, planned, reset, remaining)
    try:
        return reference.due_time(schedule, published, planned, now, budget)
    except SchedulingError:
        return "unsatisfiable"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    schedule=schedules(),
    start=aware_datetimes(),
    steps=st.lists(
        st.tuples(st.integers(0, 5400), st.integers(-3600, 7200), st.integers(0, 4)),
        min_size=1,
        max_size=30,
    ),
    data=st.data(),
)
def test_the_calendar_gives_the_full_list_due_time_through_moves_and_cancels(
    redis_url: str,
    schedule: ScheduleConfig,
    start: datetime,
    steps: list[tuple[int, int, int]],
    data: st.DataObject,
) -> None:
    """Through random plans, retries, cancels and rate-limit headers, every due time the
    calendar gives is the one the full-list walk gives."""
    quota = data.draw(budgets(start))
    quota = None if quota is None else Budget(quota.window_seconds, quota.max_posts)
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        now, created = start, 0
        for elapsed, published_offset, action in steps:
            now += timedelta(seconds=elapsed)
            ids = [f"{CHANNEL}--a{i}" for i in range(created)]
            open_ids = [p.id for p in ledger.many(ids) if p.status == PostStatus.PLANNED]
            if action == 3 and open_ids:
                # A retry moves a post later; an operator or a retraction cancels one.
                victim = data.draw(st.sampled_from(open_ids))
                post = ledger.require(victim)
                if data.draw(st.booleans()):
                    later = post.due_at + data.draw(st.integers(1, 7200))
                    assert ledger.schedule(victim, later, now.timestamp(), "retry")
                else:
                    assert ledger.cancel(victim, now.timestamp(), "cancelled")
                continue
            if action == 4:
                # Rate-limit headers seen on a send.
                reset = now + timedelta(seconds=data.draw(st.integers(-60, 900)))
                ledger.save_rate(CHANNEL, 300, data.draw(st.integers(0, 3)), reset.timestamp())
                continue
            published = now - timedelta(seconds=published_offset)
            want = full_list_due(ledger, schedule, quota, published, now)
            try:
                got: datetime | str = plan(
                    ledger, calendars, created, schedule, quota, published, now
                )
            except SchedulingError:
                got = "unsatisfiable"
            assert got == want
            created += got != "unsatisfiable"


def test_a_cancelled_post_frees_its_instant_for_the_next_plan(redis_url: str) -> None:
    """With posts ten minutes apart, cancelling the sixth lets the next post take its place
    instead of going after the backlog."""
    schedule = schedule_of(min_spacing="10m")
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        dues = [plan(ledger, calendars, n, schedule, None, START, START) for n in range(20)]
        assert dues == [START + timedelta(minutes=10 * n) for n in range(20)]
        assert ledger.cancel(f"{CHANNEL}--a5", START.timestamp(), "cancelled")
        assert plan(ledger, calendars, 20, schedule, None, START, START) == dues[5]
        assert plan(ledger, calendars, 21, schedule, None, START, START) == dues[-1] + timedelta(
            minutes=10
        )


def test_a_cancelled_post_frees_a_place_on_its_local_day_not_only_its_instant(
    redis_url: str,
) -> None:
    """Under a daily cap of three, cancelling this morning's first post lets a post planned
    later today go out today (an hour after the last one), not tomorrow."""
    schedule = schedule_of(min_spacing="1h", daily_cap=3, timezone="Asia/Tokyo")
    morning = datetime(2026, 3, 2, 8, 0, tzinfo=schedule.tz).astimezone(UTC)
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        dues = [plan(ledger, calendars, n, schedule, None, morning, morning) for n in range(6)]
        assert dues[3] == datetime(2026, 3, 3, 0, 0, tzinfo=schedule.tz)
        assert ledger.cancel(f"{CHANNEL}--a0", morning.timestamp(), "cancelled")
        later = morning + timedelta(hours=2, minutes=30)
        assert plan(ledger, calendars, 6, schedule, None, later, later) == dues[2] + timedelta(
            hours=1
        )


def test_a_retried_post_frees_its_instant_and_holds_the_new_one(redis_url: str) -> None:
    """A post moved later by a retry leaves its instant free and keeps others off its new
    one."""
    schedule = schedule_of(min_spacing="10m")
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        dues = [plan(ledger, calendars, n, schedule, None, START, START) for n in range(10)]
        moved = dues[-1] + timedelta(minutes=10)
        assert ledger.schedule(f"{CHANNEL}--a2", moved.timestamp(), START.timestamp(), "retry")
        assert plan(ledger, calendars, 10, schedule, None, START, START) == dues[2]
        assert plan(ledger, calendars, 11, schedule, None, START, START) == moved + timedelta(
            minutes=10
        )


def test_a_changed_schedule_forgets_what_was_learnt_under_the_old_one(redis_url: str) -> None:
    """Stretches learnt with 30-minute spacing are not used once the spacing is 5 minutes."""
    wide, narrow = schedule_of(min_spacing="30m"), schedule_of(min_spacing="5m")
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        for n in range(4):
            plan(ledger, calendars, n, wide, None, START, START)
        # Posts at 0, 30, 60 and 90 minutes: with 5-minute spacing, 5 minutes is free.
        assert plan(ledger, calendars, 4, narrow, None, START, START) == START + timedelta(
            minutes=5
        )


def test_a_search_overtaken_by_a_freed_instant_records_nothing(redis_url: str) -> None:
    """What a search proved before a post was cancelled may no longer hold: it is not kept."""
    schedule = schedule_of(min_spacing="10m")
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        for n in range(3):
            plan(ledger, calendars, n, schedule, None, START, START)
        calendar, _ = calendars.open(CHANNEL, schedule, None, START.timestamp())
        due = find_due(schedule, START, START, calendar, None)
        assert due.taken == ((START, START + timedelta(minutes=30)),)
        assert ledger.cancel(f"{CHANNEL}--a1", START.timestamp(), "cancelled")
        assert not calendar.learn(due.taken)
        assert ledger.r.zrange(ledger.keys.channel_taken(CHANNEL), 0, -1, withscores=True) == [
            (repr(START.timestamp()).encode(), (START + timedelta(minutes=20)).timestamp())
        ]


def test_too_many_freed_instants_forget_every_stretch(redis_url: str) -> None:
    """Past FREED_MAX freed instants the calendar drops its stretches rather than cut them."""
    schedule = schedule_of(min_spacing="1m")
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        for n in range(3):
            plan(ledger, calendars, n, schedule, None, START, START)
        taken = ledger.keys.channel_taken(CHANNEL)
        assert ledger.r.zcard(taken) == 1
        freed = ledger.keys.channel_freed(CHANNEL)
        ledger.r.rpush(freed, *[repr(START.timestamp() - 10 * 86_400)] * (FREED_MAX + 1))
        calendars.open(CHANNEL, schedule, None, START.timestamp())
        assert ledger.r.zcard(taken) == 0 and ledger.r.llen(freed) == 0


def test_a_held_calendar_keeps_other_planners_out_until_its_post_is_written(
    redis_url: str,
) -> None:
    """The channel lock comes with the calendar and goes with the create script; a token that
    no longer holds it releases nothing (the next holder keeps it)."""
    schedule = schedule_of(min_spacing="10m")
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        lock = ledger.keys.channel_lock(CHANNEL)
        calendar, _ = calendars.hold(CHANNEL, schedule, None, START.timestamp(), first=START)
        with pytest.raises(LockError):
            calendars.hold(CHANNEL, schedule, None, START.timestamp(), timeout=0.3)
        due = find_due(schedule, START, START, calendar, None)
        create = ledger.creating(post_at(0, due.at), enqueue=True, lock_token=calendar.lock_token)
        assert run_scripts(ledger.r, create) == [[b"created", 1]]
        assert not ledger.r.exists(lock)
        second, _ = calendars.hold(CHANNEL, schedule, None, START.timestamp(), timeout=0.3)
        assert not calendar.release() and ledger.r.exists(lock)
        assert second.release() and not ledger.r.exists(lock)
        # The next search starts past the post, as without the lock.
        assert plan(ledger, calendars, 1, schedule, None, START, START) == START + timedelta(
            minutes=10
        )


def test_the_first_question_answered_at_opening_is_the_one_redis_gives(redis_url: str) -> None:
    """The taken stretch read with the calendar is what asking it afterwards reads."""
    schedule = schedule_of(min_spacing="10m")
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        for n in range(3):
            plan(ledger, calendars, n, schedule, None, START, START)
        for offset in (-1, 0, 5, 29, 30, 31, 60):
            t = START + timedelta(minutes=offset)
            early, _ = calendars.open(CHANNEL, schedule, None, START.timestamp(), first=t)
            late, _ = calendars.open(CHANNEL, schedule, None, START.timestamp())
            assert early.taken_until(t) == late.taken_until(t)
            assert early.taken_until(t) == late.taken_until(t)  # asked again: from Redis


class CountingCalendar:
    """A channel calendar that counts the questions a search asks it."""

    def __init__(self, inner: ChannelCalendar) -> None:
        self.inner = inner
        self.questions = 0

    def count(self, lo: datetime, hi: datetime) -> int:
        self.questions += 1
        return self.inner.count(lo, hi)

    def between(self, lo: datetime, hi: datetime) -> list[datetime]:
        self.questions += 1
        return list(self.inner.between(lo, hi))

    def first_in(self, lo: datetime, hi: datetime) -> datetime | None:
        self.questions += 1
        return self.inner.first_in(lo, hi)

    def last_in(self, lo: datetime, hi: datetime) -> datetime | None:
        self.questions += 1
        return self.inner.last_in(lo, hi)

    def window(self, lo: datetime, t: datetime, hi: datetime) -> Window:
        self.questions += 1
        return self.inner.window(lo, t, hi)

    def taken_until(self, t: datetime) -> datetime | None:
        self.questions += 1
        return self.inner.taken_until(t)


def test_planning_at_the_end_of_a_backlog_asks_no_more_than_at_its_start(
    redis_url: str,
) -> None:
    """The 900th post of a burst, pushed past a full quota window, costs the search as many
    questions as the 301st: the backlog is jumped over, not walked."""
    quota = budget_for("mastodon")
    assert quota is not None and quota.max_posts == 300
    schedule = schedule_of(min_spacing=0)
    with ledger_on(redis_url) as ledger:
        calendars = Calendars(ledger.r, ledger.keys)
        asked: dict[int, int] = {}
        for n in range(900):
            calendar, _ = calendars.open(CHANNEL, schedule, quota, START.timestamp())
            counting = CountingCalendar(calendar)
            due = find_due(schedule, START, START, counting, quota)
            calendar.learn(due.taken)
            assert ledger.create(post_at(n, due.at), enqueue=True)
            asked[n] = counting.questions
        times = planned_times(ledger)
        # The quota spreads the burst: 300 at once, then one more as each leaves its window.
        assert times[299] == START and times[300] == START + timedelta(minutes=5)
        assert times[-1] == START + timedelta(minutes=10)
        assert asked[899] <= asked[300] <= 6
