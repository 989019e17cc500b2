"""A local Threads API: containers, publishing, the 24-hour quota, listing and deletes.

Publishing is two steps, as on ``graph.threads.net``: ``POST /{user-id}/threads`` makes a
container (kept apart from posts: nothing is public yet) and ``POST
/{user-id}/threads_publish`` turns it into a post, once. ``quota_used`` counts posts published
in the window (plus :attr:`ThreadsSandbox.quota_offset`, to test a nearly spent quota);
publishing past ``quota_total`` is refused with Meta's rate-limit error.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from syndication.testing.base import SandboxServer, request_record

__all__ = ["ThreadsSandbox", "threads_length"]

TEXT_LIMIT = 500


def threads_length(text: str) -> int:
    """Length as Threads counts it: characters, but emoji by their UTF-8 bytes."""
    return sum(len(ch.encode("utf-8")) if ord(ch) >= 0x1F000 else 1 for ch in text)


def _error(message: str, code: int, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "THApiException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@dataclass
class _Container:
    id: str
    media_type: str
    text: str
    image_url: str | None
    published_id: str | None = None


class ThreadsSandbox(SandboxServer):
    """One Threads profile (``user_id``) and one access token (``token``)."""

    platform = "threads"

    # A fake token the sandbox accepts; it grants nothing anywhere else.
    def __init__(
        self,
        token: str = "THQW-sandbox-token",  # noqa: S107
        user_id: str = "17841400000000001",
        username: str = "sandbox.news",
        quota_total: int = 250,
    ) -> None:
        super().__init__()
        self.token = token
        self.user_id = user_id
        self.username = username
        self.quota_total = quota_total
        self.quota_offset = 0
        self._containers: dict[str, _Container] = {}
        self._container_ids = itertools.count(1)
        self._container_lock = threading.Lock()

    def routes(self) -> Sequence[BaseRoute]:
        """Everything under ``/{version}/``."""
        return [Route("/{version}/{path:path}", self._dispatch, methods=["GET", "POST", "DELETE"])]

    def next_id(self) -> str:
        """Media ids are long numbers."""
        return str(18_000_000_000_000_000 + int(super().next_id()))

    @property
    def containers(self) -> list[_Container]:
        """Every container made so far, published or not."""
        with self._container_lock:
            return list(self._containers.values())

    def quota_used(self) -> int:
        """Posts counted against the 24-hour publishing quota."""
        return len(self.posts) + self.quota_offset

    def rate_limit_next(self) -> None:
        """Answer the next request with Meta's application rate-limit error (code 4)."""
        self.fail_next(400, body=_error("Application request limit reached", 4))

    async def _dispatch(self, request: Request) -> JSONResponse:
        record = request_record(request)
        header = record.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if (token or record.query.get("access_token")) != self.token:
            return self.json(
                request,
                _error("Error validating access token: The session has been invalidated.", 190),
                401,
            )
        params = {**record.query, **record.form}
        parts = request.path_params["path"].strip("/").split("/")
        method = request.method
        if parts == ["me"]:
            return self.json(request, {"id": self.user_id, "username": self.username})
        if len(parts) == 2 and parts[0] == self.user_id:
            edge = parts[1]
            if edge == "threads" and method == "POST":
                return self._create(request, params)
            if edge == "threads_publish" and method == "POST":
                return self._publish(request, params)
            if edge == "threads" and method == "GET":
                return self._list(request, params)
            if edge == "threads_publishing_limit" and method == "GET":
                return self._limit(request)
        if len(parts) == 1 and method == "GET":
            return self._read(request, parts[0])
        if len(parts) == 1 and method == "DELETE":
            if self.delete_post(parts[0]) is None:
                return self.json(request, _error("Object does not exist", 100, 33), 400)
            return self.json(request, {"success": True})
        return self.json(request, _error("Unsupported request", 100), 400)

    def _create(self, request: Request, params: Mapping[str, str]) -> JSONResponse:
        media_type = params.get("media_type", "")
        text = params.get("text", "")
        image_url = params.get("image_url")
        if media_type not in ("TEXT", "IMAGE"):
            return self.json(request, _error("Param media_type is invalid", 100), 400)
        if media_type == "IMAGE" and not image_url:
            return self.json(request, _error("Param image_url is required", 100), 400)
        if media_type == "TEXT" and not text:
            return self.json(request, _error("Param text is required", 100), 400)
        if threads_length(text) > TEXT_LIMIT:
            return self.json(request, _error("Param text must be at most 500 characters", 100), 400)
        with self._container_lock:
            container = _Container(
                f"{next(self._container_ids) + 900_000}", media_type, text, image_url
            )
            self._containers[container.id] = container
        return self.json(request, {"id": container.id})

    def _publish(self, request: Request, params: Mapping[str, str]) -> JSONResponse:
        with self._container_lock:
            container = self._containers.get(params.get("creation_id", ""))
        if container is None:
            return self.json(request, _error("Media container not found", 100, 4279001), 400)
        if container.published_id is not None:
            return self.json(request, _error("The media has already been published", 100), 400)
        if self.quota_used() >= self.quota_total:
            return self.json(
                request, _error("Publishing limit reached for the last 24 hours", 4), 400
            )
        post = self.add_post(
            container.text,
            media_type=container.media_type,
            image_url=container.image_url,
            container_id=container.id,
        )
        container.published_id = post.id
        return self.json(request, {"id": post.id})

    def _permalink(self, post_id: str) -> str:
        return f"https://www.threads.net/@{self.username}/post/S{post_id[-6:]}"

    def _list(self, request: Request, params: Mapping[str, str]) -> JSONResponse:
        limit = int(params.get("limit", "25"))
        data = [
            {"id": p.id, "text": p.text, "permalink": self._permalink(p.id)}
            for p in reversed(self.live_posts())
        ]
        return self.json(request, {"data": data[:limit], "paging": {}})

    def _limit(self, request: Request) -> JSONResponse:
        config = {"quota_total": self.quota_total, "quota_duration": 86400}
        return self.json(request, {"data": [{"quota_usage": self.quota_used(), "config": config}]})

    def _read(self, request: Request, object_id: str) -> JSONResponse:
        with self._container_lock:
            container = self._containers.get(object_id)
        if container is not None:
            return self.json(request, {"id": container.id, "status": "FINISHED"})
        post = self.get_post(object_id)
        if post is None or post.deleted:
            return self.json(request, _error("Object does not exist", 100, 33), 400)
        return self.json(
            request, {"id": post.id, "text": post.text, "permalink": self._permalink(post.id)}
        )
