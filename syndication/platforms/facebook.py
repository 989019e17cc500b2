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
from syndication.platforms._graph import GraphAdapter, as_int
from syndication.platforms.base import OutgoingPost, PostResult, RateInfo

__all__ = ["FacebookAdapter"]

# Application (4), user (17), Page/BUC (32, 80001) and API-specific (613) throttling.
_RATE_CODES = frozenset({4, 17, 32, 613, 80001})
# Throttling lasts minutes to an hour; without a header saying how long, wait this much.
_DEFAULT_RETRY_AFTER = 300.0
# How many recent posts find() reads; a reconciled post is minutes old.
_FIND_LIMIT = 25


class FacebookAdapter(GraphAdapter):
    """One Facebook Page.

    Credentials: ``page_access_token``. Options: ``page_id``, ``api_version`` (``v21.0``).
    """

    name: ClassVar[str] = "facebook"
    idempotent: ClassVar[bool] = False
    can_edit: ClassVar[bool] = True
    credential_key: ClassVar[str] = "page_access_token"
    node_option: ClassVar[str] = "page_id"
    default_base_url: ClassVar[str] = "https://graph.facebook.com"
    default_version: ClassVar[str] = "v21.0"

    # -- the Protocol ---------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Publish a photo post when there is an image, else a link post to the feed."""
        if post.media:
            image = post.media[0]
            data = {"caption": post.text, "published": "true"}
            if image.url:
                # Facebook fetches a public URL itself, which spares uploading the bytes.
                body = self._request(
                    "POST", f"/{self._node_id}/photos", data={**data, "url": image.url}, writes=True
                )
            else:
                body = self._request(
                    "POST",
                    f"/{self._node_id}/photos",
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
            body = self._request("POST", f"/{self._node_id}/feed", data=data, writes=True)
            remote_id = body.get("id")
        if not isinstance(remote_id, str):
            raise UncertainOutcome("facebook", "post: published, but the answer has no id")
        return PostResult(remote_id=remote_id, url=f"https://www.facebook.com/{remote_id}")

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Replace a Page post's message."""
        # Setting the same message twice is harmless, so an unknown outcome can be retried.
        self._request("POST", f"/{remote_id}", data={"message": post.text}, writes=False)
        return PostResult(remote_id=remote_id, url=f"https://www.facebook.com/{remote_id}")

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Look for the post among the Page's recent published posts, by link or message."""
        body = self._request(
            "GET",
            f"/{self._node_id}/published_posts",
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
            code = as_int(error.get("code"))
            message = str(error.get("message", message))
            subcode = as_int(error.get("error_subcode"))
            transient_flag = error.get("is_transient") is True
            message = f"{message} (code {code}" + (f", subcode {subcode})" if subcode else ")")
        message = f"{action}: {self._redact(message)}"
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
