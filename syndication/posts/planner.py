"""Planning posts: which channels post an article, when, and with what text.

Also the dispatcher's reads (posts due now, leases that ran out) and retraction on unpublish.
The shell around the pure core (``route_article``, ``due_time``, ``render_post_text``,
``fit_text``); :class:`~syndication.posts.poster.Poster` combines it with delivery.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from syndication.config import Config
from syndication.config.channels import ChannelConfig
from syndication.errors import PlatformError, SyndicationError
from syndication.events import Article
from syndication.posts.fitting import FittingError, fit_text, rules_for
from syndication.posts.images import MediaError
from syndication.posts.ledger import OPEN, Ledger, Post, PostStatus, post_id_for
from syndication.posts.routing import is_too_old, route_article
from syndication.posts.scheduling import budget_for, due_time
from syndication.posts.sender import AdapterMaker
from syndication.posts.templating import add_utm, render_post_text
from syndication.store import Store

if TYPE_CHECKING:
    from syndication.posts.images import FetchedImage

log = structlog.get_logger(__name__)


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Decision:
    """Why a channel will or will not post an article (``posts explain``)."""

    channel: str
    action: str  # planned | replanned | kept | skipped | edit | cancelled | delete
    reason: str
    post_id: str | None = None
    due_at: float | None = None


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
    return fit_text(text, rules).text


# An uncertain post whose reconciliation has not run after this long is reconciled again.
RECONCILE_RETRY = 60.0


class PlanningMixin:
    """Plans posts, re-plans them on updates and retracts them on unpublish (part of Poster)."""

    store: Store
    ledger: Ledger
    config: Config
    adapter_for: AdapterMaker
    channels: dict[str, ChannelConfig]

    if TYPE_CHECKING:

        def image_for(self, platform: str, url: str) -> FetchedImage:
            """Provided by :class:`~syndication.posts.sender.DeliveryMixin`."""
            ...

    # --- planning ------------------------------------------------------------------------
    def plan(self, article: Article, now: float, *, backfill: bool = False) -> list[Decision]:
        """Plan (or re-plan) the posts of a live article on every channel its routes name."""
        decisions = []
        routed = route_article(article, self.config.routing, self.channels)
        for name in routed:
            decisions.append(self._plan_one(self.channels[name], article, now, backfill))
        for name in sorted(set(self.channels) - set(routed)):
            decisions.append(Decision(name, "skipped", "no route sends this article here"))
        return decisions

    def _plan_one(
        self, channel: ChannelConfig, article: Article, now: float, backfill: bool
    ) -> Decision:
        post_id = post_id_for(channel.name, article.id)
        existing = self.ledger.get(post_id)
        when = datetime.fromtimestamp(now, UTC)
        if existing is not None:
            return self._replan(channel, article, existing, now)
        if backfill:
            return Decision(channel.name, "skipped", "backfill without --post")
        if is_too_old(channel, article, when):
            return Decision(
                channel.name, "skipped", f"older than the channel's max_age ({channel.max_age})"
            )
        story = article.id if channel.allow_translations else article.story_id
        owner = self.ledger.delivery_owner(story, channel.name)
        if owner and owner != post_id:
            return Decision(channel.name, "skipped", f"story already posted here by {owner}")
        try:
            text = compose(channel, article, self.text_limits(channel))
        except (FittingError, SyndicationError) as exc:
            return Decision(channel.name, "skipped", f"text cannot be fitted: {exc}")
        # The lead image is fetched and checked against the platform's limits now, when the
        # post is planned, not when it fails; a refused image never blocks the post.
        image_url, image_note = "", ""
        if article.image and channel.attach_image:
            try:
                self.image_for(channel.platform, article.image.url)
                image_url = article.image.url
            except MediaError as exc:
                image_note = f"image skipped at planning: {exc}"
        lock = self.store.r.lock(
            self.store.keys.channel_lock(channel.name), timeout=30, blocking_timeout=30
        )
        with lock:
            due = self._due(channel, article, when)
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
            if not self.ledger.create(post, enqueue=post.approved):
                return Decision(channel.name, "skipped", "story already posted here")
        if image_note:
            self.ledger.update(post_id, now, image_note)
        # An unpublish may have been applied while this plan was being made (its retract then
        # found no post to cancel): look again now that the post exists, and cancel it.
        state = self.store.article_state(article.id)
        if state is not None and state.state != "live":
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

    def text_limits(self, channel: ChannelConfig) -> tuple[int, int] | None:
        """Mastodon: the instance's limits (``/api/v2/instance``), cached for a day."""
        if channel.platform != "mastodon":
            return None
        cached = self.ledger.text_limits(channel.name)
        if cached is not None:
            return cached
        try:
            read = getattr(self.adapter_for(channel), "text_limits", None)
            limits: tuple[int, int] | None = read() if read else None
        except (PlatformError, SyndicationError):
            return None  # the defaults (500, 23) apply; the next plan asks again
        if limits is not None:
            self.ledger.save_text_limits(channel.name, limits)
        return limits

    def _due(self, channel: ChannelConfig, article: Article, when: datetime) -> float:
        since = (when - timedelta(days=2)).timestamp()
        planned = [
            datetime.fromtimestamp(t, UTC) for t in self.ledger.channel_times(channel.name, since)
        ]
        remaining, reset_at = self.ledger.rate(channel.name)
        # Posts planned for later count against the quota too: a burst planned now must not
        # put more than the platform allows into any window ahead.
        budget = budget_for(
            channel.platform,
            planned,
            reset_at=datetime.fromtimestamp(reset_at, UTC) if reset_at else None,
            remaining=remaining,
        )
        return due_time(channel.schedule, article.published_at, planned, when, budget).timestamp()

    def _rerender(
        self, channel: ChannelConfig, article: Article, post: Post, now: float, why: str
    ) -> None:
        self.ledger.update(
            post.id,
            now,
            f"article updated {why}",
            text=compose(channel, article, self.text_limits(channel)),
            title=article.title,
            article_version=article.version.timestamp(),
        )

    def _replan(self, channel: ChannelConfig, article: Article, post: Post, now: float) -> Decision:
        if post.article_version >= article.version.timestamp():
            return Decision(
                channel.name, "kept", f"already {post.status.value}", post.id, post.due_at
            )
        if post.status in OPEN:
            self._rerender(channel, article, post, now, "before sending: text re-rendered")
            return Decision(
                channel.name, "replanned", "text re-rendered from the update", post.id, post.due_at
            )
        if post.status == PostStatus.SENT and channel.edit_on_update:
            self._rerender(channel, article, post, now, "after sending: edit queued")
            return Decision(channel.name, "edit", "the sent post will be edited", post.id)
        return Decision(
            channel.name, "kept", f"{post.status.value}; updates are not posted again", post.id
        )

    def retract(self, article_id: str, now: float) -> list[Decision]:
        """On unpublish: cancel unsent posts, and ask for deletion of sent ones where allowed.

        A sender may be moving the post at the same moment, so each post is decided on its
        fresh state: the delete flag is set first, then the status is read again, and a post
        that is (or just became) sent gets a delete queued. Deleting twice is harmless.
        """
        decisions = []
        for post in self.ledger.for_article(article_id):
            channel = self.channels.get(post.channel)
            if self.ledger.cancel(post.id, now, "article unpublished"):
                decisions.append(
                    Decision(post.channel, "cancelled", "article unpublished", post.id)
                )
                continue
            if channel is None or not channel.delete_on_unpublish:
                continue
            self.ledger.update(
                post.id, now, "article unpublished: delete requested", delete_requested=True
            )
            current = self.ledger.require(post.id)
            if current.status == PostStatus.SENT:
                decisions.append(Decision(post.channel, "delete", "article unpublished", post.id))
            elif current.status in OPEN and self.ledger.cancel(post.id, now, "article unpublished"):
                decisions.append(
                    Decision(post.channel, "cancelled", "article unpublished", post.id)
                )
        return decisions

    # --- dispatching ---------------------------------------------------------------------
    def due_now(self, now: float, limit: int = 200) -> list[str]:
        """Posts whose time has come on channels that are not paused."""
        ids = self.ledger.due_ids(now, limit)
        posts = self.ledger.many(ids)
        paused = self.ledger.paused({p.channel for p in posts})
        return [p.id for p in posts if p.channel not in paused]

    def expire_leases(self, now: float) -> list[str]:
        """Posts whose sender died mid-send: retry safe ones, mark the others uncertain."""
        retry = []
        for post_id in self.ledger.expired_leases(now):
            post = self.ledger.get(post_id)
            if post is None or post.status != PostStatus.SENDING:
                self.store.r.zrem(self.store.keys.leases, post_id)
                continue
            self.ledger.transition(
                post_id,
                PostStatus.SENDING,
                PostStatus.UNCERTAIN,
                now,
                "sender lost during the call (lease expired): reconciling",
            )
            self.ledger.expect_reconcile(post_id, now + RECONCILE_RETRY)
            retry.append(post_id)
        return retry
