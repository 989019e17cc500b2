"""The Mastodon adapter: Mastodon.py against the channel's instance.

Mastodon.py is built with ``ratelimit_method="throw"`` (its default, "wait", would sleep inside a
worker until the window resets) and with a known ``mastodon_version`` and
``version_check_mode="none"``, so constructing the client makes no request at all.

Every post carries ``Idempotency-Key: post.idempotency_key``: Mastodon returns the status first
created with that key for an hour, so re-sending after a lost answer cannot duplicate. That is
why the adapter is ``idempotent`` and why a connection lost after sending is a
:class:`TransientError` here rather than an :class:`UncertainOutcome`.

Error mapping (retries belong to the task layer):

==========================================  =============================================
429                                         :class:`RateLimited` (``X-RateLimit-Reset``)
5xx; any network error (with a key)         :class:`TransientError`
network error after sending, without a key  :class:`UncertainOutcome`
401, 403, 422, other 4xx                    :class:`PermanentError` with the server's
                                            ``error`` message
==========================================  =============================================
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
)

from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms._http import describe_network_error, failed_before_sending
from syndication.platforms.base import (
    AdapterSettings,
    Media,
    OutgoingPost,
    PostResult,
    RateInfo,
)

__all__ = ["MastodonAdapter"]

NAME = "mastodon"
# Assumed server version: recent enough for every endpoint used (v2 media, edits, v2 instance).
DEFAULT_VERSION = "4.3.0"
# Used when a 429 carries no usable reset header: Mastodon's windows are 5 minutes long.
DEFAULT_RETRY_AFTER = 300.0
DEFAULT_LIMITS = (500, 23)
MAX_MEDIA = 4
RECONCILE_COUNT = 40

T = TypeVar("T")


class MastodonAdapter:
    """One Mastodon account, posting through Mastodon.py.

    ``settings.base_url`` is the instance (``https://mastodon.social``); it is required.
    ``settings.credentials["access_token"]`` is the account's token (scope ``write:statuses``,
    ``write:media``, ``read:accounts``, ``read:statuses``). Options: ``mastodon_version``
    (assumed server version, default 4.3.0) and ``visibility`` (default ``public``).
    """

    name: ClassVar[str] = NAME
    idempotent: ClassVar[bool] = True
    can_edit: ClassVar[bool] = True

    def __init__(self, settings: AdapterSettings) -> None:
        token = settings.credentials.get("access_token")
        if not token:
            raise PermanentError(NAME, "credentials.access_token: missing")
        if not settings.base_url:
            raise PermanentError(NAME, "base_url: required (the instance's URL)")
        self._base_url = settings.base_url.rstrip("/")
        self._token = token
        self._visibility = settings.options.get("visibility", "public")
        self._api = Mastodon(
            access_token=token,
            api_base_url=self._base_url,
            ratelimit_method="throw",
            request_timeout=settings.timeout,
            mastodon_version=settings.options.get("mastodon_version", DEFAULT_VERSION),
            version_check_mode="none",
        )
        self._account_id: str | None = None
        self._limits: tuple[int, int] | None = None
        self._rate = RateInfo()

    def __repr__(self) -> str:
        return f"MastodonAdapter(base_url={self._base_url!r})"

    # -- Platform -----------------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Publish the status with ``Idempotency-Key: post.idempotency_key``."""
        media_ids = [self._upload(media) for media in post.media[:MAX_MEDIA]]
        status = self._call(
            "post",
            lambda: self._api.status_post(
                post.text,
                media_ids=media_ids or None,
                language=post.language or None,
                visibility=self._visibility,
                idempotency_key=post.idempotency_key or None,
            ),
            creating=True,
            keyed=bool(post.idempotency_key),
        )
        return _result(status)

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Replace the status's text in place (``PUT /api/v1/statuses/:id``)."""
        status = self._call("edit", lambda: self._api.status_update(remote_id, post.text))
        return _result(status)

    def delete(self, remote_id: str) -> None:
        """Delete the status; one already gone is not an error."""
        try:
            self._call("delete", lambda: self._api.status_delete(remote_id))
        except PermanentError as exc:
            if exc.status != 404:
                raise

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Look for ``post.link`` among the account's last 40 statuses.

        Needed only when the idempotency key's hour has passed; within it, re-sending with the
        same key is the cheaper way to learn the outcome.
        """
        account_id = self._account_id or str(self._me()["id"])
        statuses = self._call(
            "find", lambda: self._api.account_statuses(account_id, limit=RECONCILE_COUNT)
        )
        for status in statuses:
            content = html.unescape(str(status.get("content") or ""))
            card = status.get("card") or {}
            if (post.link and (post.link in content or card.get("url") == post.link)) or (
                not post.link and post.text and post.text in content
            ):
                return _result(status)
        return None

    def verify(self) -> str:
        """Check the token with ``verify_credentials``; return ``@acct``."""
        return "@" + str(self._me()["acct"])

    def rate_info(self) -> RateInfo:
        """The ``X-RateLimit-*`` headers Mastodon.py read from the last response."""
        return self._rate

    def text_limits(self) -> tuple[int, int]:
        """The instance's ``(max_characters, characters_reserved_per_url)``, cached.

        Read from ``GET /api/v2/instance``; falls back to v1 for older servers and to Mastodon's
        defaults (500, 23) when the instance does not say.
        """
        if self._limits is None:
            try:
                instance = self._call("instance", self._api.instance_v2)
            except PermanentError:
                instance = self._call("instance", self._api.instance_v1)
            statuses = (instance.get("configuration") or {}).get("statuses") or {}
            self._limits = (
                int(statuses.get("max_characters") or DEFAULT_LIMITS[0]),
                int(statuses.get("characters_reserved_per_url") or DEFAULT_LIMITS[1]),
            )
        return self._limits

    # -- internals ----------------------------------------------------------------------------

    def _me(self) -> Any:
        account = self._call("verify", self._api.account_verify_credentials)
        self._account_id = str(account["id"])
        return account

    def _upload(self, media: Media) -> str:
        """Upload one image; its alt text becomes the attachment's description."""
        attachment = self._call(
            "media",
            lambda: self._api.media_post(
                media.data,
                mime_type=media.content_type,
                description=media.alt_text or None,
                file_name=media.filename,
            ),
        )
        return str(attachment["id"])

    def _call(
        self, action: str, call: Callable[[], T], *, creating: bool = False, keyed: bool = False
    ) -> T:
        """Run one Mastodon.py call and map its failure to exactly one of our errors.

        ``creating`` marks the call that creates the status and ``keyed`` says it carries an
        idempotency key. Errors are raised ``from None`` so that nothing from the request (its
        ``Authorization`` header) rides along on the exception chain.
        """
        try:
            result = call()
        except MastodonRatelimitError:
            self._remember()
            raise RateLimited(
                NAME, f"{action}: rate limit reached", retry_after=self._retry_after()
            ) from None
        except MastodonNetworkError as exc:
            self._remember()
            raise self._network_error(action, exc, creating=creating, keyed=keyed) from None
        except MastodonAPIError as exc:
            self._remember()
            raise self._api_error(action, exc, creating=creating, keyed=keyed) from None
        self._remember()
        return result

    def _network_error(
        self, action: str, exc: MastodonNetworkError, *, creating: bool, keyed: bool
    ) -> PlatformError:
        # Mastodon.py re-raises the requests exception's text only; the cause is on __context__.
        cause = exc.__context__ or exc
        kind = describe_network_error(cause)
        if creating and not keyed and not failed_before_sending(cause):
            return UncertainOutcome(
                NAME, f"{action}: no answer after sending ({kind}); reconcile before retrying"
            )
        if creating and not failed_before_sending(cause):
            return TransientError(
                NAME, f"{action}: no answer after sending ({kind}); safe to resend with the key"
            )
        return TransientError(NAME, f"{action}: network error ({kind})")

    def _api_error(
        self, action: str, exc: MastodonAPIError, *, creating: bool, keyed: bool
    ) -> PlatformError:
        # Mastodon.py raises MastodonAPIError('Mastodon API returned error', status, reason,
        # error); an unparseable success body raises it with only a message.
        args = exc.args
        status = args[1] if len(args) >= 2 and isinstance(args[1], int) else None
        if status is None:
            message = self._scrub(f"{action}: unreadable response")
            if creating and not keyed:
                return UncertainOutcome(NAME, message)
            return TransientError(NAME, message)
        reason = str(args[2]) if len(args) >= 3 and args[2] else ""
        detail = str(args[3]) if len(args) >= 4 and args[3] else ""
        text = f"{status} {reason}".strip() + (f": {detail}" if detail else "")
        message = self._scrub(f"{action}: {text}")
        if status == 429:
            return RateLimited(NAME, message, retry_after=self._retry_after())
        if isinstance(exc, MastodonServerError) or status >= 500 or status == 408:
            return TransientError(NAME, message, status=status)
        return PermanentError(NAME, message, status=status)

    def _retry_after(self) -> float:
        reset = self._api.ratelimit_reset
        if reset is None:
            return DEFAULT_RETRY_AFTER
        return max(1.0, float(reset) - time.time())

    def _remember(self) -> None:
        # Mastodon.py parses X-RateLimit-* into these attributes on every response, converting
        # the ISO reset time to local Unix time (adjusted by the server's Date header). Until a
        # response carried them, the attributes hold Mastodon.py's guesses, not the server's.
        if self._api.ratelimit_lastcall is None:
            return
        reset = self._api.ratelimit_reset
        self._rate = RateInfo(
            limit=self._api.ratelimit_limit,
            remaining=self._api.ratelimit_remaining,
            reset_at=float(reset) if reset is not None else None,
        )

    def _scrub(self, message: str) -> str:
        # A server's error text should never echo the token, but a message must not carry it.
        if len(self._token) >= 8:
            message = message.replace(self._token, "[redacted]")
        return message


def _result(status: Any) -> PostResult:
    url = status.get("url") or status.get("uri")
    return PostResult(remote_id=str(status["id"]), url=str(url) if url else None)
