"""A local stand-in for the X API v2 subset that tweepy's ``Client`` uses.

Endpoints: ``POST /2/tweets``, ``DELETE /2/tweets/{id}``, ``GET /2/users/me``,
``GET /2/users/{id}/tweets`` (recent posts, for reconciliation) and the v1.1 media endpoints on
the upload host (``POST /1.1/media/upload.json``, ``POST /1.1/media/metadata/create.json``).

Behaviour copied from X:

* every request needs an ``Authorization`` header: OAuth 1.0a (``oauth_consumer_key``,
  ``oauth_token``, ``oauth_signature`` present; the signature is not checked) or a bearer token;
  a consumer key, access token or bearer token listed in ``bad_credentials`` gets X's 401 body;
* creating a post whose text equals a live post's text gets X's 403 "duplicate content";
* URLs in a post's text come back as ``https://t.co/...`` links in timelines, with the
  original in ``entities.urls[].expanded_url`` (so reconciliation must read the entities);
* every response carries ``x-rate-limit-limit``, ``x-rate-limit-remaining`` and
  ``x-rate-limit-reset`` (Unix time), counted per endpoint.

Use :meth:`XSandbox.rate_limit_next` to answer the next request with X's 429.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndication.testing.base import RateWindow, SandboxPost, SandboxServer, request_record

__all__ = ["XSandbox"]

_URL = re.compile(r"https?://\S+")
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


def _problem(status: int, detail: str) -> dict[str, Any]:
    return {"title": detail, "detail": detail, "type": "about:blank", "status": status}


class XSandbox(SandboxServer):
    """X API v2 (and v1.1 media upload) for one authenticated user.

    Args:
        bad_credentials: consumer keys, access tokens or bearer tokens answered with 401.
        username: the account's handle, returned by ``GET /2/users/me``.
        post_limit: the per-window limit reported for ``POST /2/tweets``.
        enforce_rate_limits: answer 429 once a window's limit is used up (off by default, so
            benchmarks can post thousands of times).
    """

    platform = "x"

    def __init__(
        self,
        *,
        bad_credentials: Iterable[str] = ("bad",),
        username: str = "sandbox_news",
        user_id: str = "1500000000000000001",
        post_limit: int = 200,
        enforce_rate_limits: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.bad_credentials = frozenset(bad_credentials)
        self.username = username
        self.user_id = user_id
        self._windows: dict[str, RateWindow] = {
            "POST /2/tweets": RateWindow(post_limit, 900, enforce=enforce_rate_limits),
            "DELETE /2/tweets": RateWindow(50, 900, enforce=enforce_rate_limits),
            "GET /2/users/me": RateWindow(75, 900, enforce=enforce_rate_limits),
            "GET /2/users/tweets": RateWindow(900, 900, enforce=enforce_rate_limits),
            "POST /1.1/media": RateWindow(500, 900, enforce=enforce_rate_limits),
        }
        self._media: dict[str, dict[str, Any]] = {}
        # Snowflake-like ids: big, increasing, unique within the run.
        self._snowflakes = itertools.count(1_900_000_000_000_000_000 + int(time.time()) * 1000)

    def next_id(self) -> str:
        """A snowflake-shaped tweet id."""
        return str(next(self._snowflakes))

    # -- faults -------------------------------------------------------------------------------

    def rate_limit_next(
        self, reset_in: float = 60.0, count: int = 1, *, path: str | None = None
    ) -> float:
        """Answer the next ``count`` requests with X's 429; return the reset Unix time sent."""
        reset_at = int(time.time() + reset_in)
        self.fail_next(
            429,
            headers={
                "x-rate-limit-limit": "200",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset_at),
            },
            body=TOO_MANY,
            count=count,
            path=path,
        )
        return float(reset_at)

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """X API v2 routes and the v1.1 media upload routes."""
        return [
            Route("/2/tweets", self._create, methods=["POST"]),
            Route("/2/tweets/{tweet_id}", self._delete, methods=["DELETE"]),
            Route("/2/users/me", self._me, methods=["GET"]),
            Route("/2/users/{user_id}/tweets", self._timeline, methods=["GET"]),
            Route("/1.1/media/upload.json", self._upload, methods=["POST"]),
            Route("/1.1/media/metadata/create.json", self._metadata, methods=["POST"]),
        ]

    def _window_key(self, request: Request) -> str:
        path = request.url.path
        if path.startswith("/1.1/media"):
            return "POST /1.1/media"
        if path.startswith("/2/tweets"):
            return f"{request.method} /2/tweets"
        if path == "/2/users/me":
            return "GET /2/users/me"
        return "GET /2/users/tweets"

    def _gate(self, request: Request) -> tuple[dict[str, str], Response | None]:
        """Count the request against its window and check its credentials.

        Returns the rate headers and, when the request must be refused, the refusal.
        """
        limit, remaining, reset_at, allowed = self._windows[self._window_key(request)].hit()
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(reset_at)),
        }
        if not allowed:
            return headers, self.json(request, TOO_MANY, 429, headers)
        if not self._authorized(request.headers.get("authorization", "")):
            return headers, self.json(request, UNAUTHORIZED, 401, headers)
        return headers, None

    def _authorized(self, authorization: str) -> bool:
        if authorization.startswith("Bearer "):
            return authorization[7:] not in self.bad_credentials
        if not authorization.startswith("OAuth "):
            return False
        params = dict(_OAUTH_PARAM.findall(authorization))
        if not {"oauth_consumer_key", "oauth_token", "oauth_signature"} <= params.keys():
            return False
        # Header values are percent-encoded; the sandbox's bad keys are plain tokens.
        return not {params["oauth_consumer_key"], params["oauth_token"]} & self.bad_credentials

    async def _create(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        body = request_record(request).json
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return self.json(request, _problem(400, "text: must not be empty"), 400, headers)
        if self.find_post(lambda p: p.text == text) is not None:
            return self.json(request, DUPLICATE, 403, headers)
        media = body.get("media") if isinstance(body, dict) else None
        media_ids = list(media.get("media_ids", [])) if isinstance(media, Mapping) else []
        post = self.add_post(text, media_ids=media_ids)
        return self.json(
            request,
            {"data": {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}},
            201,
            headers,
        )

    async def _delete(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        tweet_id = request.path_params["tweet_id"]
        post = self.delete_post(tweet_id)
        if post is None:
            detail = f"Could not find tweet with id: [{tweet_id}]."
            return self.json(request, _problem(404, detail), 404, headers)
        return self.json(request, {"data": {"deleted": True}}, 200, headers)

    async def _me(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        user = {"id": self.user_id, "name": "Sandbox News", "username": self.username}
        return self.json(request, {"data": user}, 200, headers)

    async def _timeline(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        if request.path_params["user_id"] != self.user_id:
            return self.json(request, {"meta": {"result_count": 0}}, 200, headers)
        try:
            max_results = int(request.query_params.get("max_results", "10"))
        except ValueError:
            max_results = 10
        posts = list(reversed(self.live_posts()))[: max(5, min(100, max_results))]
        if not posts:
            return self.json(request, {"meta": {"result_count": 0}}, 200, headers)
        meta = {"result_count": len(posts), "newest_id": posts[0].id, "oldest_id": posts[-1].id}
        return self.json(
            request, {"data": [_as_tweet(p) for p in posts], "meta": meta}, 200, headers
        )

    async def _upload(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        upload = request_record(request).files.get("media")
        if upload is None:
            return self.json(
                request,
                {"errors": [{"code": 38, "message": "media parameter is missing."}]},
                400,
                headers,
            )
        media_id = self.next_id()
        with self._lock:
            self.media[media_id] = {
                "size": len(upload.data),
                "type": upload.content_type,
                "alt": "",
            }
        return self.json(
            request,
            {
                "media_id": int(media_id),
                "media_id_string": media_id,
                "size": len(upload.data),
                "expires_after_secs": 86400,
                "image": {"image_type": upload.content_type},
            },
            200,
            headers,
        )

    async def _metadata(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        body = request_record(request).json
        media_id = str(body.get("media_id", "")) if isinstance(body, dict) else ""
        alt = body.get("alt_text", {}).get("text", "") if isinstance(body, dict) else ""
        with self._lock:
            if media_id not in self.media:
                return self.json(
                    request,
                    {"errors": [{"code": 324, "message": "Invalid media id"}]},
                    400,
                    headers,
                )
            self.media[media_id]["alt"] = alt
        return Response(status_code=200, headers=headers)

    @property
    def media(self) -> dict[str, dict[str, Any]]:
        """Uploaded media by id: size, type and alt text (the live dict; lock to mutate)."""
        return self._media


def _short_link(url: str) -> str:
    return "https://t.co/" + hashlib.sha256(url.encode()).hexdigest()[:10]


def _as_tweet(post: SandboxPost) -> dict[str, Any]:
    """The v2 tweet object, with URLs shortened to t.co as X does."""
    urls: list[dict[str, Any]] = []
    text = post.text
    for match in _URL.finditer(post.text):
        expanded = match.group(0)
        urls.append(
            {
                "start": match.start(),
                "end": match.end(),
                "url": _short_link(expanded),
                "expanded_url": expanded,
                "display_url": expanded.split("://", 1)[1][:24],
            }
        )
        text = text.replace(expanded, _short_link(expanded), 1)
    tweet: dict[str, Any] = {
        "id": post.id,
        "text": text,
        "edit_history_tweet_ids": [post.id],
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(post.created_at)),
    }
    if urls:
        tweet["entities"] = {"urls": urls}
    return tweet
