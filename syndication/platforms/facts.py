"""One table of platform facts: text rules, media limits, quotas, capabilities, adapter.

Every module that needs to know something about a platform reads it here: config validation
(which platforms exist), fitting (how text is counted and how much fits), images (what may be
attached), scheduling (published quotas), the sender and syncer (idempotency, edit, delete)
and the registry (where the adapter lives). A new platform is one adapter module plus one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "FACTS",
    "IMAGE_TYPES",
    "PLATFORMS",
    "Counting",
    "MediaLimits",
    "PlatformFacts",
    "Quota",
    "TextLimits",
    "facts_for",
]

IMAGE_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


@dataclass(frozen=True)
class MediaLimits:
    """What one platform accepts per post: how many images, how large, of which types."""

    count: int
    max_bytes: int
    types: frozenset[str]
    # Width plus height in pixels, where the platform documents a cap.
    max_dim_sum: int | None = None


# How a platform counts the length of a post: X's weighted count (URLs 23, CJK 2), Mastodon's
# (URLs at a fixed weight), grapheme clusters, UTF-16 code units, Threads' (emoji by UTF-8
# bytes), LinkedIn's (UTF-16 after escaping its little text format).
Counting: TypeAlias = Literal["x", "mastodon", "graphemes", "utf16", "threads", "linkedin"]


@dataclass(frozen=True)
class TextLimits:
    """How long a post may be and how the platform counts it."""

    max_length: int
    counting: Counting
    # What each URL counts where the platform weighs URLs at a fixed length.
    url_length: int = 23
    # A second limit in UTF-8 bytes (Bluesky).
    max_bytes: int | None = None
    # The limit when the text is a photo's caption (Telegram).
    caption_length: int | None = None


@dataclass(frozen=True)
class Quota:
    """A published per-account quota: at most ``posts`` in any ``window_seconds``."""

    window_seconds: int
    posts: int


@dataclass(frozen=True)
class PlatformFacts:
    """What one platform allows and guarantees."""

    name: str
    # "module:Class" of the adapter, imported only when a channel of the platform is built.
    adapter: str
    text: TextLimits
    media: MediaLimits
    quota: Quota | None
    # A sent post can be edited in place / deleted.
    can_edit: bool
    can_delete: bool
    # A retry after an unknown outcome cannot duplicate the post (idempotency key, record
    # key), for ``idempotency_window`` seconds after the first attempt (None: for ever).
    idempotent: bool = False
    idempotency_window: float | None = None
    # After an unknown outcome, a post the account listing does not show may be sent again:
    # the platform refuses a duplicate itself (X refuses identical text), or the listing is
    # the platform's own record of what was created (Mastodon, past its key's window).
    resend_when_absent: bool = False
    # The adapter shrinks an image over the size limit itself (so it is not refused).
    resizes_images: bool = False


FACTS: Mapping[str, PlatformFacts] = {
    f.name: f
    for f in (
        PlatformFacts(
            "x",
            "syndication.platforms.x:XAdapter",
            text=TextLimits(280, "x"),
            # Media upload: 5 MB per image, 4 per post.
            media=MediaLimits(4, 5 * 1024 * 1024, IMAGE_TYPES),
            # 300 posts (shared with reposts) per 3 h per user.
            quota=Quota(3 * 3600, 300),
            can_edit=False,
            can_delete=True,
            resend_when_absent=True,
        ),
        PlatformFacts(
            "mastodon",
            "syndication.platforms.mastodon:MastodonAdapter",
            # The instance's own limits are read from /api/v2/instance; these are defaults.
            text=TextLimits(500, "mastodon", url_length=23),
            # 4 attachments; the instance sets the size (16 MB since 4.3, 10 MB before), so the
            # older, smaller figure is the safe one.
            media=MediaLimits(4, 10 * 1024 * 1024, IMAGE_TYPES),
            # 300 requests per 5 min per account (a post is at least one request).
            quota=Quota(5 * 60, 300),
            can_edit=True,
            can_delete=True,
            idempotent=True,
            # Mastodon keeps an Idempotency-Key for one hour; stay well inside it.
            idempotency_window=3000.0,
            resend_when_absent=True,
        ),
        PlatformFacts(
            "facebook",
            "syndication.platforms.facebook:FacebookAdapter",
            text=TextLimits(63_206, "utf16"),
            # /photos: the Graph API reference asks for under 4 MB.
            media=MediaLimits(1, 4 * 1024 * 1024, IMAGE_TYPES),
            quota=None,
            can_edit=True,
            can_delete=True,
        ),
        PlatformFacts(
            "telegram",
            "syndication.platforms.telegram:TelegramAdapter",
            text=TextLimits(4096, "utf16", caption_length=1024),
            # sendPhoto: at most 10 MB, width + height at most 10000.
            media=MediaLimits(1, 10 * 1024 * 1024, IMAGE_TYPES, max_dim_sum=10_000),
            # About 20 messages per minute to one channel.
            quota=Quota(60, 20),
            can_edit=True,
            can_delete=True,
        ),
        PlatformFacts(
            "bluesky",
            "syndication.platforms.bluesky:BlueskyAdapter",
            text=TextLimits(300, "graphemes", max_bytes=3000),
            # Blobs: the lexicons cap images at 1,000,000 bytes; the adapter shrinks larger ones.
            media=MediaLimits(4, 1_000_000, frozenset({"image/jpeg", "image/png", "image/webp"})),
            # 5000 write points per hour, 3 points per created record.
            quota=Quota(3600, 5000 // 3),
            can_edit=True,
            can_delete=True,
            idempotent=True,
            resizes_images=True,
        ),
        PlatformFacts(
            "linkedin",
            "syndication.platforms.linkedin:LinkedInAdapter",
            text=TextLimits(3000, "linkedin"),
            # The adapter posts an article card without uploading an image.
            media=MediaLimits(0, 0, frozenset()),
            # About 150 posts per member per day (a third-party figure).
            quota=Quota(24 * 3600, 150),
            can_edit=True,
            can_delete=True,
        ),
        PlatformFacts(
            "threads",
            "syndication.platforms.threads:ThreadsAdapter",
            text=TextLimits(500, "threads"),
            # Threads fetches image_url itself: JPEG or PNG, at most 8 MB.
            media=MediaLimits(1, 8 * 1024 * 1024, frozenset({"image/jpeg", "image/png"})),
            # 250 API posts per 24 h per profile.
            quota=Quota(24 * 3600, 250),
            can_edit=False,
            can_delete=True,
        ),
    )
}

PLATFORMS: tuple[str, ...] = tuple(FACTS)


def facts_for(platform: str) -> PlatformFacts:
    """The facts of ``platform``; ``KeyError`` for an unknown one (config rejects those)."""
    return FACTS[platform]
