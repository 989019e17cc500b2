"""Delivering posts: claim, send once, retry, reconcile, edit and delete.

A post is claimed (``sending``, with a lease) before the call; a crash leaves it ``sending``
until the lease ends, and then it is reconciled, never blindly re-sent. Also how a channel's
adapter is built from config and environment.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from syndication.config import Config
from syndication.config.channels import ChannelConfig
from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    SyndicationError,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import AdapterSettings, Media, OutgoingPost, Platform
from syndication.platforms.registry import make_adapter
from syndication.posts.images import FetchedImage, ImagePolicy, MediaError, check_media, fetch_image
from syndication.posts.ledger import Ledger, Post, PostStatus

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


class DeliveryMixin:
    """Sends planned posts and follows them up on the platform (part of Poster)."""

    ledger: Ledger
    config: Config
    adapter_for: AdapterMaker
    channels: dict[str, ChannelConfig]
    lease_seconds: float

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
        self.ledger.expect_reconcile(post.id, now + 60.0)
        return self.reconcile(post.id, now)

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
