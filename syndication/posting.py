"""Social posts: plan them when an article is applied, deliver them once, follow updates.

The shell around the pure core (``route_article``, ``due_time``, ``render_post_text``,
``fit_text``) and the platform adapters. Order of every step: load, decide, write the intent,
call the platform, write the outcome. A post is claimed (``sending``, with a lease) before the
call; a crash leaves it ``sending`` until the lease ends, and then it is reconciled, never
blindly re-sent: a platform with an idempotency key (Mastodon, Bluesky) is retried with the
same key; the others are looked up among the account's recent posts (``find``) and become
``uncertain`` for an operator when that cannot tell.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from syndication.channels import ChannelConfig, is_too_old, route_article
from syndication.config import Config
from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    SyndicationError,
    TransientError,
    UncertainOutcome,
)
from syndication.events import Article
from syndication.fitting import FittingError, fit_text, rules_for
from syndication.ledger import OPEN, Ledger, Post, PostStatus, post_id_for
from syndication.media import FetchedImage, ImagePolicy, MediaError, check_media, fetch_image
from syndication.platforms.base import AdapterSettings, Media, OutgoingPost, Platform
from syndication.platforms.registry import make_adapter
from syndication.scheduling import budget_for, due_time
from syndication.store import Store
from syndication.templating import add_utm, render_post_text

log = structlog.get_logger(__name__)

# A sender holds a claimed post this long; past it, the post is reconciled.
LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 8
# Never retry a Mastodon post later than this after its first attempt: the Idempotency-Key
# is honoured for one hour only.
IDEMPOTENCY_WINDOW = 3000.0

AdapterMaker = Callable[[ChannelConfig], Platform]


def credentials_for(
    channel: ChannelConfig, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """Read a channel's credentials from the environment variables its config names.

    ``NAME_FILE`` (a mounted secret) is accepted when ``NAME`` is not set.
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for role, name in channel.credentials.items():
        value = env.get(name)
        if value is None and env.get(f"{name}_FILE"):
            with open(env[f"{name}_FILE"], encoding="utf-8") as fh:
                value = fh.read().strip()
        if value is None:
            raise PermanentError(
                channel.platform, f"credential {role}: environment variable {name} is not set"
            )
        out[role] = value
    return out


def default_adapter(channel: ChannelConfig) -> Platform:
    """Build the adapter of a channel from config and environment."""
    return make_adapter(
        channel.platform,
        AdapterSettings(
            base_url=channel.api_base_url,
            credentials=credentials_for(channel),
            options=dict(channel.options),
        ),
    )


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


class Poster:
    """Plans and delivers posts for one store and config."""

    def __init__(
        self,
        store: Store,
        config: Config,
        adapter_for: AdapterMaker = default_adapter,
        *,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.store = store
        self.ledger = Ledger(store)
        self.config = config
        self.adapter_for = adapter_for
        self.channels = {c.name: c for c in config.channels}

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
            retry.append(post_id)
        return retry

    # --- delivering ----------------------------------------------------------------------
    def outgoing(self, post: Post) -> OutgoingPost:
        """Exactly what is sent for a post (stored in the ledger before any call)."""
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

    def image_for(self, platform: str, url: str) -> FetchedImage:
        """The lead image at ``url``, fetched once (then cached) and checked for ``platform``.

        Raises:
            MediaError: the image cannot be had, or does not fit the platform's limits.
        """
        cached = self.ledger.cached_image(url)
        if cached is not None:
            image = FetchedImage(cached[0], cached[1], cached[2], cached[3], url=url)
        else:
            images = self.config.images
            policy = ImagePolicy(
                allowed_hosts=frozenset(images.allowed_hosts),
                allow_private=images.allow_private,
                max_bytes=images.max_bytes,
                timeout=images.timeout,
            )
            try:
                image = fetch_image(url, policy)
            except (SyndicationError, OSError) as exc:
                raise MediaError(str(exc)) from None
            self.ledger.cache_image(url, image.data, image.content_type, image.width, image.height)
        problem = check_media(platform, image)
        if problem:
            raise MediaError(problem)
        return image

    def _media(self, post: Post) -> tuple[Media, ...]:
        if not post.image_url:
            return ()
        try:
            image = self.image_for(post.platform, post.image_url)
        except MediaError as exc:
            self.ledger.update(post.id, datetime.now(UTC).timestamp(), f"image skipped: {exc}")
            return ()
        return (Media(image.data, image.content_type, post.image_alt, url=post.image_url),)

    def deliver(self, post_id: str, owner: str, now: float) -> str:
        """Claim a post and send it once; returns the post's new status (or why not)."""
        claimed = self.ledger.claim(post_id, owner, now, self.lease_seconds)
        if claimed != "claimed":
            return claimed
        post = self.ledger.require(post_id)
        channel = self.channels.get(post.channel)
        if channel is None:
            self.ledger.transition(
                post_id,
                PostStatus.SENDING,
                PostStatus.FAILED,
                now,
                "channel no longer configured",
                last_error="channel not in config",
            )
            return PostStatus.FAILED.value
        try:
            adapter = self.adapter_for(channel)
            result = adapter.post(self.outgoing(post))
        except RateLimited as exc:
            self._remember_rate(channel, locals().get("adapter"))
            return self._retry(post, now, now + exc.retry_after + random.uniform(1, 5), exc)  # noqa: S311
        except UncertainOutcome as exc:
            return self._uncertain(post, channel, now, exc)
        except TransientError as exc:
            backoff = min(3600.0, 30.0 * 2 ** (post.attempts - 1)) * random.uniform(0.8, 1.2)  # noqa: S311
            return self._retry(post, now, now + backoff, exc)
        except (PermanentError, PlatformError, SyndicationError) as exc:
            self.ledger.transition(
                post_id, PostStatus.SENDING, PostStatus.FAILED, now, str(exc), last_error=str(exc)
            )
            log.warning("post.failed", post_id=post_id, channel=post.channel, error=str(exc))
            return PostStatus.FAILED.value
        self._remember_rate(channel, adapter)
        self.ledger.transition(
            post_id,
            PostStatus.SENDING,
            PostStatus.SENT,
            now,
            "sent",
            remote_id=result.remote_id,
            remote_url=result.url or "",
            sent_at=now,
            last_error="",
        )
        log.info(
            "post.sent",
            post_id=post_id,
            channel=post.channel,
            remote_id=result.remote_id,
            lag=round(now - post.due_at, 3),
        )
        return PostStatus.SENT.value

    def _remember_rate(self, channel: ChannelConfig, adapter: Platform | None) -> None:
        if adapter is None:
            return
        info = adapter.rate_info()
        self.ledger.save_rate(channel.name, info.limit, info.remaining, info.reset_at)

    def _retry(self, post: Post, now: float, at: float, exc: PlatformError) -> str:
        if post.attempts >= MAX_ATTEMPTS:
            self.ledger.transition(
                post.id,
                PostStatus.SENDING,
                PostStatus.FAILED,
                now,
                f"gave up after {post.attempts} attempts: {exc}",
                last_error=str(exc),
            )
            return PostStatus.FAILED.value
        if self.ledger.transition(
            post.id,
            PostStatus.SENDING,
            PostStatus.PLANNED,
            now,
            f"retry at {datetime.fromtimestamp(at, UTC).isoformat()}: {exc}",
            last_error=str(exc),
        ):
            self.ledger.schedule(post.id, at, now, "rescheduled")
        log.info(
            "post.rescheduled",
            post_id=post.id,
            channel=post.channel,
            error=str(exc),
            retry_in=round(at - now, 1),
        )
        return PostStatus.PLANNED.value

    def _uncertain(self, post: Post, channel: ChannelConfig, now: float, exc: PlatformError) -> str:
        self.ledger.transition(
            post.id,
            PostStatus.SENDING,
            PostStatus.UNCERTAIN,
            now,
            f"outcome unknown: {exc}",
            last_error=str(exc),
        )
        log.warning("post.uncertain", post_id=post.id, channel=post.channel, error=str(exc))
        return self.reconcile(post.id, now)

    def reconcile(self, post_id: str, now: float) -> str:
        """Resolve an uncertain post: resend safely, find it, or leave it to an operator."""
        post = self.ledger.require(post_id)
        if post.status != PostStatus.UNCERTAIN:
            return post.status.value
        channel = self.channels.get(post.channel)
        if channel is None:
            return post.status.value
        try:
            adapter = self.adapter_for(channel)
            if adapter.idempotent and now - post.created_at < IDEMPOTENCY_WINDOW:
                # Same key or record key: the platform returns the first post if it exists.
                if self.ledger.transition(
                    post_id,
                    PostStatus.UNCERTAIN,
                    PostStatus.PLANNED,
                    now,
                    "idempotent platform: resending with the same key",
                ):
                    self.ledger.schedule(post_id, now, now, "resend with the same idempotency key")
                return PostStatus.PLANNED.value
            found = adapter.find(self.outgoing(post))
        except PlatformError as exc:
            self.ledger.update(
                post_id,
                now,
                f"reconcile could not look: {exc}; an operator must decide",
                note="needs operator",
            )
            return PostStatus.UNCERTAIN.value
        if found is None:
            self.ledger.update(
                post_id,
                now,
                "not found among recent posts; an operator must decide "
                "(posts retry ID to send, posts cancel ID to drop)",
                note="needs operator",
            )
            return PostStatus.UNCERTAIN.value
        self.ledger.transition(
            post_id,
            PostStatus.UNCERTAIN,
            PostStatus.SENT,
            now,
            "reconciled: found among the account's recent posts",
            remote_id=found.remote_id,
            remote_url=found.url or "",
            sent_at=now,
        )
        return PostStatus.SENT.value

    # --- lifecycle -------------------------------------------------------------------------
    def edit(self, post_id: str, now: float) -> str:
        """Edit a sent post in place with its current text (never reposts)."""
        post = self.ledger.require(post_id)
        channel = self.channels.get(post.channel)
        if post.status != PostStatus.SENT or channel is None:
            return post.status.value
        adapter = self.adapter_for(channel)
        if not adapter.can_edit:
            self.ledger.update(post_id, now, f"{post.platform} cannot edit posts; left as sent")
            return "not-editable"
        adapter.edit(post.remote_id, self.outgoing(post))
        self.ledger.update(post_id, now, "edited after the article was updated")
        log.info("post.edited", post_id=post_id, channel=post.channel)
        return "edited"

    def delete(self, post_id: str, now: float) -> str:
        """Delete a sent post whose article was unpublished (where the channel allows it)."""
        post = self.ledger.require(post_id)
        channel = self.channels.get(post.channel)
        if post.status != PostStatus.SENT or not post.delete_requested or channel is None:
            return post.status.value
        if not channel.delete_on_unpublish:
            return post.status.value
        self.adapter_for(channel).delete(post.remote_id)
        self.ledger.transition(
            post_id,
            PostStatus.SENT,
            PostStatus.DELETED,
            now,
            "deleted after the article was unpublished",
        )
        log.info("post.deleted", post_id=post_id, channel=post.channel)
        return PostStatus.DELETED.value


def follow_up(
    poster: Poster,
    store: Store,
    event_type: str | None,
    article_id: str | None,
    now: float,
    *,
    backfill: bool = False,
) -> list[Decision]:
    """What an applied event means for posts: plan, re-render, edit, cancel or delete."""
    if not article_id or not poster.channels:
        return []
    if event_type == "article.unpublished":
        return poster.retract(article_id, now)
    article = store.get_article(article_id)
    return [] if article is None else poster.plan(article, now, backfill=backfill)
