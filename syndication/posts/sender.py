"""Sending posts: claim, call the platform once, record the outcome, reconcile the unknown.

A post is claimed (``sending``, with a lease) before the call; a crash leaves it ``sending``
until the lease ends, and then it is reconciled, never blindly re-sent: within a platform's
idempotency window it is sent again with the same key (the platform answers with the first
post); otherwise it is looked up among the account's recent posts, and sent again only where
an absent post is proof enough (see :attr:`~syndication.platforms.facts.PlatformFacts.
resend_when_absent`); the rest wait for an operator.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from syndication.config.channels import ChannelConfig
from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    SyndicationError,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import Media, OutgoingPost, Platform, PostResult
from syndication.platforms.facts import facts_for
from syndication.posts.adapters import Adapters
from syndication.posts.images import LeadImages, MediaError
from syndication.posts.ledger import Claim, Ledger, Post, PostStatus, Rate

__all__ = ["LEASE_SECONDS", "MAX_ATTEMPTS", "RECONCILE_RETRY", "Delivery", "Sender"]

log = structlog.get_logger(__name__)

# A sender holds a claimed post this long; past it, the post is reconciled.
LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 8
# A post whose send the platform answered may have moved meanwhile: its lease ran out
# (uncertain) or its reconciliation put it back to be sent again (planned).
_SETTLED_BY_ANSWER = (PostStatus.SENDING, PostStatus.UNCERTAIN, PostStatus.PLANNED)
# An uncertain post the account listing does not show is sent again at most this often.
MAX_RESENDS = 1
# An uncertain post whose reconciliation has not run after this long is reconciled again.
RECONCILE_RETRY = 60.0
# A released post may be claimed this long before its due time (clocks of two machines).
DUE_TOLERANCE = 1.0


# A claim's answer: the status (``claimed`` or why not), the post if claimed, the claim time.
Taken = tuple[str, Post | None, float]


def _sent_fields(post: Post, now: float, result: PostResult) -> dict[str, object]:
    """What a post records when it went out.

    What the platform shows: the text the sender took at its claim, unless a platform that
    dedupes by key may have answered with an earlier attempt's post (then the first attempt's
    revision), or said it holds an earlier text (then nothing is assumed). If the article
    changed since (or was retracted), the ledger's script records the sync the post now owes.
    """
    shown = post.sending_version
    if result.stale:
        shown = 0.0
    elif facts_for(post.platform).idempotent and post.first_sending_version:
        shown = min(shown, post.first_sending_version)
    return {
        "remote_id": result.remote_id,
        "remote_url": result.url or "",
        "sent_at": now,
        "sent_version": shown,
        "last_error": "",
    }


def _rate(adapter: Platform | None) -> Rate | None:
    """The rate-limit headers the adapter's last call saw."""
    if adapter is None:
        return None
    info = adapter.rate_info()
    return (info.limit, info.remaining, info.reset_at)


@dataclass(frozen=True)
class Delivery:
    """What one send did: the post's new status (or why it was not claimed), the post as
    claimed, and whether the send left it owing an edit or a delete (an update or a retraction
    arrived during the call)."""

    status: str
    post: Post | None = None
    owes_sync: bool = False
    # When the claim was made (the send's start, for its duration and lag).
    claimed_at: float = 0.0


class Sender:
    """Sends planned posts once and settles those whose outcome is unknown."""

    def __init__(
        self,
        ledger: Ledger,
        channels: dict[str, ChannelConfig],
        adapters: Adapters,
        images: LeadImages,
        *,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.ledger = ledger
        self.channels = channels
        self.adapters = adapters
        self.images = images
        self.lease_seconds = lease_seconds

    def outgoing(self, post: Post) -> OutgoingPost:
        """Exactly what is sent for a post (its text and key are in the ledger before the call)."""
        return OutgoingPost(
            post_id=post.id,
            text=post.text,
            link=post.link,
            language=post.language,
            idempotency_key=post.idempotency_key,
            title=post.title,
            description=post.description,
            media=self._media(post),
        )

    def _media(self, post: Post) -> tuple[Media, ...]:
        if not post.image_url:
            return ()
        try:
            image = self.images.for_platform(post.platform, post.image_url)
        except MediaError as exc:
            self.ledger.update(post.id, datetime.now(UTC).timestamp(), f"image skipped: {exc}")
            return ()
        return (Media(image.data, image.content_type, post.image_alt, url=post.image_url),)

    # --- sending -------------------------------------------------------------------------
    def deliver(self, post_id: str, owner: str, now: float) -> str:
        """Claim a post and send it once; returns the post's new status (or why not)."""
        return self.send(post_id, owner, now).status

    def send(self, post_id: str, owner: str, now: float) -> Delivery:
        """Claim a post and send it once: one step to claim and read it, the platform call,
        one step to record the outcome (with the rate-limit headers the call saw)."""
        return self._send_taken(self._take(Claim(post_id, owner, now, self.lease_seconds)))[0]

    def send_all(
        self,
        post_ids: Sequence[str],
        owner: str,
        *,
        clock: Callable[[], float] = time.time,
        until: float | None = None,
        only_due: bool = False,
    ) -> Iterator[tuple[str, Delivery]]:
        """Send posts one after the other, each claimed, sent once and settled on its own; one
        post's outcome and the next post's claim go to Redis in one round trip.

        Stops claiming once ``time.monotonic()`` passes ``until``: the posts not reached are
        not yielded (their due entries bring them back; the caller may pass them on). With
        ``only_due``, a post moved later than now since it was released is left for its new
        time (``not-due``).
        """

        def claim(post_id: str) -> Claim:
            now = clock()
            due_by = now + DUE_TOLERANCE if only_due else None
            return Claim(post_id, owner, now, self.lease_seconds, due_by)

        if not post_ids:
            return
        taken: Taken | None = self._take(claim(post_ids[0]))
        for i, post_id in enumerate(post_ids):
            if taken is None:
                return
            nxt = post_ids[i + 1] if i + 1 < len(post_ids) else None
            if until is not None and time.monotonic() > until:
                nxt = None

            def claim_next(nxt: str | None = nxt) -> Claim | None:
                return None if nxt is None else claim(nxt)

            delivery, taken = self._send_taken(taken, claim_next)
            yield post_id, delivery

    def _take(self, claim: Claim) -> Taken:
        return (*self.ledger.claim_post(claim), claim.now)

    def _send_taken(
        self, taken: Taken, claim_next: Callable[[], Claim | None] | None = None
    ) -> tuple[Delivery, Taken | None]:
        """Send a post just claimed (or report why it was not); then claim the next one, in
        the outcome's round trip when the post went out."""

        def then() -> Taken | None:
            claim = claim_next() if claim_next else None
            return None if claim is None else self._take(claim)

        claimed, post, now = taken
        if post is None:
            return Delivery(claimed, claimed_at=now), then()
        channel = self.channels.get(post.channel)
        if channel is None:
            self._fail(post, now, "channel no longer configured")
            return Delivery(PostStatus.FAILED.value, post, claimed_at=now), then()
        adapter: Platform | None = None
        try:
            adapter = self.adapters.for_channel(channel)
            result = adapter.post(self.outgoing(post))
        except RateLimited as exc:
            at = now + exc.retry_after + random.uniform(1, 5)  # noqa: S311
            status = self._retry(post, now, at, exc, _rate(adapter))
        except UncertainOutcome as exc:
            status = self._uncertain(post, now, exc)
        except TransientError as exc:
            backoff = min(3600.0, 30.0 * 2 ** (post.attempts - 1)) * random.uniform(0.8, 1.2)  # noqa: S311
            status = self._retry(post, now, now + backoff, exc)
        except (PermanentError, PlatformError, SyndicationError) as exc:
            self._fail(post, now, str(exc))
            status = PostStatus.FAILED.value
        else:
            return self._sent(post, now, result, _rate(adapter), claim_next)
        return Delivery(status, post, claimed_at=now), then()

    def _sent(
        self,
        post: Post,
        now: float,
        result: PostResult,
        rate: Rate | None,
        claim_next: Callable[[], Claim | None] | None,
    ) -> tuple[Delivery, Taken | None]:
        """Record a post that went out (with the headers its call saw), and claim the next
        post in the same round trip."""
        fields = _sent_fields(post, now, result)
        claim = claim_next() if claim_next else None
        following: Taken | None = None
        # A definite answer is recorded even if the lease ran out meanwhile and the post was
        # marked uncertain (or put back for a resend): the platform said it is out.
        if claim is None:
            moved = self.ledger.move(
                post.id, _SETTLED_BY_ANSWER, PostStatus.SENT, now, "sent",
                on_channel=post.channel, rate=rate, fields=fields,
            )  # fmt: skip
        else:
            moved, next_taken = self.ledger.move_then_claim(
                post.id, _SETTLED_BY_ANSWER, PostStatus.SENT, now, "sent",
                claim=claim, on_channel=post.channel, rate=rate, fields=fields,
            )  # fmt: skip
            following = (*next_taken, claim.now)
        log.info(
            "post.sent",
            post_id=post.id,
            channel=post.channel,
            remote_id=result.remote_id,
            lag=round(now - post.due_at, 3),
        )
        return Delivery(PostStatus.SENT.value, post, moved == "ok:sync", now), following

    def _settle_sent(
        self,
        post: Post,
        expected: PostStatus | tuple[PostStatus, ...],
        now: float,
        note: str,
        result: PostResult,
    ) -> str:
        fields = _sent_fields(post, now, result)
        return self.ledger.move(post.id, expected, PostStatus.SENT, now, note, fields=fields)

    def _fail(self, post: Post, now: float, error: str, rate: Rate | None = None) -> None:
        self.ledger.move(
            post.id,
            PostStatus.SENDING,
            PostStatus.FAILED,
            now,
            error,
            on_channel=post.channel,
            rate=rate,
            fields={"last_error": error},
        )
        log.warning("post.failed", post_id=post.id, channel=post.channel, error=error)

    def _retry(
        self, post: Post, now: float, at: float, exc: PlatformError, rate: Rate | None = None
    ) -> str:
        if post.attempts >= MAX_ATTEMPTS:
            self._fail(post, now, f"gave up after {post.attempts} attempts: {exc}", rate)
            return PostStatus.FAILED.value
        self.ledger.move(
            post.id,
            PostStatus.SENDING,
            PostStatus.PLANNED,
            now,
            f"retry at {datetime.fromtimestamp(at, UTC).isoformat()}: {exc}",
            due_at=at,
            on_channel=post.channel,
            rate=rate,
            fields={"last_error": str(exc)},
        )
        log.info(
            "post.rescheduled",
            post_id=post.id,
            channel=post.channel,
            error=str(exc),
            retry_in=round(at - now, 1),
        )
        return PostStatus.PLANNED.value

    def _uncertain(self, post: Post, now: float, exc: PlatformError) -> str:
        self.ledger.transition(
            post.id,
            PostStatus.SENDING,
            PostStatus.UNCERTAIN,
            now,
            f"outcome unknown: {exc}",
            last_error=str(exc),
        )
        log.warning("post.uncertain", post_id=post.id, channel=post.channel, error=str(exc))
        self.ledger.expect_reconcile(post.id, now + RECONCILE_RETRY)
        return self.reconcile(post.id, now)

    # --- reconciling ---------------------------------------------------------------------
    def expire_leases(self, now: float) -> list[str]:
        """Posts whose sender died mid-send become uncertain; returns them for reconciling."""
        lost = []
        for post_id in self.ledger.expired_leases(now):
            if self.ledger.transition(
                post_id,
                PostStatus.SENDING,
                PostStatus.UNCERTAIN,
                now,
                "sender lost during the call (lease expired): reconciling",
            ):
                self.ledger.expect_reconcile(post_id, now + RECONCILE_RETRY)
                lost.append(post_id)
            else:
                self.ledger.drop_lease(post_id)
        return lost

    def reconcile(self, post_id: str, now: float) -> str:
        """Resolve an uncertain post: resend safely, find it, or leave it to an operator.

        Done only when this returns: a crash on the way leaves the post in the reconciling
        set, and the dispatcher tries again.
        """
        result = self._reconcile(post_id, now)
        self.ledger.reconciled(post_id)
        return result

    def _reconcile(self, post_id: str, now: float) -> str:
        post = self.ledger.require(post_id)
        if post.status != PostStatus.UNCERTAIN:
            return post.status.value
        channel = self.channels.get(post.channel)
        if channel is None:
            return post.status.value
        facts = facts_for(post.platform)
        first = post.first_attempt_at or post.created_at
        window = facts.idempotency_window
        try:
            if facts.idempotent and (window is None or now - first < window):
                # Same key or record key: the platform returns the first post if it exists.
                return self._resend(post, now, "idempotent platform: resending with the same key")
            found = self.adapters.for_channel(channel).find(self.outgoing(post))
        except PlatformError as exc:
            self.ledger.update(
                post_id,
                now,
                f"reconcile could not look: {exc}; an operator must decide",
                note="needs operator",
            )
            return PostStatus.UNCERTAIN.value
        if found is not None:
            self._settle_sent(
                post,
                PostStatus.UNCERTAIN,
                now,
                "reconciled: found among the account's recent posts",
                found,
            )
            return PostStatus.SENT.value
        if facts.resend_when_absent and post.resends < MAX_RESENDS:
            return self._resend(
                post,
                now,
                f"not among the account's recent posts: {post.platform} sends it again",
                resends=post.resends + 1,
            )
        self.ledger.update(
            post_id,
            now,
            "not found among recent posts; an operator must decide "
            "(posts retry ID to send, posts cancel ID to drop)",
            note="needs operator",
        )
        return PostStatus.UNCERTAIN.value

    def _resend(self, post: Post, now: float, note: str, **fields: object) -> str:
        self.ledger.transition(
            post.id, PostStatus.UNCERTAIN, PostStatus.PLANNED, now, note, due_at=now, **fields
        )
        return PostStatus.PLANNED.value
