"""The small Protocol every platform adapter implements, and the values it exchanges.

An adapter owns its client library (tweepy, Mastodon.py, atproto, httpx) and the base URL it
is given; it does one call per method, maps the platform's errors to exactly one of
:class:`~syndication.errors.TransientError`, :class:`~syndication.errors.RateLimited`,
:class:`~syndication.errors.PermanentError` or :class:`~syndication.errors.UncertainOutcome`,
and never retries (retries belong to the task layer). No credential ever appears in a
message, a ``repr`` or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from syndication.logging import remember_secrets


@dataclass(frozen=True)
class Media:
    """An image to attach, already fetched and checked against the platform's limits."""

    data: bytes = field(repr=False)
    content_type: str
    alt_text: str = ""
    filename: str = "image"
    # The image's public URL, for platforms that fetch it themselves (Threads, Facebook).
    url: str | None = None


@dataclass(frozen=True)
class OutgoingPost:
    """Exactly what is sent; stored in the ledger before the call, never varied on retry."""

    post_id: str
    text: str
    link: str
    language: str
    # Deterministic per article and channel: Mastodon's Idempotency-Key, Bluesky's rkey.
    idempotency_key: str
    title: str = ""
    description: str = ""
    media: tuple[Media, ...] = ()


@dataclass(frozen=True)
class PostResult:
    """What the platform answered: its id for the post and a public URL when it has one."""

    remote_id: str
    url: str | None = None
    # The platform already held this post, with an earlier text (a retry answered by the
    # first attempt's post): the sender records it as needing an edit.
    stale: bool = False


@dataclass(frozen=True)
class RateInfo:
    """Rate-limit state read from the last response's headers (all optional)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # Unix time


# Credential roles that name an account rather than unlock it (they appear in post URLs).
PUBLIC_ROLES = frozenset({"handle", "username"})


@dataclass(frozen=True)
class AdapterSettings:
    """What an adapter is built from: its base URL, credentials and platform options.

    ``credentials`` values come from the environment variables the channel names; the
    dataclass keeps them out of its ``repr``.
    """

    base_url: str | None = None
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    options: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 15.0

    def __post_init__(self) -> None:
        # Whatever a library logs or raises with these in it is scrubbed from then on.
        remember_secrets(v for k, v in self.credentials.items() if k not in PUBLIC_ROLES)


class Platform(Protocol):
    """One account on one platform."""

    name: ClassVar[str]
    # True when a retry after an unknown outcome cannot duplicate (idempotency key, rkey).
    idempotent: ClassVar[bool]
    # True when a sent post can be edited in place.
    can_edit: ClassVar[bool]

    def post(self, post: OutgoingPost) -> PostResult:
        """Publish ``post`` once."""
        ...

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Replace the text of a sent post (only when ``can_edit``)."""
        ...

    def delete(self, remote_id: str) -> None:
        """Delete a sent post; a post already gone is not an error."""
        ...

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Look for ``post`` among the account's recent posts (by its link or key).

        Used to reconcile an uncertain send. Returns ``None`` when it is not there; raises
        :class:`~syndication.errors.PermanentError` when the platform offers no way to look.
        """
        ...

    def verify(self) -> str:
        """Check the credentials against the platform; return the account's name."""
        ...

    def rate_info(self) -> RateInfo:
        """The rate-limit headers seen on the last call."""
        ...
