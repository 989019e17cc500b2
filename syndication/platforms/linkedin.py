"""LinkedIn organisation posts through the versioned REST Posts API, with httpx.

Commentary is written in LinkedIn's "little text format", where ``\\ | { } @ [ ] ( ) < > # *
_ ~`` are markup. LinkedIn does not reject text with an unescaped one: it silently cuts the
post there, so every reserved character is escaped with a backslash, and hashtags become the
format's ``{hashtag|\\#|tag}`` template so they stay hashtags.

The Posts API has no idempotency key and no lookup by link here, so a 5xx or a timeout on
create is an :class:`UncertainOutcome` for an operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import quote

import httpx

from syndication.errors import (
    PermanentError,
    PlatformError,
    RateLimited,
    TransientError,
    UncertainOutcome,
)
from syndication.platforms.base import AdapterSettings, OutgoingPost, PostResult, RateInfo
from syndication.platforms.markup import RESERVED, escape_little_text, to_commentary

__all__ = ["RESERVED", "LinkedInAdapter", "escape_little_text", "to_commentary"]

_DEFAULT_BASE_URL = "https://api.linkedin.com"
_DEFAULT_VERSION = "202510"
# LinkedIn's daily post quotas reset at midnight UTC and 429s rarely say when; an hour is a
# retry interval that neither hammers the API nor loses the day.
_DEFAULT_RETRY_AFTER = 3600.0


class LinkedInAdapter:
    """One LinkedIn organisation page.

    Credentials: ``access_token`` (with ``w_organization_social``). Options:
    ``organization_id``, ``api_version`` (``YYYYMM``, default ``202510``).
    """

    name: ClassVar[str] = "linkedin"
    idempotent: ClassVar[bool] = False
    can_edit: ClassVar[bool] = True

    def __init__(self, settings: AdapterSettings) -> None:
        token = settings.credentials.get("access_token", "")
        organization = settings.options.get("organization_id", "")
        if not token:
            raise PermanentError("linkedin", "credentials.access_token: missing")
        if not organization:
            raise PermanentError("linkedin", "options.organization_id: missing")
        self._token = token
        self._organization = organization
        self._author = f"urn:li:organization:{organization}"
        self._client = httpx.Client(
            base_url=(settings.base_url or _DEFAULT_BASE_URL).rstrip("/"),
            timeout=settings.timeout,
            headers={
                "Authorization": f"Bearer {token}",
                "Linkedin-Version": settings.options.get("api_version", _DEFAULT_VERSION),
                "X-Restli-Protocol-Version": "2.0.0",
            },
        )
        self._rate = RateInfo()

    def __repr__(self) -> str:
        return f"LinkedInAdapter(author={self._author!r})"

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    # -- the Protocol ---------------------------------------------------------------------

    def post(self, post: OutgoingPost) -> PostResult:
        """Create an organisation post with the article as its content card."""
        body: dict[str, object] = {
            "author": self._author,
            "commentary": to_commentary(post.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if post.link:
            article: dict[str, str] = {"source": post.link}
            # The card's title and description are plain strings, not little text format.
            if post.title:
                article["title"] = post.title
            if post.description:
                article["description"] = post.description
            body["content"] = {"article": article}
        response = self._request("POST", "/rest/posts", json=body, writes=True)
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:
            raise UncertainOutcome("linkedin", "POST /rest/posts: created, but no x-restli-id")
        return PostResult(remote_id=urn, url=f"https://www.linkedin.com/feed/update/{urn}/")

    def edit(self, remote_id: str, post: OutgoingPost) -> PostResult:
        """Replace a post's commentary with a partial update."""
        self._request(
            "POST",
            f"/rest/posts/{quote(remote_id, safe='')}",
            json={"patch": {"$set": {"commentary": to_commentary(post.text)}}},
            headers={"X-RestLi-Method": "PARTIAL_UPDATE"},
            writes=False,
        )
        return PostResult(
            remote_id=remote_id, url=f"https://www.linkedin.com/feed/update/{remote_id}/"
        )

    def delete(self, remote_id: str) -> None:
        """Delete a post; one already gone (404) is not an error."""
        try:
            self._request("DELETE", f"/rest/posts/{quote(remote_id, safe='')}", writes=False)
        except PermanentError as exc:
            if exc.status != 404:
                raise

    def find(self, post: OutgoingPost) -> PostResult | None:
        """Not offered: an uncertain LinkedIn post goes to an operator."""
        raise PermanentError("linkedin", "find: no lookup of posts by link is implemented")

    def verify(self) -> str:
        """Read the organisation and return its localized name."""
        response = self._request("GET", f"/rest/organizations/{self._organization}", writes=False)
        body = self._json(response)
        name = body.get("localizedName") if body is not None else None
        return name if isinstance(name, str) else self._author

    def rate_info(self) -> RateInfo:
        """LinkedIn sends no rate headers on success; after a 429 this says when to retry."""
        return self._rate

    # -- HTTP -----------------------------------------------------------------------------

    @staticmethod
    def _json(response: httpx.Response) -> Mapping[str, object] | None:
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, Mapping) else None

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        writes: bool,
    ) -> httpx.Response:
        """Make one REST call, returning the response or raising a mapped error."""
        action = f"{method} {path}"
        try:
            response = self._client.request(method, path, json=json, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(
                "linkedin", f"{action}: could not connect ({exc.__class__.__name__})"
            ) from None
        except httpx.HTTPError as exc:
            error_class: type[PlatformError] = UncertainOutcome if writes else TransientError
            raise error_class(
                "linkedin", f"{action}: no answer ({exc.__class__.__name__})"
            ) from None
        if response.is_success:
            return response
        raise self._error(action, response, writes=writes)

    def _error(self, action: str, response: httpx.Response, *, writes: bool) -> PlatformError:
        status = response.status_code
        body = self._json(response)
        detail = str(body.get("message", "")) if body is not None else ""
        code = body.get("serviceErrorCode") if body is not None else None
        message = f"{action}: {detail or f'HTTP {status}'}"
        if code is not None:
            message += f" (serviceErrorCode {code})"
        message = message.replace(self._token, "[redacted]")
        if status == 429:
            raw = response.headers.get("retry-after", "")
            retry_after = float(raw) if raw.isdigit() else _DEFAULT_RETRY_AFTER
            self._rate = RateInfo(remaining=0)
            return RateLimited("linkedin", message, retry_after=retry_after, status=status)
        if status >= 500:
            if writes:
                return UncertainOutcome("linkedin", message, status=status)
            return TransientError("linkedin", message, status=status)
        # 401 token, 403 permission, 422 invalid content, 400/404: retrying cannot help.
        return PermanentError("linkedin", message, status=status)
