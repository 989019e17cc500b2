"""Releasing due posts to senders, and recovering sends that were lost on the way.

Posts wait in the due sorted set, not in Celery ETAs (the Redis transport redelivers long ETAs
after ``visibility_timeout``). Beat runs :meth:`Dispatcher.tick` every two seconds: it hands each
due post to a sender with a message and pushes the post's due time a little ahead instead of
removing it, so a lost message costs a delay, not the post (the sender's claim is what takes
it out of the due set). Posts left ``sending`` by a dead sender, and uncertain posts whose
reconciliation was lost, are sent to be reconciled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from syndication.posts.ledger import Ledger
from syndication.posts.sender import Sender

__all__ = ["DISPATCH_BUDGET", "DISPATCH_PAGE", "REDISPATCH_AFTER", "DispatchReport", "Dispatcher"]

# Due posts are released in pages of this size, for at most this many seconds per tick.
DISPATCH_PAGE = 200
DISPATCH_BUDGET = 3.0
# A released post not claimed by a sender within this long is released again.
REDISPATCH_AFTER = 60.0

Send = Callable[[str], None]


@dataclass(frozen=True)
class DispatchReport:
    """What one tick did."""

    released: int
    reconciling: int


class Dispatcher:
    """Hands due posts to senders and lost sends to reconciliation."""

    def __init__(self, ledger: Ledger, sender: Sender) -> None:
        self.ledger = ledger
        self.sender = sender

    def due_now(self, now: float, limit: int = DISPATCH_PAGE) -> list[str]:
        """Posts whose time has come on channels that are not paused."""
        ids = self.ledger.due_ids(now, limit)
        posts = self.ledger.many(ids)
        paused = self.ledger.paused({p.channel for p in posts})
        return [p.id for p in posts if p.channel not in paused]

    def tick(self, now: float, *, deliver: Send, reconcile: Send) -> DispatchReport:
        """Release due posts (``deliver`` sends one to a sender) and recover lost sends."""
        released = 0
        started = time.monotonic()
        while time.monotonic() - started < DISPATCH_BUDGET:
            due = self.due_now(now)
            for post_id in due:
                # Send first, then push the due time ahead: if the message is lost the post
                # comes due again; a second delivery of one post is a no-op (the claim).
                deliver(post_id)
                self.ledger.defer(post_id, now + REDISPATCH_AFTER)
            released += len(due)
            if len(due) < DISPATCH_PAGE:
                break
        # Uncertain posts whose reconcile message was lost (or whose reconciler died) come back
        # here; each retry is noted ahead so one tick does not send it twice.
        stranded = self.ledger.reconcile_due(now)
        lost = self.sender.expire_leases(now)
        for post_id in [*lost, *stranded]:
            reconcile(post_id)
        for post_id in stranded:
            self.ledger.expect_reconcile(post_id, now + REDISPATCH_AFTER)
        return DispatchReport(released, len(lost) + len(stranded))
