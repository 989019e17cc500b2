"""Sending activities: claim one delivery, sign, POST once, record the outcome.

The same guarantees as social posts (:mod:`syndication.posts.sender`):

- a delivery is claimed (``sending``, with a lease) before the POST, so two workers never
  send one record; the outcome is recorded after it;
- 429 is retried after the server's ``Retry-After``; 5xx, timeouts and refused connections
  are retried with exponential backoff and jitter; other 4xx fail at once;
- a delivery is given up after ``max_attempts`` attempts or ``give_up_after`` since its first;
- failures in a row per server are counted, and a server past the threshold is marked dead
  and its deliveries skipped (see :class:`~syndication.federation.ledger.DeliveryLedger`);
- a sender that dies mid-POST leaves its delivery ``sending`` until the lease ends; the
  dispatcher then sends it again with the same activity id, which receivers deduplicate (an
  ActivityPub server processes one activity id once: Mastodon and Fedify both do). That is
  the one case where an inbox can receive one activity twice, and it never acts on it twice.

The :class:`Dispatcher` runs on beat's tick: it hands due deliveries to senders with a
message and pushes them a minute ahead, so a lost message costs a delay, never a delivery.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from syndication.config.federation import DeliveryConfig
from syndication.errors import PermanentError, PlatformError, RateLimited, TransientError
from syndication.federation.accounts import Accounts
from syndication.federation.actors import Directory
from syndication.federation.ledger import Delivery, DeliveryLedger, DeliveryStatus
from syndication.federation.remote import Remote, Signer

__all__ = ["DISPATCH_PAGE", "DeliverResult", "Deliverer", "Dispatcher"]

log = structlog.get_logger(__name__)

# Due deliveries are released in pages of this size, for at most this many seconds a tick.
DISPATCH_PAGE = 200
DISPATCH_BUDGET = 3.0
# A delivery whose predecessor (same actor, article and inbox) is in flight waits this long.
CHAIN_WAIT = 2.0

Send = Callable[[str], None]


@dataclass(frozen=True)
class DeliverResult:
    """What one delivery attempt came to, and the next delivery it released (if any)."""

    status: str
    released: str = ""


class Deliverer:
    """Sends one delivery at a time, with retries, give-up and dead-server bookkeeping."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        accounts: Accounts,
        directory: Directory,
        remote: Remote,
        config: DeliveryConfig,
    ) -> None:
        self.ledger = ledger
        self.accounts = accounts
        self.directory = directory
        self.remote = remote
        self.config = config

    def deliver(self, delivery_id: str, owner: str, now: float) -> DeliverResult:
        """Claim a delivery and POST it once; returns its new status (or why it was not sent)."""
        lease = self.config.lease.total_seconds()
        claimed = self.ledger.claim(delivery_id, owner, now, lease, wait=CHAIN_WAIT)
        if claimed != "claimed":
            return DeliverResult(claimed)
        delivery = self.ledger.get(delivery_id)
        if delivery is None:
            return DeliverResult("missing")
        body = self.ledger.activity_body(delivery.activity)
        if not body or self.directory.get(delivery.actor) is None:
            return self._fail(delivery, owner, now, "the activity or its actor is gone")
        signer = Signer(
            self.directory.key_id(delivery.actor), self.accounts.signing_key(delivery.actor)
        )
        try:
            status = self.remote.post(delivery.inbox, body.encode(), signer)
        except RateLimited as exc:
            wait = min(exc.retry_after, self.config.retry_cap.total_seconds())
            return self._retry(delivery, owner, now, now + wait + random.uniform(0, 1), exc)  # noqa: S311
        except TransientError as exc:
            dead_until = self.ledger.server_failed(
                delivery.host,
                now,
                threshold=self.config.dead_after_failures,
                streak=self.config.dead_after.total_seconds(),
                dead_for=self.config.dead_for.total_seconds(),
                error=str(exc),
            )
            if dead_until:
                log.warning("federation.server_dead", host=delivery.host, until=dead_until)
                return self._settle(
                    delivery, owner, now, DeliveryStatus.SKIPPED, str(exc), "server marked dead"
                )
            return self._retry(delivery, owner, now, now + self._backoff(delivery), exc)
        except (PermanentError, PlatformError) as exc:
            return self._fail(delivery, owner, now, str(exc))
        self.ledger.server_ok(delivery.host, now)
        settled = self.ledger.settle(
            delivery.id,
            DeliveryStatus.SENDING,
            DeliveryStatus.SENT,
            now,
            owner=owner,
            sent_at=time.time(),
            response_status=status,
            last_error="",
        )
        log.info(
            "activity.delivered",
            delivery=delivery.id,
            activity=delivery.type,
            actor=delivery.actor,
            host=delivery.host,
            attempts=delivery.attempts,
        )
        return DeliverResult(DeliveryStatus.SENT.value, settled.released)

    def _backoff(self, delivery: Delivery) -> float:
        base = self.config.retry_base.total_seconds()
        cap = self.config.retry_cap.total_seconds()
        delay: float = min(cap, base * 2.0 ** max(0, delivery.attempts - 1))
        return delay * random.uniform(0.8, 1.2)  # noqa: S311

    def _retry(
        self, delivery: Delivery, owner: str, now: float, at: float, exc: PlatformError
    ) -> DeliverResult:
        first = delivery.first_attempt_at or now
        too_long = now - first >= self.config.give_up_after.total_seconds()
        if delivery.attempts >= self.config.max_attempts or too_long:
            reason = f"gave up after {delivery.attempts} attempts over {round(now - first)} s"
            return self._fail(delivery, owner, now, f"{reason}: {exc}")
        self.ledger.settle(
            delivery.id,
            DeliveryStatus.SENDING,
            DeliveryStatus.PENDING,
            now,
            due_at=at,
            owner=owner,
            last_error=str(exc),
            note=f"retry in {round(at - now, 1)} s",
        )
        log.info(
            "activity.rescheduled",
            delivery=delivery.id,
            host=delivery.host,
            error=str(exc),
            retry_in=round(at - now, 1),
        )
        return DeliverResult(DeliveryStatus.PENDING.value)

    def _fail(self, delivery: Delivery, owner: str, now: float, error: str) -> DeliverResult:
        log.warning("activity.failed", delivery=delivery.id, host=delivery.host, error=error)
        return self._settle(delivery, owner, now, DeliveryStatus.FAILED, error, "")

    def _settle(
        self,
        delivery: Delivery,
        owner: str,
        now: float,
        status: DeliveryStatus,
        error: str,
        note: str,
    ) -> DeliverResult:
        settled = self.ledger.settle(
            delivery.id,
            DeliveryStatus.SENDING,
            status,
            now,
            owner=owner,
            last_error=error[:500],
            note=note,
        )
        return DeliverResult(status.value, settled.released)


@dataclass(frozen=True)
class DispatchReport:
    """What one dispatcher tick did."""

    released: int
    recovered: int


class Dispatcher:
    """Hands due deliveries to senders, and those of dead senders back to the due set."""

    def __init__(self, ledger: DeliveryLedger, redispatch_after: float = 60.0) -> None:
        self.ledger = ledger
        self.redispatch_after = redispatch_after

    def tick(self, now: float, *, deliver: Send) -> DispatchReport:
        """Release due deliveries (``deliver`` sends one to a sender); recover lost sends."""
        recovered = 0
        for delivery_id in self.ledger.expired_leases(now):
            # The sender died mid-POST: send again with the same activity id (receivers
            # deduplicate it). A sender that is only slow loses its claim: it cannot settle
            # a delivery it no longer owns.
            if self.ledger.settle(
                delivery_id,
                DeliveryStatus.SENDING,
                DeliveryStatus.PENDING,
                now,
                due_at=now,
                owner="",
                note="sender lost mid-send (lease expired): sending again",
            ):
                recovered += 1
            else:
                self.ledger.drop_lease(delivery_id)
        released = 0
        started = time.monotonic()
        while time.monotonic() - started < DISPATCH_BUDGET:
            due = self.ledger.due_ids(now, DISPATCH_PAGE)
            for delivery_id in due:
                # Send first, then push the due time ahead: a lost message costs a delay; a
                # second message for one delivery is a no-op (the claim).
                deliver(delivery_id)
                self.ledger.defer(delivery_id, now + self.redispatch_after)
            released += len(due)
            if len(due) < DISPATCH_PAGE:
                break
        return DispatchReport(released, recovered)
