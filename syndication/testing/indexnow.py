"""A local IndexNow endpoint (``POST /indexnow``), answering as the protocol describes.

The protocol (indexnow.org, "Submitting set of URLs"): a JSON body ``{"host", "key",
"keyLocation", "urlList"}`` with at most 10,000 URLs, and these answers:

- ``200`` the URLs were submitted; ``202`` received, the key is still to be validated;
- ``400`` invalid format; ``403`` the key is not valid (the key file is missing, or does not
  hold the key); ``422`` a URL does not belong to the host, or the key does not match the
  protocol's pattern; ``429`` too many requests (rate limits and suspected spam).

Like a search engine, the sandbox checks the key file at ``keyLocation`` (default
``https://{host}/{key}.txt``). Test hosts are not resolvable, so ``key_hosts`` maps a host to
the base URL that serves its key file (say, a local ``syndication serve``); a host it cannot
reach gets 202, as a real engine answers before it has fetched the file. 429 and 5xx answers
are injected with :meth:`~syndication.testing.base.SandboxServer.fail_next`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syndication.testing.base import SandboxServer, request_record

__all__ = ["MAX_URLS", "IndexNowSandbox"]

MAX_URLS = 10_000
_KEY = re.compile(r"[A-Za-z0-9-]{8,128}")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class IndexNowSandbox(SandboxServer):
    """An IndexNow endpoint that validates submissions and keeps the accepted URL lists."""

    platform = "indexnow"

    def __init__(self, *, key_hosts: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.key_hosts = dict(key_hosts or {})
        self._batches: list[list[str]] = []
        self._batch_lock = threading.Lock()

    @property
    def batches(self) -> list[list[str]]:
        """Every accepted ``urlList``, oldest first."""
        with self._batch_lock:
            return [list(b) for b in self._batches]

    def submitted(self) -> list[str]:
        """Every accepted URL, in order (a URL submitted twice appears twice)."""
        return [url for batch in self.batches for url in batch]

    @property
    def endpoint(self) -> str:
        """The URL to configure as the IndexNow endpoint."""
        return self.base_url + "/indexnow"

    def routes(self) -> Sequence[BaseRoute]:
        """``POST /indexnow``."""
        return [Route("/indexnow", self._submit, methods=["POST"])]

    async def _submit(self, request: Request) -> Response:
        body: Any = request_record(request).json
        if not isinstance(body, dict):
            return _error(400, "InvalidRequestParameters", "the body is not a JSON object")
        host, key, urls = body.get("host"), body.get("key"), body.get("urlList")
        location = body.get("keyLocation")
        if not isinstance(host, str) or not host or not isinstance(key, str):
            return _error(400, "InvalidRequestParameters", "host and key are required")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            return _error(400, "InvalidRequestParameters", "urlList: a non-empty list of URLs")
        if len(urls) > MAX_URLS:
            return _error(400, "InvalidRequestParameters", f"urlList: more than {MAX_URLS}")
        if location is not None and not isinstance(location, str):
            return _error(400, "InvalidRequestParameters", "keyLocation: not a URL")
        if not _KEY.fullmatch(key):
            return _error(422, "InvalidKey", "key: does not match the protocol's pattern")
        location = location or f"https://{host}/{key}.txt"
        foreign = [u for u in [*urls, location] if urlsplit(u).netloc.lower() != host.lower()]
        if foreign:
            return _error(422, "UrlNotOnHost", f"{foreign[0]} does not belong to {host}")
        verified = await self._key_file_holds(host, location, key)
        if verified is False:
            return _error(403, "UserForbiddedToAccessSite", "key: not found in the key file")
        with self._batch_lock:
            self._batches.append(list(urls))
        return Response(status_code=200 if verified else 202)

    async def _key_file_holds(self, host: str, location: str, key: str) -> bool | None:
        """Whether the key file holds ``key`` (None when the host cannot be reached here)."""
        base = self.key_hosts.get(host.lower())
        if base is None:
            return None
        parts = urlsplit(location)
        url = base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        async with httpx.AsyncClient(timeout=5.0) as client:
            try:
                response = await client.get(url)
            except httpx.HTTPError:
                return False
        return response.status_code == 200 and response.text.strip() == key
