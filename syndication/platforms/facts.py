"""One table of platform facts: what each platform can do and where its adapter lives.

Every module that needs to know something about a platform reads it here (the registry, the
sender, the syncer, config validation), so a new platform is one adapter module plus one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["FACTS", "PLATFORMS", "PlatformFacts", "facts_for"]


@dataclass(frozen=True)
class PlatformFacts:
    """What one platform allows and guarantees."""

    name: str
    # "module:Class" of the adapter, imported only when a channel of the platform is built.
    adapter: str
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


FACTS: Mapping[str, PlatformFacts] = {
    f.name: f
    for f in (
        PlatformFacts(
            "x",
            "syndication.platforms.x:XAdapter",
            can_edit=False,
            can_delete=True,
            resend_when_absent=True,
        ),
        PlatformFacts(
            "mastodon",
            "syndication.platforms.mastodon:MastodonAdapter",
            can_edit=True,
            can_delete=True,
            idempotent=True,
            # Mastodon keeps an Idempotency-Key for one hour; stay well inside it.
            idempotency_window=3000.0,
            resend_when_absent=True,
        ),
        PlatformFacts(
            "telegram",
            "syndication.platforms.telegram:TelegramAdapter",
            can_edit=True,
            can_delete=True,
        ),
        PlatformFacts(
            "facebook",
            "syndication.platforms.facebook:FacebookAdapter",
            can_edit=True,
            can_delete=True,
        ),
        PlatformFacts(
            "bluesky",
            "syndication.platforms.bluesky:BlueskyAdapter",
            can_edit=True,
            can_delete=True,
            idempotent=True,
        ),
        PlatformFacts(
            "linkedin",
            "syndication.platforms.linkedin:LinkedInAdapter",
            can_edit=True,
            can_delete=True,
        ),
        PlatformFacts(
            "threads",
            "syndication.platforms.threads:ThreadsAdapter",
            can_edit=False,
            can_delete=True,
        ),
    )
}

PLATFORMS: tuple[str, ...] = tuple(FACTS)


def facts_for(platform: str) -> PlatformFacts:
    """The facts of ``platform``; ``KeyError`` for an unknown one (config rejects those)."""
    return FACTS[platform]
