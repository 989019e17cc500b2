"""A local stand-in for the Mastodon API subset that Mastodon.py uses to post.

Endpoints: ``GET /api/v1/instance``, ``GET /api/v2/instance``,
``GET /api/v1/accounts/verify_credentials``, ``POST /api/v1/statuses``,
``PUT /api/v1/statuses/{id}``, ``DELETE /api/v1/statuses/{id}``,
``GET /api/v1/accounts/{id}/statuses``, ``POST /api/v2/media`` and ``POST /api/v1/media``.

Behaviour copied from Mastodon:

* ``Idempotency-Key`` on ``POST /api/v1/statuses``: the same key (per account, within an hour)
  returns the status first created with it, and creates nothing;
* a bearer token listed in ``bad_tokens`` (or none at all) gets
  ``401 {"error": "The access token is invalid"}``;
* text longer than ``max_characters`` (each URL counted as ``characters_reserved_per_url``)
  gets ``422 {"error": "Validation failed: Text character limit of N exceeded"}``;
* every response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset`` (an ISO 8601 time, as Mastodon sends it);
* the instance reports version 4.3.0 and its status limits.

Use :meth:`MastodonSandbox.rate_limit_next` to answer the next request with a 429.
"""

from __future__ import annotations

import html
import itertools
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndication.testing.base import (
    RateWindow,
    RecordedRequest,
    SandboxPost,
    SandboxServer,
    request_record,
)

__all__ = ["MastodonSandbox"]

VERSION = "4.3.0"
IDEMPOTENCY_TTL = 3600.0
INVALID_TOKEN = {"error": "The access token is invalid"}
NOT_FOUND = {"error": "Record not found"}
TOO_MANY = {"error": "Too many requests"}
_URL = re.compile(r"https?://\S+")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _content_html(text: str) -> str:
    """Mastodon's rendering of plain text: escaped, links wrapped, one paragraph."""
    parts: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        parts.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        parts.append(f'<a href="{url}" rel="nofollow noopener" target="_blank">{url}</a>')
        last = match.end()
    parts.append(html.escape(text[last:]))
    return "<p>" + "".join(parts).replace("\n", "<br />") + "</p>"


def _status_params(request: Request) -> tuple[RecordedRequest, dict[str, Any]]:
    """The request as recorded, and its parameters: form fields, overlaid by a JSON body."""
    record = request_record(request)
    fields: dict[str, Any] = dict(record.form)
    if isinstance(record.json, dict):
        fields.update(record.json)
    return record, fields


class MastodonSandbox(SandboxServer):
    """One Mastodon instance with one account.

    Args:
        bad_tokens: access tokens answered with 401.
        max_characters: the instance's status limit (``configuration.statuses``).
        characters_reserved_per_url: what each URL counts towards it.
        request_limit: the per-5-minute request limit reported in ``X-RateLimit-Limit``.
        enforce_rate_limits: answer 429 once the window is used up (off by default).
    """

    platform = "mastodon"

    def __init__(
        self,
        *,
        bad_tokens: Iterable[str] = ("bad",),
        domain: str = "mastodon.sandbox",
        username: str = "news",
        account_id: str = "109000000000000001",
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        request_limit: int = 300,
        enforce_rate_limits: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.bad_tokens = frozenset(bad_tokens)
        self.domain = domain
        self.username = username
        self.account_id = account_id
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self._window = RateWindow(request_limit, 300, enforce=enforce_rate_limits)
        self._keys: dict[str, tuple[str, float]] = {}
        self._media: dict[str, dict[str, Any]] = {}
        self._snowflakes = itertools.count(113_000_000_000_000_000 + int(time.time()) * 1000)

    def next_id(self) -> str:
        """A snowflake-shaped status id."""
        return str(next(self._snowflakes))

    @property
    def media(self) -> dict[str, dict[str, Any]]:
        """Uploaded media by id: description (alt text), type and size."""
        with self._lock:
            return {k: dict(v) for k, v in self._media.items()}

    def rate_limit_next(
        self, reset_in: float = 60.0, count: int = 1, *, path: str | None = None
    ) -> float:
        """Answer the next ``count`` requests with 429; return the reset Unix time sent."""
        reset_at = time.time() + reset_in
        self.fail_next(
            429,
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": _iso(reset_at),
            },
            body=TOO_MANY,
            count=count,
            path=path,
        )
        return reset_at

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """The Mastodon API routes; Mastodon.py asks for some with a trailing slash."""
        return [
            Route("/api/v1/instance", self._instance_v1, methods=["GET"]),
            Route("/api/v1/instance/", self._instance_v1, methods=["GET"]),
            Route("/api/v2/instance", self._instance_v2, methods=["GET"]),
            Route("/api/v2/instance/", self._instance_v2, methods=["GET"]),
            Route("/api/v1/accounts/verify_credentials", self._verify, methods=["GET"]),
            Route("/api/v1/accounts/{account_id}/statuses", self._statuses, methods=["GET"]),
            Route("/api/v1/statuses", self._create, methods=["POST"]),
            Route("/api/v1/statuses/{status_id}", self._edit, methods=["PUT"]),
            Route("/api/v1/statuses/{status_id}", self._delete, methods=["DELETE"]),
            Route("/api/v2/media", self._media_upload, methods=["POST"]),
            Route("/api/v1/media", self._media_upload, methods=["POST"]),
        ]

    def _gate(
        self, request: Request, *, auth: bool = True
    ) -> tuple[dict[str, str], Response | None]:
        """Count the request and check its token; return rate headers and any refusal."""
        limit, remaining, reset_at, allowed = self._window.hit()
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _iso(reset_at),
        }
        if not allowed:
            return headers, self.json(request, TOO_MANY, 429, headers)
        authorization = request.headers.get("authorization", "")
        token = authorization[7:] if authorization.startswith("Bearer ") else ""
        if auth and (not token or token in self.bad_tokens):
            return headers, self.json(request, INVALID_TOKEN, 401, headers)
        return headers, None

    def _too_long(self) -> dict[str, str]:
        limit = self.max_characters
        return {"error": f"Validation failed: Text character limit of {limit} exceeded"}

    def _known(self, key: str | None) -> SandboxPost | None:
        """The status created with ``key`` within the last hour, if any."""
        if key is None:
            return None
        with self._lock:
            seen = self._keys.get(key)
            if seen is None or time.time() - seen[1] >= IDEMPOTENCY_TTL:
                return None
            return self._posts[seen[0]]

    def _weighted_length(self, text: str) -> int:
        urls = _URL.findall(text)
        return len(_URL.sub("", text)) + len(urls) * self.characters_reserved_per_url

    def _account(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": "Sandbox News",
            "locked": False,
            "bot": True,
            "discoverable": True,
            "group": False,
            "created_at": "2022-11-01T00:00:00.000Z",
            "note": "",
            "url": f"https://{self.domain}/@{self.username}",
            "uri": f"https://{self.domain}/users/{self.username}",
            "avatar": f"https://{self.domain}/avatars/original/missing.png",
            "avatar_static": f"https://{self.domain}/avatars/original/missing.png",
            "header": f"https://{self.domain}/headers/original/missing.png",
            "header_static": f"https://{self.domain}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(self.live_posts()),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def _status(self, post: SandboxPost) -> dict[str, Any]:
        edited_at = post.data.get("edited_at")
        return {
            "id": post.id,
            "created_at": _iso(post.created_at),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": post.data.get("spoiler_text", ""),
            "visibility": post.data.get("visibility", "public"),
            "language": post.data.get("language"),
            "uri": f"https://{self.domain}/users/{self.username}/statuses/{post.id}",
            "url": f"https://{self.domain}/@{self.username}/{post.id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": _iso(edited_at) if isinstance(edited_at, float) else None,
            "content": _content_html(post.text),
            "reblog": None,
            "application": {"name": "syndication", "website": None},
            "account": self._account(),
            "media_attachments": [
                self._attachment(media_id) for media_id in post.data.get("media_ids", [])
            ],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def _attachment(self, media_id: str) -> dict[str, Any]:
        media = self.media.get(media_id, {})
        return {
            "id": media_id,
            "type": "image",
            "url": f"https://{self.domain}/media/{media_id}.png",
            "preview_url": f"https://{self.domain}/media/{media_id}_small.png",
            "remote_url": None,
            "description": media.get("description"),
            "blurhash": None,
            "meta": {},
        }

    def _configuration(self) -> dict[str, Any]:
        return {
            "statuses": {
                "max_characters": self.max_characters,
                "max_media_attachments": 4,
                "characters_reserved_per_url": self.characters_reserved_per_url,
            },
            "media_attachments": {
                "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
                "image_size_limit": 16777216,
                "image_matrix_limit": 33177600,
                "video_size_limit": 103809024,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
        }

    async def _instance_v1(self, request: Request) -> Response:
        headers, _ = self._gate(request, auth=False)
        return self.json(
            request,
            {
                "uri": self.domain,
                "title": "Mastodon sandbox",
                "short_description": "",
                "description": "",
                "email": f"admin@{self.domain}",
                "version": VERSION,
                "urls": {"streaming_api": f"wss://{self.domain}"},
                "stats": {"user_count": 1, "status_count": 0, "domain_count": 1},
                "thumbnail": None,
                "languages": ["en"],
                "registrations": False,
                "approval_required": False,
                "invites_enabled": False,
                "configuration": self._configuration(),
                "contact_account": None,
                "rules": [],
            },
            200,
            headers,
        )

    async def _instance_v2(self, request: Request) -> Response:
        headers, _ = self._gate(request, auth=False)
        configuration = self._configuration()
        configuration["urls"] = {"streaming": f"wss://{self.domain}", "status": None}
        configuration["accounts"] = {"max_featured_tags": 10, "max_pinned_statuses": 5}
        configuration["translation"] = {"enabled": False}
        return self.json(
            request,
            {
                "domain": self.domain,
                "title": "Mastodon sandbox",
                "version": VERSION,
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "",
                "usage": {"users": {"active_month": 1}},
                "thumbnail": {"url": f"https://{self.domain}/thumbnail.png"},
                "languages": ["en"],
                "configuration": configuration,
                "registrations": {"enabled": False, "approval_required": False, "message": None},
                "contact": {"email": f"admin@{self.domain}", "account": None},
                "rules": [],
                "api_versions": {"mastodon": 2},
            },
            200,
            headers,
        )

    async def _verify(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        account = self._account()
        account["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "",
            "note": "",
            "fields": [],
        }
        return self.json(request, account, 200, headers)

    async def _statuses(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        if request.path_params["account_id"] != self.account_id:
            return self.json(request, NOT_FOUND, 404, headers)
        try:
            limit = max(1, min(40, int(request.query_params.get("limit", "20"))))
        except ValueError:
            limit = 20
        posts = list(reversed(self.live_posts()))[:limit]
        return self.json(request, [self._status(p) for p in posts], 200, headers)

    async def _create(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        record, fields = _status_params(request)
        text = fields.get("status")
        media_ids = record.form_list("media_ids[]") or list(fields.get("media_ids") or [])
        key = record.headers.get("idempotency-key")
        # Mastodon keeps the key with the account for an hour, so a retry of a request whose
        # answer was lost returns the original status instead of posting again.
        known = self._known(key)
        if known is not None:
            return self.json(request, self._status(known), 200, headers)
        if not isinstance(text, str) or not text.strip():
            if not media_ids:
                error = {"error": "Validation failed: Text can't be blank"}
                return self.json(request, error, 422, headers)
            text = ""
        if self._weighted_length(text) > self.max_characters:
            return self.json(request, self._too_long(), 422, headers)
        post = SandboxPost(
            id=self.next_id(),
            text=text,
            created_at=time.time(),
            data={
                "language": fields.get("language"),
                "visibility": fields.get("visibility", "public"),
                "spoiler_text": fields.get("spoiler_text", ""),
                "media_ids": media_ids,
            },
            idempotency_key=key,
        )
        with self._lock:
            # Re-check under the lock: two racing requests with one key must create one post.
            seen = self._keys.get(key) if key is not None else None
            if seen is not None and time.time() - seen[1] < IDEMPOTENCY_TTL:
                post = self._posts[seen[0]]
            else:
                self._posts[post.id] = post
                if key is not None:
                    self._keys[key] = (post.id, time.time())
        return self.json(request, self._status(post), 200, headers)

    async def _edit(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        record, fields = _status_params(request)
        text = fields.get("status")
        if not isinstance(text, str) or not text.strip():
            error = {"error": "Validation failed: Text can't be blank"}
            return self.json(request, error, 422, headers)
        if self._weighted_length(text) > self.max_characters:
            return self.json(request, self._too_long(), 422, headers)
        changes: dict[str, Any] = {"edited_at": time.time()}
        media_ids = record.form_list("media_ids[]")
        if media_ids:
            changes["media_ids"] = media_ids
        post = self.edit_post(request.path_params["status_id"], text, **changes)
        if post is None:
            return self.json(request, NOT_FOUND, 404, headers)
        return self.json(request, self._status(post), 200, headers)

    async def _delete(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        post = self.delete_post(request.path_params["status_id"])
        if post is None:
            return self.json(request, NOT_FOUND, 404, headers)
        status = self._status(post)
        status["text"] = post.text  # Mastodon returns the source text for "delete and redraft".
        return self.json(request, status, 200, headers)

    async def _media_upload(self, request: Request) -> Response:
        headers, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        record = request_record(request)
        upload = record.files.get("file")
        if upload is None:
            return self.json(
                request, {"error": "Validation failed: File can't be blank"}, 422, headers
            )
        media_id = self.next_id()
        with self._lock:
            self._media[media_id] = {
                "description": record.form.get("description") or None,
                "content_type": upload.content_type,
                "size": len(upload.data),
            }
        return self.json(request, self._attachment(media_id), 200, headers)
