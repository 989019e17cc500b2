"""What the Meta Graph API adapters (Facebook Pages, Threads) share, with httpx.

Both speak the same dialect: a versioned base URL, one node (a Page, a profile) whose edges
are posted to, a token that travels in the ``Authorization`` header (never in a URL, so it
cannot surface in an httpx exception), and errors as ``{"error": {"code": …}}``. What an error
*means* differs between the two, so each adapter keeps its own :meth:`GraphAdapter._error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx

from syndication.errors import PermanentError, PlatformError, TransientError, UncertainOutcome
from syndication.platforms.base import AdapterSettings, RateInfo

__all__ = ["GraphAdapter", "as_int"]


def as_int(value: object) -> int | None:
    """A Graph API number, which may arrive as an int or as a string of digits."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class GraphAdapter:
    """The connection half of a Graph API adapter: settings, HTTP client, error plumbing.

    A subclass names its platform and where its token and node id come from, and maps an
    error answer to one of our errors in :meth:`_error`.
    """

    name: ClassVar[str]
    # The credential that holds the access token, and the option that holds the node's id.
    credential_key: ClassVar[str]
    node_option: ClassVar[str]
    default_base_url: ClassVar[str]
    default_version: ClassVar[str]

    def __init__(self, settings: AdapterSettings) -> None:
        token = settings.credentials.get(self.credential_key, "")
        node_id = settings.options.get(self.node_option, "")
        if not token:
            raise PermanentError(self.name, f"credentials.{self.credential_key}: missing")
        if not node_id:
            raise PermanentError(self.name, f"options.{self.node_option}: missing")
        self._token = token
        self._node_id = node_id
        version = settings.options.get("api_version", self.default_version)
        base = (settings.base_url or self.default_base_url).rstrip("/")
        self._client = httpx.Client(
            base_url=f"{base}/{version}",
            timeout=settings.timeout,
            headers={"Authorization": f"Bearer {token}"},
        )
        self._rate = RateInfo()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_option}={self._node_id!r})"

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def delete(self, remote_id: str) -> None:
        """Delete a post; one already gone is not an error."""
        try:
            self._request("DELETE", f"/{remote_id}", writes=False)
        except PermanentError as exc:
            # Code 100 subcode 33: the object does not exist (or is no longer visible).
            if exc.status != 404 and "does not exist" not in str(exc):
                raise

    # -- HTTP -----------------------------------------------------------------------------

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
                self.name, f"{action}: could not connect ({exc.__class__.__name__})"
            ) from None
        except httpx.HTTPError as exc:
            error_class: type[PlatformError] = UncertainOutcome if writes else TransientError
            raise error_class(
                self.name, f"{action}: no answer ({exc.__class__.__name__})"
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
        """Note the rate state a response's headers report; by default they report none."""

    def _error(
        self, action: str, response: httpx.Response, body: object, *, writes: bool
    ) -> PlatformError:
        """The error an unsuccessful answer (``body`` is its JSON, or None) stands for."""
        raise NotImplementedError

    def _redact(self, message: str) -> str:
        return message.replace(self._token, "[redacted]")
