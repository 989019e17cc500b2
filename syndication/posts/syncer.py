"""Keeping sent posts in step with their articles: one edit or one delete at a time.

A sent post is owed a sync when the platform does not show what it should: the article was
updated (``article_version`` is ahead of ``sent_version``) or retracted (``delete_requested``).
The ledger records that debt in the ``sync`` work list in the same script as the change that
caused it, and when a send settles. Taking a post from the work list leases it, so edits and
deletes of one post never run side by side; each sync applies the *latest* wanted state, and a
retraction always wins over an edit. An edit never re-creates a deleted post (Bluesky's
``putRecord`` is guarded by ``swapRecord``; the other platforms answer "not found").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from syndication.config.channels import ChannelConfig
from syndication.errors import PermanentError, PlatformError
from syndication.platforms.base import OutgoingPost
from syndication.platforms.facts import facts_for
from syndication.posts.adapters import Adapters
from syndication.posts.ledger import Ledger, Post, PostStatus
from syndication.store import Store
from syndication.worklist import WorkList

__all__ = ["SYNC_LEASE", "SyncReport", "Syncer"]

log = structlog.get_logger(__name__)

# How long a syncer holds a post; platform calls time out well within it.
SYNC_LEASE = 120.0


@dataclass
class SyncReport:
    """What one run over the ``sync`` work list did."""

    synced: int = 0
    failed: int = 0


class Syncer:
    """Applies the latest wanted state of sent posts: edit, delete, or nothing."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        channels: dict[str, ChannelConfig],
        adapters: Adapters,
        outgoing: Callable[[Post], OutgoingPost],
        *,
        lease: float = SYNC_LEASE,
    ) -> None:
        self.lease = lease
        self.ledger = ledger
        self.channels = channels
        self.adapters = adapters
        self.outgoing = outgoing
        self.work = WorkList(store, "sync")

    def run(self, *, budget: float = 10.0, batch: int = 20) -> SyncReport:
        """Sync the posts owed a sync, until none is due or ``budget`` seconds are spent."""

        def failed(post_id: str, exc: Exception, attempts: int) -> None:
            log.warning("post.sync_failed", post_id=post_id, error=str(exc), attempts=attempts)

        done, failures = self.work.work_off(
            self.sync, lease=self.lease, budget=budget, batch=batch, on_failure=failed
        )
        return SyncReport(synced=len(done), failed=failures)

    def sync(self, post_id: str, now: float) -> str:
        """Bring one sent post in step with its article; returns what was done.

        Raises the platform's :class:`~syndication.errors.TransientError` (the work list
        retries later); a permanent refusal is noted on the post and not retried.
        """
        post = self.ledger.get(post_id)
        if post is None or post.status != PostStatus.SENT:
            # Unsent posts are re-rendered or cancelled in place; a send in progress records
            # the sync it owes when it settles.
            return "nothing" if post is None else post.status.value
        channel = self.channels.get(post.channel)
        if channel is None:
            return "channel-gone"
        if post.delete_requested:
            return self._delete(post, channel, now)
        if post.article_version > post.sent_version:
            return self._edit(post, channel, now)
        return "in-step"

    def _delete(self, post: Post, channel: ChannelConfig, now: float) -> str:
        if not channel.delete_on_unpublish or not facts_for(post.platform).can_delete:
            self.ledger.update(post.id, now, "retracted; this channel keeps sent posts")
            return "kept"
        try:
            self.adapters.for_channel(channel).delete(post.remote_id)
        except PermanentError as exc:
            self.ledger.update(
                post.id,
                now,
                f"delete refused: {exc}; an operator must decide",
                note="needs operator",
                last_error=str(exc),
            )
            log.warning("post.delete_refused", post_id=post.id, error=str(exc))
            return "refused"
        self.ledger.transition(
            post.id,
            PostStatus.SENT,
            PostStatus.DELETED,
            now,
            "deleted after the article was unpublished",
        )
        log.info("post.deleted", post_id=post.id, channel=post.channel)
        return PostStatus.DELETED.value

    def _edit(self, post: Post, channel: ChannelConfig, now: float) -> str:
        version = post.article_version
        if not channel.edit_on_update or not facts_for(post.platform).can_edit:
            self.ledger.update(
                post.id,
                now,
                f"{post.platform} cannot edit posts (or the channel does not); left as sent",
                sent_version=version,
            )
            return "not-editable"
        try:
            self.adapters.for_channel(channel).edit(post.remote_id, self.outgoing(post))
        except PermanentError as exc:
            # The post is gone or refuses edits: never re-created, never retried.
            self.ledger.update(
                post.id, now, f"edit refused: {exc}", sent_version=version, last_error=str(exc)
            )
            log.warning("post.edit_refused", post_id=post.id, error=str(exc))
            return "refused"
        except PlatformError:
            raise
        # The platform now shows revision ``version``; a newer update that arrived during the
        # call leaves the post owing another sync (the ledger script records it).
        self.ledger.update(
            post.id, now, "edited after the article was updated", sent_version=version
        )
        log.info("post.edited", post_id=post.id, channel=post.channel)
        return "edited"
