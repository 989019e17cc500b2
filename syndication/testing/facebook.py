"""A local Facebook Graph API for one Page: feed and photo posts, edits, deletes, listing.

Paths carry the API version (``/v21.0/{page-id}/feed``) and the Page token is accepted as a
Bearer header or an ``access_token`` parameter. Errors use the Graph API's envelope
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``; helpers queue the
throttling (code 32 with ``X-Business-Use-Case-Usage``) and expired-token (190) answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from syndication.testing.base import SandboxServer, request_record

__all__ = ["FacebookSandbox", "graph_error"]


def graph_error(
    message: str, code: int, *, subcode: int | None = None, kind: str = "OAuthException"
) -> dict[str, Any]:
    """A Graph API error body."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "Fsbx"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FacebookSandbox(SandboxServer):
    """One Page (``page_id``) reachable with one Page access token (``token``)."""

    platform = "facebook"

    # A fake token the sandbox accepts; it grants nothing anywhere else.
    def __init__(
        self,
        token: str = "EAAB-sandbox-page-token",  # noqa: S107
        page_id: str = "1122334455",
        page_name: str = "Sandbox News",
    ) -> None:
        super().__init__()
        self.token = token
        self.page_id = page_id
        self.page_name = page_name
        self.token_expired = False
        self._photo_ids = 0

    def routes(self) -> Sequence[BaseRoute]:
        """Everything under ``/{version}/``; the path after it picks the object and edge."""
        return [Route("/{version}/{path:path}", self._dispatch, methods=["GET", "POST", "DELETE"])]

    def next_id(self) -> str:
        """Page post ids look like ``{page-id}_{post-number}``."""
        return f"{self.page_id}_{super().next_id()}"

    def rate_limit_next(self, minutes: int = 5) -> None:
        """Answer the next request with Page-level throttling (code 32)."""
        usage = {self.page_id: [{"type": "pages", "call_count": 100,
                                 "estimated_time_to_regain_access": minutes}]}  # fmt: skip
        self.fail_next(
            400,
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            body=graph_error("(#32) Page request limit reached", 32),
        )

    def _error(self, request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
        return self.json(request, body, status)

    def _authorised(self, request: Request) -> bool:
        record = request_record(request)
        header = record.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        token = token or record.query.get("access_token") or record.form.get("access_token")
        return token == self.token and not self.token_expired

    async def _dispatch(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return self._error(
                request,
                400,
                graph_error(
                    "Error validating access token: Session has expired on Sunday, "
                    "01-Jun-25 10:00:00 PDT.",
                    190,
                    subcode=463,
                ),
            )
        record = request_record(request)
        params = {**record.query, **record.form}
        parts = request.path_params["path"].strip("/").split("/")
        if parts == ["me"] and request.method == "GET":
            return self.json(request, {"id": self.page_id, "name": self.page_name})
        if len(parts) == 2 and parts[0] == self.page_id:
            edge = parts[1]
            if edge == "feed" and request.method == "POST":
                return self._feed(request, params)
            if edge == "photos" and request.method == "POST":
                return self._photo(request, params)
            if edge == "published_posts" and request.method == "GET":
                return self._published(request, params)
        if len(parts) == 1:
            if request.method == "POST":
                return self._update(request, parts[0], params)
            if request.method == "DELETE":
                return self._delete(request, parts[0])
        return self._error(
            request,
            400,
            graph_error("Unknown path components", 2500),
        )

    def _duplicate(self, message: str) -> bool:
        return self.find_post(lambda p: p.text == message and bool(message)) is not None

    def _feed(self, request: Request, params: Mapping[str, str]) -> JSONResponse:
        message = params.get("message", "")
        if not message and not params.get("link"):
            return self._error(
                request, 400, graph_error("(#100) Missing message or attachment", 100)
            )
        if self._duplicate(message):
            return self._error(
                request,
                400,
                graph_error("(#506) Duplicate status message", 506, kind="GraphMethodException"),
            )
        post = self.add_post(message, kind="link", link=params.get("link"))
        return self.json(request, {"id": post.id})

    def _photo(self, request: Request, params: Mapping[str, str]) -> JSONResponse:
        record = request_record(request)
        source = record.files.get("source")
        url = params.get("url")
        if source is None and not url:
            return self._error(request, 400, graph_error("(#324) Requires upload file", 324))
        caption = params.get("caption", params.get("message", ""))
        post = self.add_post(
            caption,
            kind="photo",
            url=url,
            source_bytes=len(source.data) if source else 0,
        )
        self._photo_ids += 1
        return self.json(request, {"id": f"90{self._photo_ids:08d}", "post_id": post.id})

    def _published(self, request: Request, params: Mapping[str, str]) -> JSONResponse:
        limit = int(params.get("limit", "25"))
        entries = []
        for post in reversed(self.live_posts()):
            entry: dict[str, Any] = {
                "id": post.id,
                "permalink_url": f"https://www.facebook.com/{post.id}",
            }
            if post.text:
                entry["message"] = post.text
            link = post.data.get("link")
            if link:
                entry["attachments"] = {"data": [{"unshimmed_url": link, "type": "share"}]}
            entries.append(entry)
        return self.json(request, {"data": entries[:limit], "paging": {}})

    def _update(self, request: Request, post_id: str, params: Mapping[str, str]) -> JSONResponse:
        if self.edit_post(post_id, params.get("message", "")) is None:
            return self._missing(request, post_id)
        return self.json(request, {"success": True})

    def _delete(self, request: Request, post_id: str) -> JSONResponse:
        if self.delete_post(post_id) is None:
            return self._missing(request, post_id)
        return self.json(request, {"success": True})

    def _missing(self, request: Request, object_id: str) -> JSONResponse:
        return self._error(
            request,
            400,
            graph_error(
                f"Unsupported request - Object with ID '{object_id}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                100,
                subcode=33,
                kind="GraphMethodException",
            ),
        )
