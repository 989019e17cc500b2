"""Threads posts through the Threads Graph API, with httpx.

Publishing takes two calls: ``POST /{user-id}/threads`` makes a media container (nothing is
public yet), then ``POST /{user-id}/threads_publish`` publishes it. A failure in the first
step is therefore safe to retry; once the container exists, a lost answer to the publish
call leaves the outcome unknown, an :class:`UncertainOutcome` reconciled by
:meth:`ThreadsAdapter.find`. Profiles may publish 250 posts per 24 hours; the quota is read
before each post so the limit is respected before Threads enforces it.
"""

from __future__ import annotations

import time
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

__all__ = ["ThreadsAdapter"]

_RATE_CODES = frozenset({4, 17, 32, 613})
_DEFAULT_QUOTA = 250
_DEFAULT_RETRY_AFTER = 3600.0
_FIND_LIMIT = 25
# Image containers are processed asynchronously; Meta suggests waiting before publishing.
_CONTAINER_WAIT = 30.0
_POLL_INTERVAL = 1.0


class ThreadsAdapter(GraphAdapter):
    """One Threads profile.

    Credentials: ``access_token``. Options: ``user_id``, ``api_version`` (``v1.0``).
    """

    name: ClassVar[str] = "threads"
    idempotent: ClassVar[bool] = False
    can_edit: ClassVar[bool] = False
    credential_key: ClassVar[str] = "access_token"
    node_option: ClassVar[str] = "user_id"
    default_base_url: ClassVar[str] = "https://graph.threads.net"
    default_version: ClassVar[str] = "v1.0"

    # -- the Protocol ---------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Check the quota, create a container, publish it, and read its permalink."""
        used, total = self.quota()
        if used >= total:
            raise RateLimited(
                "threads",
                f"threads_publishing_limit: {used} of {total} posts used in 24 h",
                retry_after=_DEFAULT_RETRY_AFTER,
                status=None,
            )
        image = post.media[0] if post.media and post.media[0].url else None
        params: dict[str, str] = {"text": post.text}
        if image is not None and image.url:
            # Threads downloads the image itself, so it needs the public URL, not bytes.
            params.update(media_type="IMAGE", image_url=image.url)
            if image.alt_text:
                params["alt_text"] = image.alt_text
        else:
            params["media_type"] = "TEXT"
        # Creating a container publishes nothing, so its failures are plainly retryable.
        container = self._request("POST", f"/{self._node_id}/threads", data=params, writes=False)
        container_id = container.get("id")
        if not isinstance(container_id, str):
            raise TransientError("threads", "POST threads: answer has no container id")
        if image is not None:
            self._wait_for_container(container_id)
        try:
            published = self._request(
                "POST",
                f"/{self._node_id}/threads_publish",
                data={"creation_id": container_id},
                writes=True,
            )
        except UncertainOutcome as exc:
            raise UncertainOutcome(
                "threads",
                f"container {container_id} created; {str(exc).removeprefix('threads: ')}",
                status=exc.status,
            ) from None
        media_id = published.get("id")
        if not isinstance(media_id, str):
            raise UncertainOutcome("threads", f"container {container_id}: publish gave no id")
        self._rate = RateInfo(limit=total, remaining=max(0, total - used - 1))
        return PostResult(remote_id=media_id, url=self._permalink(media_id))

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Threads posts cannot be edited through the API."""
        raise PermanentError("threads", "edit: the Threads API cannot edit a post")

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Look for the post among the profile's recent threads, by text or link."""
        body = self._request(
            "GET",
            f"/{self._node_id}/threads",
            params={"fields": "id,text,permalink", "limit": str(_FIND_LIMIT)},
            writes=False,
        )
        entries = body.get("data")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping):
                continue
            text = entry.get("text")
            if isinstance(text, str) and (text == post.text or (post.link and post.link in text)):
                permalink = entry.get("permalink")
                return PostResult(
                    remote_id=str(entry.get("id", "")),
                    url=permalink if isinstance(permalink, str) else None,
                )
        return None

    def verify(self) -> str:
        """Read ``GET /me`` and return the profile's username."""
        body = self._request("GET", "/me", params={"fields": "id,username"}, writes=False)
        username = body.get("username")
        return f"@{username}" if isinstance(username, str) else self._node_id

    def rate_info(self) -> RateInfo:
        """The publishing quota as last read: ``limit`` posts per 24 h, ``remaining`` left."""
        return self._rate

    def quota(self) -> tuple[int, int]:
        """Read ``threads_publishing_limit`` and return (posts used, posts allowed) in 24 h."""
        body = self._request(
            "GET",
            f"/{self._node_id}/threads_publishing_limit",
            params={"fields": "quota_usage,config"},
            writes=False,
        )
        entries = body.get("data")
        first = entries[0] if isinstance(entries, list) and entries else {}
        used = as_int(first.get("quota_usage")) if isinstance(first, Mapping) else None
        config = first.get("config") if isinstance(first, Mapping) else None
        total = as_int(config.get("quota_total")) if isinstance(config, Mapping) else None
        used = used or 0
        total = total or _DEFAULT_QUOTA
        self._rate = RateInfo(limit=total, remaining=max(0, total - used))
        return used, total

    # -- HTTP -----------------------------------------------------------------------------

    def _wait_for_container(self, container_id: str) -> None:
        """Poll an image container until Threads has fetched and processed the image."""
        deadline = time.monotonic() + _CONTAINER_WAIT
        while True:
            body = self._request(
                "GET", f"/{container_id}", params={"fields": "status,error_message"}, writes=False
            )
            status = body.get("status")
            if status in ("FINISHED", None):
                return
            if status in ("ERROR", "EXPIRED"):
                raise PermanentError(
                    "threads", f"container {container_id}: {body.get('error_message', status)}"
                )
            if time.monotonic() > deadline:
                raise TransientError("threads", f"container {container_id}: still {status}")
            time.sleep(_POLL_INTERVAL)

    def _permalink(self, media_id: str) -> str | None:
        try:
            body = self._request(
                "GET", f"/{media_id}", params={"fields": "permalink"}, writes=False
            )
        except PlatformError:
            # The post is out; a missing permalink must not turn success into failure.
            return None
        permalink = body.get("permalink")
        return permalink if isinstance(permalink, str) else None

    def _error(
        self, action: str, response: httpx.Response, body: object, *, writes: bool
    ) -> PlatformError:
        status = response.status_code
        error = body.get("error") if isinstance(body, Mapping) else None
        code: int | None = None
        message = f"HTTP {status}"
        if isinstance(error, Mapping):
            code = as_int(error.get("code"))
            message = f"{error.get('message', message)} (code {code})"
        message = f"{action}: {self._redact(message)}"
        if code in _RATE_CODES or status == 429:
            self._rate = RateInfo(limit=self._rate.limit, remaining=0)
            return RateLimited("threads", message, retry_after=_DEFAULT_RETRY_AFTER, status=status)
        if status >= 500:
            if writes:
                return UncertainOutcome("threads", message, status=status)
            return TransientError("threads", message, status=status)
        # 190 token, 10/200 permission, 100 invalid parameter: a retry cannot help.
        return PermanentError("threads", message, status=status)
