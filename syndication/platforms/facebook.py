"""Facebook Page posts through the Graph API, with httpx.

The Page access token travels in the ``Authorization`` header, never in a URL, so it cannot
surface in an httpx exception. The Graph API has no idempotency key and has been seen to
answer 5xx after publishing, so a 5xx or a timeout on a write is an
:class:`UncertainOutcome`, reconciled by looking for the link among the Page's published
posts (:meth:`FacebookAdapter.find`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import ClassVar

import httpx

from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import AdapterSettings, OutgoingPost, PostResult, RateInfo

__all__ = ["FacebookAdapter"]

_DEFAULT_BASE_URL = "https://graph.facebook.com"
_DEFAULT_VERSION = "v21.0"
# Application (4), user (17), Page/BUC (32, 80001) and API-specific (613) throttling.
_RATE_CODES = frozenset({4, 17, 32, 613, 80001})
# Throttling lasts minutes to an hour; without a header saying how long, wait this much.
_DEFAULT_RETRY_AFTER = 300.0
# How many recent posts find() reads; a reconciled post is minutes old.
_FIND_LIMIT = 25


def _as_int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class FacebookAdapter:
    """One Facebook Page.

    Credentials: ``page_access_token``. Options: ``page_id``, ``api_version`` (``v21.0``).
    """

    name: ClassVar[str] = "facebook"
    idempotent: ClassVar[bool] = False
    can_edit: ClassVar[bool] = True

    def __init__(self, settings: AdapterSettings) -> None:
        token = settings.credentials.get("page_access_token", "")
        page_id = settings.options.get("page_id", "")
        if not token:
            raise PermanentError("facebook", "credentials.page_access_token: missing")
        if not page_id:
            raise PermanentError("facebook", "options.page_id: missing")
        self._token = token
        self._page_id = page_id
        version = settings.options.get("api_version", _DEFAULT_VERSION)
        base = (settings.base_url or _DEFAULT_BASE_URL).rstrip("/")
        self._client = httpx.Client(
            base_url=f"{base}/{version}",
            timeout=settings.timeout,
            headers={"Authorization": f"Bearer {token}"},
        )
        self._rate = RateInfo()

    def __repr__(self) -> str:
        return f"FacebookAdapter(page_id={self._page_id!r})"

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    # -- the Protocol ---------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Publish a photo post when there is an image, else a link post to the feed."""
        if post.media:
            image = post.media[0]
            data = {"caption": post.text, "published": "true"}
            if image.url:
                # Facebook fetches a public URL itself, which spares uploading the bytes.
                body = self._request(
                    "POST", f"/{self._page_id}/photos", data={**data, "url": image.url}, writes=True
                )
            else:
                body = self._request(
                    "POST",
                    f"/{self._page_id}/photos",
                    data=data,
                    files={"source": (image.filename, image.data, image.content_type)},
                    writes=True,
                )
            # /photos answers the photo's id and, for a published photo, the feed post's id.
            remote_id = body.get("post_id") or body.get("id")
        else:
            data = {"message": post.text}
            if post.link:
                data["link"] = post.link
            body = self._request("POST", f"/{self._page_id}/feed", data=data, writes=True)
            remote_id = body.get("id")
        if not isinstance(remote_id, str):
            raise UncertainOutcome("facebook", "post: published, but the answer has no id")
        return PostResult(remote_id=remote_id, url=f"https://www.facebook.com/{remote_id}")

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Replace a Page post's message."""
        # Setting the same message twice is harmless, so an unknown outcome can be retried.
        self._request("POST", f"/{remote_id}", data={"message": post.text}, writes=False)
        return PostResult(remote_id=remote_id, url=f"https://www.facebook.com/{remote_id}")

    def delete(self, remote_id: str) -> None:
        """Delete a Page post; one already gone is not an error."""
        try:
            self._request("DELETE", f"/{remote_id}", writes=False)
        except PermanentError as exc:
            # Code 100 subcode 33: the object does not exist (or is no longer visible).
            if exc.status != 404 and "does not exist" not in str(exc):
                raise

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Look for the post among the Page's recent published posts, by link or message."""
        body = self._request(
            "GET",
            f"/{self._page_id}/published_posts",
            params={
                "fields": "id,message,permalink_url,attachments{unshimmed_url}",
                "limit": str(_FIND_LIMIT),
            },
            writes=False,
        )
        entries = body.get("data")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping) and self._matches(entry, post):
                remote_id = str(entry.get("id", ""))
                permalink = entry.get("permalink_url")
                return PostResult(
                    remote_id=remote_id,
                    url=permalink if isinstance(permalink, str) else None,
                )
        return None

    def verify(self) -> str:
        """Call ``GET /me`` with the Page token and return the Page's name."""
        body = self._request("GET", "/me", params={"fields": "id,name"}, writes=False)
        name = body.get("name")
        return name if isinstance(name, str) else str(body.get("id", "facebook page"))

    def rate_info(self) -> RateInfo:
        """Usage from the last ``X-App-Usage``/``X-Page-Usage`` header, as percent left."""
        return self._rate

    # -- HTTP -----------------------------------------------------------------------------

    @staticmethod
    def _matches(entry: Mapping[str, object], post: OutgoingPost) -> bool:
        message = entry.get("message")
        if isinstance(message, str) and (
            message == post.text or (post.link and post.link in message)
        ):
            return True
        attachments = entry.get("attachments")
        data = attachments.get("data") if isinstance(attachments, Mapping) else None
        for attachment in data if isinstance(data, list) else []:
            if (
                isinstance(attachment, Mapping)
                and post.link
                and (
                    attachment.get("unshimmed_url") == post.link
                    or attachment.get("url") == post.link
                )
            ):
                return True
        return False

    def _request(
        self,
        method: str,
        path: str,
        *,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        writes: bool,
    ) -> Mapping[str, object]:
        """Make one Graph API call and return its JSON object, or raise a mapped error.

        Args:
            writes: The call publishes something, so a lost answer leaves the outcome unknown.
        """
        action = f"{method} {path}"
        try:
            response = self._client.request(method, path, data=data, params=params, files=files)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(
                "facebook", f"{action}: could not connect ({exc.__class__.__name__})"
            ) from None
        except httpx.HTTPError as exc:
            error_class: type[PlatformError] = UncertainOutcome if writes else TransientError
            raise error_class(
                "facebook", f"{action}: no answer ({exc.__class__.__name__})"
            ) from None
        self._read_usage(response.headers)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, Mapping):
            return body
        raise self._error(action, response, body, writes=writes)

    def _read_usage(self, headers: httpx.Headers) -> None:
        for name in ("x-page-usage", "x-app-usage"):
            raw = headers.get(name)
            if not raw:
                continue
            try:
                usage = json.loads(raw)
            except ValueError:
                continue
            if isinstance(usage, Mapping):
                percents = [v for v in usage.values() if isinstance(v, int | float)]
                if percents:
                    used = int(max(percents))
                    self._rate = RateInfo(limit=100, remaining=max(0, 100 - used))
                    return

    def _retry_after(self, headers: httpx.Headers) -> float:
        """Minutes until access returns, from the business-use-case header when present."""
        raw = headers.get("x-business-use-case-usage")
        if raw:
            try:
                usage = json.loads(raw)
            except ValueError:
                usage = None
            if isinstance(usage, Mapping):
                for entries in usage.values():
                    for entry in entries if isinstance(entries, list) else []:
                        minutes = (
                            entry.get("estimated_time_to_regain_access")
                            if isinstance(entry, Mapping)
                            else None
                        )
                        if isinstance(minutes, int | float) and minutes > 0:
                            return float(minutes) * 60
        retry_after = headers.get("retry-after", "")
        return float(retry_after) if retry_after.isdigit() else _DEFAULT_RETRY_AFTER

    def _error(
        self, action: str, response: httpx.Response, body: object, *, writes: bool
    ) -> PlatformError:
        status = response.status_code
        error = body.get("error") if isinstance(body, Mapping) else None
        code: int | None = None
        message = f"HTTP {status}"
        transient_flag = False
        if isinstance(error, Mapping):
            code = _as_int(error.get("code"))
            message = str(error.get("message", message))
            subcode = _as_int(error.get("error_subcode"))
            transient_flag = error.get("is_transient") is True
            message = f"{message} (code {code}" + (f", subcode {subcode})" if subcode else ")")
        message = f"{action}: {message.replace(self._token, '[redacted]')}"
        if code in _RATE_CODES or status == 429:
            retry_after = self._retry_after(response.headers)
            return RateLimited("facebook", message, retry_after=retry_after, status=status)
        if status >= 500 or transient_flag or code in (1, 2):
            # A 5xx has been seen after a post was published, so a write's outcome is unknown.
            if writes:
                return UncertainOutcome("facebook", message, status=status)
            return TransientError("facebook", message, status=status)
        # 190 expired/invalid token, 10 and 200-299 permission, 368 blocked as abusive,
        # 506 duplicate post, 100 invalid parameter: a retry cannot change any of them.
        return PermanentError("facebook", message, status=status)
