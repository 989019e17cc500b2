"""The X adapter: tweepy's v2 ``Client`` with OAuth 1.0a user context.

Pointing tweepy at a base URL: ``tweepy.Client.request`` builds every URL from the literal
``"https://api.twitter.com"`` (``tweepy.API`` likewise prefixes ``https://`` to its hosts), so
neither offers a base-URL option. The adapter leaves tweepy's request code alone and mounts a
``requests`` transport adapter (:class:`_BaseURLTransport`) on the client's session for the
two X hosts; it rewrites scheme, host and port to ``settings.base_url`` just before the request
goes out, and supplies the timeout tweepy never passes. The OAuth 1.0a signature is still
computed over the ``api.twitter.com`` URL, which is what a transparent proxy in front of X
needs and what the sandbox ignores.

Error mapping (retries belong to the task layer):

=========================================  ==============================================
429                                        :class:`RateLimited` (``x-rate-limit-reset``)
5xx; connection refused or DNS failure     :class:`TransientError`
dropped connection or read timeout after   :class:`UncertainOutcome` for ``post`` (X has no
sending                                    idempotency key); :class:`TransientError` else
401, 403, 400, other 4xx                   :class:`PermanentError` with X's message
403 duplicate content on ``post``          the matching recent post if :meth:`find` sees
                                           it, else :class:`PermanentError`
=========================================  ==============================================
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

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

__all__ = ["XAdapter"]

NAME = "x"
CREDENTIAL_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
X_HOSTS = ("https://api.twitter.com/", "https://upload.twitter.com/")
# Used when a 429 carries no usable reset header: X's windows are 15 minutes long.
DEFAULT_RETRY_AFTER = 900.0
MAX_MEDIA = 4


class _BaseURLTransport(HTTPAdapter):
    """Sends requests addressed to X's fixed hosts to ``base_url``, with a default timeout."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(max_retries=0)
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None
        self._timeout = timeout

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Rewrite the URL to the base URL, add the timeout, and send."""
        if self._base is not None:
            url = urlsplit(request.url)
            request.url = urlunsplit(
                (
                    self._base.scheme,
                    self._base.netloc,
                    self._base.path + url.path,
                    url.query,
                    "",
                )
            )
        if kwargs.get("timeout") is None:
            # tweepy's Client never passes a timeout; without one a silent server hangs a worker.
            kwargs["timeout"] = self._timeout
        return super().send(request, *args, **kwargs)


def _route(session: Any, base_url: str | None, timeout: float) -> None:
    transport = _BaseURLTransport(base_url, timeout)
    for prefix in X_HOSTS:
        session.mount(prefix, transport)


def _rate_from(headers: Mapping[str, str] | None) -> RateInfo | None:
    if not headers or "x-rate-limit-reset" not in headers:
        return None

    def number(name: str) -> int | None:
        try:
            return int(headers[name])
        except (KeyError, ValueError):
            return None

    reset = number("x-rate-limit-reset")
    return RateInfo(
        limit=number("x-rate-limit-limit"),
        remaining=number("x-rate-limit-remaining"),
        reset_at=float(reset) if reset is not None else None,
    )


def _message_of(exc: tweepy.HTTPException) -> str:
    """X's own words: v2 problem ``detail``, else v1.1 ``errors[].message``, else the status."""
    response = exc.response
    status = f"{response.status_code} {response.reason}".strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            return f"{status}: {body['detail']}"
        if isinstance(body.get("title"), str):
            return f"{status}: {body['title']}"
    if exc.api_messages:
        return f"{status}: {'; '.join(str(m) for m in exc.api_messages)}"
    return status


class XAdapter:
    """One X account, posting through tweepy's ``Client`` (OAuth 1.0a user context).

    ``settings.credentials`` needs ``consumer_key``, ``consumer_secret``, ``access_token`` and
    ``access_token_secret``. ``settings.base_url`` (for the sandbox or a proxy) replaces
    ``https://api.twitter.com`` and ``https://upload.twitter.com``. Options:
    ``username`` (used in post URLs, else ``x.com/i/web/status/<id>``) and
    ``reconcile_count`` (how many recent posts :meth:`find` reads, 5 to 100, default 100).
    """

    name: ClassVar[str] = NAME
    idempotent: ClassVar[bool] = False
    can_edit: ClassVar[bool] = False

    def __init__(self, settings: AdapterSettings) -> None:
        missing = [key for key in CREDENTIAL_KEYS if not settings.credentials.get(key)]
        if missing:
            raise PermanentError(NAME, f"credentials.{missing[0]}: missing")
        self._base_url = settings.base_url
        self._timeout = settings.timeout
        # Scrubbing a two-letter "secret" would mangle messages; real ones are long.
        self._secrets = tuple(
            value for key in CREDENTIAL_KEYS if len(value := settings.credentials[key]) >= 8
        )
        credentials = {key: settings.credentials[key] for key in CREDENTIAL_KEYS}
        # return_type=requests.Response keeps the headers, which carry the rate-limit state.
        self._client = tweepy.Client(**credentials, return_type=requests.Response)
        _route(self._client.session, settings.base_url, settings.timeout)
        self._credentials = credentials
        self._api: Any = None
        self._username = settings.options.get("username", "")
        self._user_id: str | None = settings.options.get("user_id") or None
        self._reconcile_count = max(5, min(100, int(settings.options.get("reconcile_count", 100))))
        self._rate = RateInfo()

    def __repr__(self) -> str:
        return f"XAdapter(base_url={self._base_url!r})"

    # -- Platform -----------------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Create the tweet, uploading its images first; never retried here."""
        media_ids = [self._upload(media) for media in post.media[:MAX_MEDIA]]
        try:
            response = self._call(
                "post",
                lambda: self._client.create_tweet(
                    text=post.text, media_ids=media_ids or None, user_auth=True
                ),
                creating=True,
            )
        except PermanentError as exc:
            # X refuses identical text with 403 "duplicate content" and no id. The usual cause
            # is an earlier attempt whose answer was lost, so look before calling it a failure.
            if exc.status == 403 and "duplicate" in str(exc).lower():
                found = self.find(post)
                if found is not None:
                    return found
                # X says the text is out there but the listing does not show it (yet):
                # neither sent-with-an-id nor failed, so it is reconciled later.
                raise UncertainOutcome(
                    NAME, "duplicate content refused, but no recent tweet matches it"
                ) from None
            raise
        tweet_id = str(response.json()["data"]["id"])
        return PostResult(remote_id=tweet_id, url=self._url(tweet_id))

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """X's API offers no edit; always raises :class:`PermanentError`."""
        raise PermanentError(NAME, "edit: not supported by the X API")

    def delete(self, remote_id: str) -> None:
        """Delete the tweet; one already gone is not an error."""
        try:
            self._call("delete", lambda: self._client.delete_tweet(remote_id, user_auth=True))
        except PermanentError as exc:
            if exc.status != 404:
                raise

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Look for ``post.link`` (or the exact text) among the account's recent tweets.

        X shortens links to t.co in a tweet's text, so the link is matched against
        ``entities.urls[].expanded_url``.
        """
        user_id = self._user_id or self._me()["id"]
        response = self._call(
            "find",
            lambda: self._client.get_users_tweets(
                user_id,
                max_results=self._reconcile_count,
                tweet_fields=["entities", "created_at"],
                user_auth=True,
            ),
        )
        for tweet in response.json().get("data", []):
            urls = tweet.get("entities", {}).get("urls", [])
            expanded = {u.get("expanded_url") for u in urls} | {u.get("url") for u in urls}
            if (post.link and post.link in expanded) or tweet.get("text") == post.text:
                return PostResult(remote_id=str(tweet["id"]), url=self._url(str(tweet["id"])))
        return None

    def verify(self) -> str:
        """Check the credentials with ``GET /2/users/me``; return ``@username``."""
        return "@" + str(self._me()["username"])

    def rate_info(self) -> RateInfo:
        """The ``x-rate-limit-*`` headers of the last response."""
        return self._rate

    # -- internals ----------------------------------------------------------------------------

    def _me(self) -> dict[str, Any]:
        response = self._call("verify", lambda: self._client.get_me(user_auth=True))
        user: dict[str, Any] = response.json()["data"]
        self._user_id = str(user["id"])
        return user

    def _url(self, tweet_id: str) -> str:
        return f"https://x.com/{self._username or 'i/web'}/status/{tweet_id}"

    def _upload(self, media: Media) -> str:
        """Upload one image with the v1.1 endpoint tweepy supports, then set its alt text."""
        if self._api is None:
            auth = tweepy.OAuth1UserHandler(**self._credentials)
            self._api = tweepy.API(auth, timeout=self._timeout)
            _route(self._api.session, self._base_url, self._timeout)
        api = self._api
        # simple_upload, not media_upload: the latter imports the deprecated imghdr module.
        uploaded = self._call(
            "media",
            lambda: api.simple_upload(media.filename, file=io.BytesIO(media.data)),
        )
        media_id = str(uploaded.media_id_string)
        if media.alt_text:
            self._call("media", lambda: api.create_media_metadata(media_id, media.alt_text))
        return media_id

    def _call(self, action: str, call: Callable[[], Any], *, creating: bool = False) -> Any:
        """Run one tweepy call and map its failure to exactly one of our errors.

        ``creating`` marks the call that creates the tweet: only there does a lost answer make
        the outcome unknown. Errors are raised ``from None`` because tweepy's exceptions hold
        the request, whose ``Authorization`` header carries the consumer key and access token.
        """
        try:
            result = call()
        except tweepy.HTTPException as exc:
            self._remember(exc.response.headers)
            raise self._http_error(action, exc) from None
        except requests.RequestException as exc:
            kind = describe_network_error(exc)
            if creating and not failed_before_sending(exc):
                raise UncertainOutcome(
                    NAME, f"{action}: no answer after sending ({kind}); reconcile before retrying"
                ) from None
            raise TransientError(NAME, f"{action}: network error ({kind})") from None
        self._remember(getattr(result, "headers", None))
        return result

    def _http_error(self, action: str, exc: tweepy.HTTPException) -> PlatformError:
        status = int(exc.response.status_code)
        message = self._scrub(f"{action}: {_message_of(exc)}")
        if status == 429:
            rate = _rate_from(exc.response.headers)
            retry_after = DEFAULT_RETRY_AFTER
            if rate is not None and rate.reset_at is not None:
                retry_after = max(1.0, rate.reset_at - time.time())
            return RateLimited(NAME, message, retry_after=retry_after)
        if status >= 500:
            return TransientError(NAME, message, status=status)
        return PermanentError(NAME, message, status=status)

    def _remember(self, headers: Mapping[str, str] | None) -> None:
        rate = _rate_from(headers)
        if rate is not None:
            self._rate = rate

    def _scrub(self, message: str) -> str:
        # X never echoes credentials, but a message must not carry one even if a proxy does.
        for secret in self._secrets:
            message = message.replace(secret, "[redacted]")
        return message
