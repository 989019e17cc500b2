"""Releasing due posts to senders, and recovering sends that were lost on the way.

Posts wait in the due sorted set, not in Celery ETAs (the Redis transport redelivers long ETAs
after ``visibility_timeout``). Beat runs :meth:`Dispatcher.tick` every two seconds: it hands
due posts to senders in messages and pushes their due times a little ahead instead of removing
them, so a lost message costs a delay, not the post (the sender's claim is what takes a post out
of the due set). Posts left ``sending`` by a dead sender, and uncertain posts whose
reconciliation was lost, are sent to be reconciled.

A backlog is released in batches (up to :data:`MAX_BATCH` posts a message): each post is still
claimed, sent and settled on its own, but a message's cost (publishing it, taking it, handing
it to a pool process) is shared. A few posts due at once go one a message, so none waits for
another's call.

Posts due before the next tick are released ahead, in messages that wait until their due time
(a countdown of at most :data:`RELEASE_AHEAD` seconds, far below the transport's visibility
timeout), so a post planned for 12:00:00.3 goes out then rather than at the tick after it.
Their due entries are pushed :data:`REDISPATCH_AFTER` past their due time like any release; a
post moved later meanwhile is refused by the claim (``not-due``) and waits for its new time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from syndication.posts.ledger import Ledger
from syndication.posts.sender import Sender

__all__ = [
    "DISPATCH_BUDGET",
    "DISPATCH_PAGE",
    "MAX_BATCH",
    "REDISPATCH_AFTER",
    "RELEASE_AHEAD",
    "DispatchReport",
    "Dispatcher",
    "batches",
    "buckets",
]

# Due posts are released in pages of this size, for at most this many seconds per tick.
DISPATCH_PAGE = 200
DISPATCH_BUDGET = 3.0
# A released post not claimed by a sender within this long is released again.
REDISPATCH_AFTER = 60.0
# Posts due within this long are released ahead with a countdown (beat ticks every 2 s; the
# margin covers a tick that runs late). Posts due within BUCKET of each other share a message.
RELEASE_AHEAD = 2.5
BUCKET = 0.05
# The most posts one message carries, and how many messages a page is split into at least
# (so that a backlog still spreads over many senders).
MAX_BATCH = 10
MIN_MESSAGES_PER_PAGE = 20

Send = Callable[[str], None]
SendMany = Callable[[list[str]], None]
SendAt = Callable[[list[str], float], None]


@dataclass(frozen=True)
class DispatchReport:
    """What one tick did."""

    released: int
    reconciling: int
    messages: int = 0


def batches(post_ids: Sequence[str]) -> Iterator[list[str]]:
    """Split released posts into messages: one post each while few are due, up to
    :data:`MAX_BATCH` each in a backlog."""
    size = max(1, min(MAX_BATCH, len(post_ids) // MIN_MESSAGES_PER_PAGE))
    for i in range(0, len(post_ids), size):
        yield list(post_ids[i : i + size])


def buckets(soon: Sequence[tuple[str, float]]) -> Iterator[list[tuple[str, float]]]:
    """Group posts (with due times, earliest first) whose due times lie within
    :data:`BUCKET` of the group's first, up to :data:`MAX_BATCH` a group."""
    group: list[tuple[str, float]] = []
    for item in soon:
        if group and (item[1] - group[0][1] > BUCKET or len(group) >= MAX_BATCH):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


class Dispatcher:
    """Hands due posts to senders and lost sends to reconciliation."""

    def __init__(self, ledger: Ledger, sender: Sender) -> None:
        self.ledger = ledger
        self.sender = sender

    def _page(self, now: float, limit: int, paused: set[str], skip: int) -> tuple[list[str], int]:
        """Due posts not on paused channels, and how many due posts were looked at."""
        ids = self.ledger.due_ids(now, limit, skip)
        if not paused or not ids:
            return ids, len(ids)
        channels = self.ledger.channels_of(ids)
        return [p for p, c in zip(ids, channels, strict=True) if c not in paused], len(ids)

    def _release_ahead(self, now: float, paused: set[str], deliver_at: SendAt) -> tuple[int, int]:
        """Release the posts due in ``(now, now + RELEASE_AHEAD]`` in messages that wait for
        their due time; returns (posts, messages)."""
        soon = self.ledger.due_soon(now, now + RELEASE_AHEAD, DISPATCH_PAGE)
        if paused and soon:
            channels = self.ledger.channels_of([p for p, _ in soon])
            soon = [s for s, c in zip(soon, channels, strict=True) if c not in paused]
        messages = 0
        for group in buckets(soon):
            deliver_at([p for p, _ in group], group[-1][1])
            messages += 1
        self.ledger.defer_each({p: at + REDISPATCH_AFTER for p, at in soon})
        return len(soon), messages

    def due_now(self, now: float, limit: int = DISPATCH_PAGE) -> list[str]:
        """Posts whose time has come on channels that are not paused."""
        return self._page(now, limit, self.ledger.paused(self.sender.channels), 0)[0]

    def tick(
        self,
        now: float,
        *,
        deliver: SendMany,
        reconcile: Send,
        deliver_at: SendAt | None = None,
    ) -> DispatchReport:
        """Release due posts (``deliver`` sends one message for a batch of them), release
        those due before the next tick ahead (``deliver_at`` sends a message that waits until
        the given time), and recover lost sends."""
        released = messages = skipped = 0
        started = time.monotonic()
        # Paused channels are read once a tick (a pause takes effect by the next one); only
        # then are the due posts' channels read, to leave theirs where they are.
        paused = self.ledger.paused(self.sender.channels)
        while time.monotonic() - started < DISPATCH_BUDGET:
            due, seen = self._page(now, DISPATCH_PAGE, paused, skipped)
            skipped += seen - len(due)
            for batch in batches(due):
                deliver(batch)
                messages += 1
            # Send first, then push the due times ahead: if a message is lost its posts come
            # due again; a second delivery of one post is a no-op (the claim).
            self.ledger.defer_many(due, now + REDISPATCH_AFTER)
            released += len(due)
            if seen < DISPATCH_PAGE:
                break
        if deliver_at is not None:
            ahead, sent = self._release_ahead(now, paused, deliver_at)
            released, messages = released + ahead, messages + sent
        # Uncertain posts whose reconcile message was lost (or whose reconciler died) come back
        # here; each retry is noted ahead so one tick does not send it twice.
        stranded = self.ledger.reconcile_due(now)
        lost = self.sender.expire_leases(now)
        for post_id in [*lost, *stranded]:
            reconcile(post_id)
        for post_id in stranded:
            self.ledger.expect_reconcile(post_id, now + REDISPATCH_AFTER)
        return DispatchReport(released, len(lost) + len(stranded), messages)
