"""A local LinkedIn REST Posts API: create, partial update, delete, and an organisation.

It insists on what the real API insists on (a ``Linkedin-Version: YYYYMM`` header,
``X-Restli-Protocol-Version: 2.0.0``, a Bearer token, an organisation author) and renders the
commentary as LinkedIn does: escaped characters are kept, ``{hashtag|\\#|tag}`` becomes a
hashtag, and the text is silently cut at the first unescaped reserved character. A post's
``text`` is that rendered commentary, so a test sees what readers would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syndication.testing.base import SandboxServer, request_record

__all__ = ["LinkedInSandbox", "render_little_text"]

_RESERVED = frozenset("\\|{}@[]()<>#*_~")
_HASHTAG = re.compile(r"\{hashtag\|\\#\|([^{}|\\]+)\}")
_VERSION = re.compile(r"\d{6}")


def render_little_text(commentary: str) -> str:
    """What LinkedIn shows for ``commentary``: cut at the first unescaped reserved character."""
    out: list[str] = []
    index = 0
    while index < len(commentary):
        ch = commentary[index]
        if ch == "\\" and index + 1 < len(commentary) and commentary[index + 1] in _RESERVED:
            out.append(commentary[index + 1])
            index += 2
            continue
        if ch == "{":
            match = _HASHTAG.match(commentary, index)
            if match is not None:
                out.append("#" + match.group(1))
                index = match.end()
                continue
        if ch in _RESERVED:
            break
        out.append(ch)
        index += 1
    return "".join(out)


class LinkedInSandbox(SandboxServer):
    """One organisation (``organization_id``) and one member token (``token``)."""

    platform = "linkedin"

    # A fake token the sandbox accepts; it grants nothing anywhere else.
    def __init__(
        self,
        token: str = "AQV-sandbox-token",  # noqa: S107
        organization_id: str = "2414183",
        name: str = "Sandbox News",
    ) -> None:
        super().__init__()
        self.token = token
        self.organization_id = organization_id
        self.name = name

    def routes(self) -> Sequence[BaseRoute]:
        """The Posts API and the organisation lookup."""
        return [
            Route("/rest/posts", self._create, methods=["POST"]),
            Route("/rest/posts/{urn}", self._update, methods=["POST"]),
            Route("/rest/posts/{urn}", self._delete, methods=["DELETE"]),
            Route("/rest/organizations/{org_id}", self._organization, methods=["GET"]),
        ]

    def next_id(self) -> str:
        """Post ids are share URNs."""
        return f"urn:li:share:{7_000_000_000 + int(super().next_id())}"

    def rate_limit_next(self) -> None:
        """Answer the next request with LinkedIn's daily-limit 429."""
        message = (
            "Resource level throttle APPLICATION DAY limit for calls to this resource is reached."
        )
        self.fail_next(429, body=self.error_body(429, message, code=101))

    @staticmethod
    def error_body(status: int, message: str, code: int | None = None) -> dict[str, Any]:
        """LinkedIn's error envelope."""
        body: dict[str, Any] = {"status": status, "message": message}
        if code is not None:
            body["serviceErrorCode"] = code
        return body

    def _refuse(self, request: Request) -> JSONResponse | None:
        headers = request_record(request).headers
        if headers.get("authorization") != f"Bearer {self.token}":
            return self.json(request, self.error_body(401, "Invalid access token", 65600), 401)
        if not _VERSION.fullmatch(headers.get("linkedin-version", "")):
            return self.json(
                request, self.error_body(400, "A version must be present. VERSION_MISSING"), 400
            )
        if headers.get("x-restli-protocol-version") != "2.0.0":
            return self.json(
                request, self.error_body(400, "Rest.li protocol version 2.0.0 is required"), 400
            )
        return None

    async def _create(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = request_record(request).json
        if not isinstance(body, dict):
            return self.json(request, self.error_body(400, "Body is not JSON"), 400)
        author = body.get("author")
        if author != f"urn:li:organization:{self.organization_id}":
            return self.json(
                request,
                self.error_body(403, f"Not enough permissions to post as {author}", 100),
                403,
            )
        commentary = body.get("commentary", "")
        if not isinstance(commentary, str) or len(commentary) > 3000:
            return self.json(
                request, self.error_body(422, "/commentary: length exceeds 3000", 0), 422
            )
        post = self.add_post(
            render_little_text(commentary),
            commentary=commentary,
            content=body.get("content"),
            visibility=body.get("visibility"),
        )
        return Response(status_code=201, headers={"x-restli-id": post.id})

    async def _update(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        record = request_record(request)
        if record.headers.get("x-restli-method", "").upper() != "PARTIAL_UPDATE":
            return self.json(request, self.error_body(400, "Unsupported method"), 400)
        patch = record.json.get("patch", {}) if isinstance(record.json, dict) else {}
        commentary = patch.get("$set", {}).get("commentary")
        if not isinstance(commentary, str):
            return self.json(request, self.error_body(422, "/patch/$set/commentary missing"), 422)
        urn = request.path_params["urn"]
        if self.edit_post(urn, render_little_text(commentary), commentary=commentary) is None:
            return self.json(request, self.error_body(404, f"{urn} not found"), 404)
        return Response(status_code=204)

    async def _delete(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        urn = request.path_params["urn"]
        if self.delete_post(urn) is None:
            return self.json(request, self.error_body(404, f"{urn} not found"), 404)
        return Response(status_code=204)

    async def _organization(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        if request.path_params["org_id"] != self.organization_id:
            return self.json(request, self.error_body(404, "Organization not found"), 404)
        return self.json(request, {"id": int(self.organization_id), "localizedName": self.name})
