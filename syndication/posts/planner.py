"""Planning posts: which channels post an article, when, and with what text.

The ``plan`` work list is the hand-off from ingest: the apply script records an article id in
it together with the change, and the planner removes it only when the article's posts are in
the ledger (or their edits and deletes are recorded as owed ``sync`` work). Each article is
planned from its state *now*, so an update and a retraction that arrive together end as a
retraction; one article that fails is retried later and never holds up the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
import structlog
from redis.exceptions import LockNotOwnedError

from syndication.config import Config
from syndication.config.channels import ChannelConfig
from syndication.connection import exchange
from syndication.errors import SyndicationError
from syndication.events import Article
from syndication.posts.adapters import Adapters
from syndication.posts.calendar import Calendars, ChannelCalendar, Rate
from syndication.posts.decide import Decision, Situation, decide, decide_retraction, story_for
from syndication.posts.fitting import FittingError, fitted_text, rules_for
from syndication.posts.images import LeadImages, MediaError
from syndication.posts.ledger import Ledger, Post, PostStatus, post_id_for
from syndication.posts.routing import route_article
from syndication.posts.scheduling import budget_for, find_due, first_candidate
from syndication.posts.scripts import Call
from syndication.posts.templating import add_utm, render_post_text
from syndication.replies import hash_of, text_of
from syndication.store import Store
from syndication.worklist import WorkList

__all__ = ["PlanReport", "Planner", "compose"]

log = structlog.get_logger(__name__)

# How long a planner holds an article it took from the work list before another may take it.
WORK_LEASE = 120.0


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def compose(
    channel: ChannelConfig, article: Article, mastodon_limits: tuple[int, int] | None = None
) -> str:
    """The text a channel would post for an article, fitted to its platform (pure)."""
    link = add_utm(article.url, channel.utm)
    text = render_post_text(channel.template, article, link=link, channel=channel.name)
    max_chars, per_url = mastodon_limits or (None, None)
    rules = rules_for(
        channel.platform,
        max_characters=max_chars,
        characters_reserved_per_url=per_url,
        photo_caption=channel.platform == "telegram" and channel.attach_image,
    )
    return fitted_text(text, rules)


@dataclass
class PlanReport:
    """What one run over the ``plan`` work list did."""

    articles: int = 0
    failed: int = 0
    decisions: list[Decision] = field(default_factory=list)


class Planner:
    """Plans posts, re-renders them on updates and retracts them on unpublish."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        config: Config,
        adapters: Adapters,
        images: LeadImages,
        *,
        lease: float = WORK_LEASE,
    ) -> None:
        self.lease = lease
        self.store = store
        self.ledger = ledger
        self.config = config
        self.adapters = adapters
        self.images = images
        self.channels = {c.name: c for c in config.channels}
        self.work = WorkList(store, "plan")
        self.calendars = Calendars(store.r, store.keys)

    # --- the work list -------------------------------------------------------------------
    def run(self, *, budget: float = 10.0, batch: int = 50) -> PlanReport:
        """Plan the articles owed a plan, until none is due or ``budget`` seconds are spent.

        One article that cannot be planned now (a Redis hiccup, a platform's instance facts
        unreachable) is retried later with backoff; the rest go on.
        """

        def failed(article_id: str, exc: Exception, attempts: int) -> None:
            log.warning(
                "post.plan_failed", article_id=article_id, error=str(exc), attempts=attempts
            )

        done, failures = self.work.work_off(
            self.follow_up, lease=self.lease, budget=budget, batch=batch, on_failure=failed
        )
        return PlanReport(
            articles=len(done), failed=failures, decisions=[d for ds in done for d in ds]
        )

    def follow_up(self, article_id: str, now: float, *, backfill: bool = False) -> list[Decision]:
        """What the article's current state means for its posts: plan, re-render, edit,
        cancel or delete."""
        if not self.channels:
            return []
        state = self.store.article_state(article_id)
        if state is None:
            return []
        if state.state != "live":
            return self.retract(article_id, now)
        article = self.store.get_article(article_id)
        return [] if article is None else self.plan(article, now, backfill=backfill)

    # --- planning ------------------------------------------------------------------------
    def situation(self, channel: ChannelConfig, article: Article, routed: bool) -> Situation:
        """What the ledger knows about ``article`` on ``channel``."""
        post = self.ledger.get(post_id_for(channel.name, article.id))
        owner = None
        if post is None and routed:
            owner = self.ledger.delivery_owner(story_for(channel, article), channel.name)
        return Situation(routed=routed, post=post, owner=owner)

    def situations(self, article: Article, routed: set[str]) -> list[Situation]:
        """What the ledger knows about ``article`` on every channel, in one round trip."""
        channels = self.config.channels
        wanted = [c for c in channels if c.name in routed]
        posts, owners = self.ledger.lookup(
            [post_id_for(c.name, article.id) for c in channels],
            [(story_for(c, article), c.name) for c in wanted],
        )
        owner_of = dict(zip((c.name for c in wanted), owners, strict=True))
        return [
            Situation(
                routed=c.name in routed,
                post=post,
                owner=owner_of.get(c.name) if post is None else None,
            )
            for c, post in zip(channels, posts, strict=True)
        ]

    def plan(self, article: Article, now: float, *, backfill: bool = False) -> list[Decision]:
        """Plan (or re-plan) the posts of a live article on every channel."""
        routed = set(route_article(article, self.config.routing, self.channels))
        when = datetime.fromtimestamp(now, UTC)
        decisions = []
        for channel, situation in zip(
            self.config.channels, self.situations(article, routed), strict=True
        ):
            if backfill:
                situation = Situation(situation.routed, situation.post, situation.owner, True)
            decision = decide(channel, article, situation, when)
            decisions.append(self._carry_out(channel, article, decision, now))
        return decisions

    def _carry_out(
        self, channel: ChannelConfig, article: Article, decision: Decision, now: float
    ) -> Decision:
        if decision.action == "planned":
            return self._create(channel, article, now)
        if decision.action in ("replanned", "edit", "edit-after-send") and decision.post_id:
            # The new text and version are the wanted state; the ledger's update script
            # records the edit a sent post now owes, and a send in progress picks it up when
            # it settles.
            self.ledger.update(
                decision.post_id,
                now,
                f"article updated: {decision.reason}",
                text=compose(channel, article, self.adapters.text_limits(channel)),
                title=article.title,
                article_version=article.version.timestamp(),
            )
        return decision

    def _create(self, channel: ChannelConfig, article: Article, now: float) -> Decision:
        post_id = post_id_for(channel.name, article.id)
        story = story_for(channel, article)
        try:
            text = compose(channel, article, self.adapters.text_limits(channel))
        except (FittingError, SyndicationError) as exc:
            return Decision(channel.name, "skipped", f"text cannot be fitted: {exc}")
        # The lead image is fetched and checked against the platform's limits now, in the
        # planner's own step, so a refused image never fails the post later.
        image_url, image_note = "", ""
        if article.image and channel.attach_image:
            try:
                self.images.for_platform(channel.platform, article.image.url)
                image_url = article.image.url
            except MediaError as exc:
                image_note = f"image skipped at planning: {exc}"
        when = datetime.fromtimestamp(now, UTC)
        quota = budget_for(channel.platform)
        # The channel's lock is taken with the calendar, in one script call, and the create
        # script releases it once the post is written: no other planner chooses a time from
        # the same view of the channel meanwhile.
        calendar, rate = self.calendars.hold(
            channel.name,
            channel.schedule,
            quota,
            now,
            first=first_candidate(channel.schedule, article.published_at, when),
        )
        try:
            due, learnt = self._due(channel, article, when, calendar, rate)
            post = Post(
                id=post_id,
                channel=channel.name,
                platform=channel.platform,
                article_id=article.id,
                story_id=story,
                status=PostStatus.PLANNED,
                text=text,
                link=add_utm(article.url, channel.utm),
                language=article.language,
                idempotency_key=_key(channel.name, story),
                due_at=due,
                created_at=now,
                updated_at=now,
                title=article.title,
                description=article.summary[:300],
                image_url=image_url,
                image_alt=(article.image.caption or "") if article.image else "",
                approved=not channel.schedule.approval,
                article_version=article.version.timestamp(),
            )
            # What the search learnt goes first (learning it before the post exists is as
            # true: adding a post never frees an instant), then the post, which releases the
            # lock, then the article's state read again: one round trip.
            replies = exchange(
                self.store.r,
                [
                    *([learnt] if learnt else []),
                    self.ledger.creating(
                        post, enqueue=post.approved, lock_token=calendar.lock_token
                    ),
                ],
                [("HGETALL", self.store.keys.article_meta(article.id))],
            )
        except BaseException:
            with contextlib.suppress(redis.RedisError):
                calendar.release()
            raise
        (outcome, released), meta = replies[-2], hash_of(replies[-1])
        if not released and text_of(outcome) == "created":
            # The lock expired before the post was written: another planner may have chosen
            # a time without seeing it (as a redis-py lock released late, this fails the plan;
            # the work list plans the article again and finds its post). A call sent again
            # after a lost answer finds its post there and its lock released: nothing new.
            raise LockNotOwnedError(
                "Cannot release a lock that's no longer owned",
                lock_name=self.store.keys.channel_lock(channel.name),
            )
        if not self.ledger.created(outcome):
            return Decision(channel.name, "skipped", "story already posted here")
        if image_note:
            self.ledger.update(post_id, now, image_note)
        # An unpublish may have been applied while this plan was being made (its retract then
        # found no post to cancel): the state read after the post was written says so, and the
        # post is cancelled.
        if meta and text_of(meta.get(b"state")) != "live":
            self.ledger.cancel(post_id, now, "article unpublished while the post was planned")
            return Decision(channel.name, "cancelled", "article unpublished", post_id)
        log.info(
            "post.planned",
            post_id=post_id,
            channel=channel.name,
            article_id=article.id,
            due_at=datetime.fromtimestamp(due, UTC).isoformat(),
        )
        reason = "awaiting approval" if not post.approved else "scheduled"
        return Decision(channel.name, "planned", reason, post_id, due)

    def _due(
        self,
        channel: ChannelConfig,
        article: Article,
        when: datetime,
        calendar: ChannelCalendar,
        rate: Rate,
    ) -> tuple[float, Call | None]:
        # The channel's posts planned for later count against the quota too (the calendar
        # answers for them): a burst planned now must not put more than the platform allows
        # into any window ahead.
        budget = budget_for(
            channel.platform,
            reset_at=datetime.fromtimestamp(rate.reset_at, UTC) if rate.reset_at else None,
            remaining=rate.remaining,
        )
        due = find_due(channel.schedule, article.published_at, when, calendar, budget)
        return due.at.timestamp(), calendar.learning(due.taken)

    # --- retraction ----------------------------------------------------------------------
    def retract(self, article_id: str, now: float) -> list[Decision]:
        """On unpublish: cancel unsent posts; ask for the deletion of sent ones (and of those
        being sent, which the sender deletes once their send settles) where allowed.

        Each post is decided on its fresh state; a sender moving it at the same moment makes
        the cancel fail, and the post is decided again.
        """
        decisions = []
        for post in self.ledger.for_article(article_id):
            decisions.append(self._retract_one(post, now))
        return decisions

    def _retract_one(self, post: Post, now: float) -> Decision:
        current: Post | None = post
        decision = decide_retraction(self.channels.get(post.channel), post)
        for _ in range(3):
            if current is None:
                break
            decision = decide_retraction(self.channels.get(current.channel), current)
            if decision.action == "cancelled":
                if self.ledger.cancel(current.id, now, "article unpublished"):
                    return decision
                current = self.ledger.get(current.id)  # a sender claimed it: decide again
                continue
            if decision.action == "delete" and not current.delete_requested:
                # A sent post owes a delete from this very write; a send in progress records
                # it when it settles.
                self.ledger.update(
                    current.id, now, "article unpublished: delete requested", delete_requested=True
                )
            return decision
        return decision
