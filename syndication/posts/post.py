"""A post: one article (or story) on one channel, and where it is in its life.

``planned → sending → sent | failed | cancelled | uncertain`` (plus ``deleted`` after a sent
post is removed on unpublish).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum

from syndication.store import decode_map, text_of

__all__ = ["OPEN", "SETTLING", "Claim", "Post", "PostStatus", "entry", "post_id_for", "text_value"]


class PostStatus(StrEnum):
    """Where a post is in its life."""

    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"
    DELETED = "deleted"


# Not sent yet: may still be re-rendered or cancelled.
OPEN = (PostStatus.PLANNED,)
# A send whose outcome is not settled yet: wanted changes wait until it is.
SETTLING = (PostStatus.SENDING, PostStatus.UNCERTAIN)


def text_value(value: object) -> str:
    return "1" if value is True else "0" if value is False else str(value)


def entry(now: float, status: str, note: str) -> str:
    return json.dumps({"at": now, "status": status, "note": note[:500]}, ensure_ascii=False)


@dataclass(frozen=True)
class Post:
    """One post of one article (or story) on one channel."""

    id: str
    channel: str
    platform: str
    article_id: str
    story_id: str
    status: PostStatus
    text: str
    link: str
    language: str
    idempotency_key: str
    due_at: float
    created_at: float
    updated_at: float
    title: str = ""
    description: str = ""
    image_url: str = ""
    image_alt: str = ""
    attempts: int = 0
    # Times an uncertain post was sent again because the account listing did not show it.
    resends: int = 0
    last_error: str = ""
    remote_id: str = ""
    remote_url: str = ""
    sent_at: float = 0.0
    approved: bool = True
    # The article revision the text was rendered from; the one whose text the platform shows
    # (sent, or edited in); the one a sender in progress took.
    article_version: float = 0.0
    sent_version: float = 0.0
    sending_version: float = 0.0
    # When the first attempt was made, and the revision it carried (a platform that dedupes
    # by key may answer a later attempt with that first post).
    first_attempt_at: float = 0.0
    first_sending_version: float = 0.0
    delete_requested: bool = False
    note: str = ""
    history: tuple[dict[str, object], ...] = field(default_factory=tuple)

    def to_hash(self) -> dict[str, str]:
        """The Redis hash of this post (its history lives in a list of its own)."""
        # Every field but the history is a plain value: read them directly, where
        # ``dataclasses.asdict`` would deep-copy each one (a quarter of a millisecond a post).
        return {name: text_value(getattr(self, name)) for name in _HASH_FIELDS}

    @classmethod
    def from_hash(
        cls, data: Mapping[bytes | str, bytes | str], history: Sequence[bytes | str] = ()
    ) -> Post:
        """Read a post back from its Redis hash and history list."""
        d = decode_map(data)

        def number(name: str) -> float:
            return float(d.get(name) or 0)

        status = d.get("status", "planned")
        return cls(
            id=d.get("id", ""),
            channel=d.get("channel", ""),
            platform=d.get("platform", ""),
            article_id=d.get("article_id", ""),
            story_id=d.get("story_id", ""),
            text=d.get("text", ""),
            link=d.get("link", ""),
            language=d.get("language", ""),
            idempotency_key=d.get("idempotency_key", ""),
            title=d.get("title", ""),
            description=d.get("description", ""),
            image_url=d.get("image_url", ""),
            image_alt=d.get("image_alt", ""),
            last_error=d.get("last_error", ""),
            remote_id=d.get("remote_id", ""),
            remote_url=d.get("remote_url", ""),
            note=d.get("note", ""),
            status=PostStatus(status),
            attempts=int(d.get("attempts") or 0),
            resends=int(d.get("resends") or 0),
            approved=d.get("approved", "1") == "1",
            delete_requested=d.get("delete_requested", "0") == "1",
            history=tuple(json.loads(text_of(h)) for h in history),
            due_at=number("due_at"),
            created_at=number("created_at"),
            updated_at=number("updated_at"),
            sent_at=number("sent_at"),
            article_version=number("article_version"),
            sent_version=number("sent_version"),
            sending_version=number("sending_version"),
            first_attempt_at=number("first_attempt_at"),
            first_sending_version=number("first_sending_version"),
        )

    @property
    def needs_sync(self) -> bool:
        """Sent, but the platform does not show what it should (an edit or delete is owed)."""
        return self.status == PostStatus.SENT and (
            self.delete_requested or self.article_version > self.sent_version
        )


# The fields of a post's Redis hash, in declaration order.
_HASH_FIELDS = tuple(f.name for f in fields(Post) if f.name != "history")


@dataclass(frozen=True)
class Claim:
    """A sender's claim on a post: who, when, for how long."""

    post_id: str
    owner: str
    now: float
    lease: float
    # Refuse a post due later than this (one moved later since its message was released).
    due_by: float | None = None


def post_id_for(channel: str, article_id: str) -> str:
    """The deterministic id of an article's post on a channel."""
    return f"{channel}--{article_id}"
