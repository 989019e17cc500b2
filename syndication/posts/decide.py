"""What an article means for one channel's post: the planner's rules, shared with ``explain``.

Pure: :func:`decide` takes the channel, the article and what the ledger says (a
:class:`Situation`) and returns a :class:`Decision`; :func:`decide_retraction` does the same
for an unpublished article's post. The planner carries decisions out; ``syndication posts
explain`` prints them, so the reasons an operator reads are the ones the planner acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from syndication.config.channels import ChannelConfig
from syndication.events import Article
from syndication.posts.ledger import OPEN, SETTLING, Post, PostStatus
from syndication.posts.routing import is_too_old

__all__ = ["Action", "Decision", "Situation", "decide", "decide_retraction", "story_for"]

Action: TypeAlias = Literal[
    "planned",  # a new post is (to be) planned
    "replanned",  # an unsent post's text is re-rendered from the update
    "edit",  # a sent post is to be edited in place
    "edit-after-send",  # a send is in progress: the update is remembered, edited in after
    "kept",  # nothing to do
    "skipped",  # this channel does not post this article
    "cancelled",  # an unsent post is dropped (retraction)
    "delete",  # a sent post is to be deleted (retraction)
]


@dataclass(frozen=True)
class Decision:
    """Why a channel will or will not post an article (``posts explain``)."""

    channel: str
    action: Action
    reason: str
    post_id: str | None = None
    due_at: float | None = None


@dataclass(frozen=True)
class Situation:
    """What the ledger knows about an article on one channel."""

    # A route sends the article to this channel.
    routed: bool
    # The article's post on this channel, if one was planned.
    post: Post | None = None
    # The post already carrying the article's story to this channel, if any.
    owner: str | None = None
    # A backfill without --post: history is loaded, nothing is posted.
    backfill: bool = False


def story_for(channel: ChannelConfig, article: Article) -> str:
    """What one post carries to a channel: the article, or its story across translations."""
    return article.id if channel.allow_translations else article.story_id


def decide(
    channel: ChannelConfig, article: Article, situation: Situation, now: datetime
) -> Decision:
    """What a live article (new or updated) means for its post on ``channel``."""
    post = situation.post
    name = channel.name
    if post is not None:
        return _follow(channel, article, post)
    if not situation.routed:
        return Decision(name, "skipped", "no route sends this article here")
    if situation.backfill:
        return Decision(name, "skipped", "backfill without --post")
    if is_too_old(channel, article, now):
        return Decision(name, "skipped", f"older than the channel's max_age ({channel.max_age})")
    if situation.owner:
        return Decision(name, "skipped", f"story already posted here by {situation.owner}")
    reason = "awaiting approval" if channel.schedule.approval else "scheduled"
    return Decision(name, "planned", reason)


def _follow(channel: ChannelConfig, article: Article, post: Post) -> Decision:
    name = channel.name
    if post.article_version >= article.version.timestamp():
        return Decision(name, "kept", f"already {post.status.value}", post.id, post.due_at)
    if post.status in OPEN:
        return Decision(name, "replanned", "text re-rendered from the update", post.id, post.due_at)
    if not channel.edit_on_update:
        return Decision(
            name, "kept", f"{post.status.value}; this channel does not edit on update", post.id
        )
    if post.delete_requested:
        return Decision(name, "kept", "a deletion is under way; it wins over edits", post.id)
    if post.status == PostStatus.SENT:
        return Decision(name, "edit", "the sent post will be edited", post.id)
    if post.status in SETTLING:
        return Decision(
            name,
            "edit-after-send",
            f"{post.status.value}: the update is edited in once the send is settled",
            post.id,
        )
    return Decision(name, "kept", f"{post.status.value}; updates are not posted again", post.id)


def decide_retraction(channel: ChannelConfig | None, post: Post) -> Decision:
    """What an unpublished article means for one of its posts."""
    name = post.channel
    if post.status in OPEN:
        return Decision(name, "cancelled", "article unpublished", post.id)
    if channel is None or not channel.delete_on_unpublish:
        return Decision(name, "kept", "this channel does not delete on unpublish", post.id)
    if post.status == PostStatus.SENT or post.status in SETTLING:
        return Decision(name, "delete", "article unpublished", post.id)
    return Decision(name, "kept", f"{post.status.value}: nothing to delete", post.id)
