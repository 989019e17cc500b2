"""Talking to other servers: fetch an actor (and its key), POST an activity to an inbox.

All of this module's HTTP goes through one ``httpx.Client``. Every URL comes from a remote
party (a keyId, a follower's inbox), so each is checked before it is fetched: http(s) only,
no credentials, and unless ``allow_private`` (tests, the demo) every address the host
resolves to must be public, so a follower cannot point our deliveries at the internal
network. Redirects are followed by hand, each hop checked again.

Errors use the platform hierarchy of :mod:`syndication.errors` with ``"activitypub"`` as the
platform: :class:`TransientError` (5xx, network), :class:`RateLimited` (429, with the
server's ``Retry-After``) and :class:`PermanentError` (other 4xx, bad documents).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from syndication.errors import PermanentError, RateLimited, TransientError
from syndication.federation.accounts import RemoteActor
from syndication.federation.documents import ACTIVITY_JSON
from syndication.federation.signatures import sign_request

__all__ = ["Remote", "Signer", "first_id", "retry_after_seconds"]

PLATFORM = "activitypub"
USER_AGENT = "syndication (ActivityPub; +https://github.com/)"
_ACCEPT = f'{ACTIVITY_JSON}, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
_MAX_DOCUMENT = 1024 * 1024
_MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Signer:
    """Who signs a request: one of our actors' keyId and private key."""

    key_id: str
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from ``now``."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def first_id(value: object) -> str:
    """The id of a JSON-LD reference: a string, an object with ``id``, or a list's first."""
    if isinstance(value, list):
        return first_id(value[0]) if value else ""
    if isinstance(value, dict):
        ref = value.get("id")
        return ref if isinstance(ref, str) else ""
    return value if isinstance(value, str) else ""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class Remote:
    """The HTTP client of the federation: fetches and deliveries, with the URL checks."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        self.allow_private = allow_private
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            verify=verify,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def check_url(self, url: str, field: str = "url") -> None:
        """Refuse a URL we must not fetch (scheme, credentials, non-public address)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentError(PLATFORM, f"{field}: not an absolute http(s) URL: {url[:200]!r}")
        if parts.username or parts.password:
            raise PermanentError(PLATFORM, f"{field}: credentials in a URL are not allowed")
        if self.allow_private:
            return
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 0, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise TransientError(
                PLATFORM, f"{field}: cannot resolve {parts.hostname!r}: {exc}"
            ) from None
        for info in infos:
            address = str(info[4][0])
            if not _is_public(address):
                raise PermanentError(
                    PLATFORM, f"{field}: {parts.hostname!r} resolves to non-public {address}"
                )

    # --- fetching -------------------------------------------------------------------------
    def fetch(self, url: str, signer: Signer | None = None) -> dict[str, Any]:
        """GET an ActivityPub document (signed when ``signer`` is given: servers in
        authorized-fetch mode ask for it)."""
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            self.check_url(current, "fetch")
            headers = {"Accept": _ACCEPT}
            if signer is not None:
                signed = sign_request(
                    "GET",
                    current,
                    None,
                    key_id=signer.key_id,
                    private_key=signer.private_key,
                    now=datetime.now(UTC),
                    accept=_ACCEPT,
                )
                headers = {k.title(): v for k, v in signed.items()}
            try:
                content, location = self._get(current, headers)
            except httpx.HTTPError as exc:
                raise TransientError(PLATFORM, f"fetch {current}: {type(exc).__name__}") from None
            if location is not None:
                current = urljoin(current, location)
                continue
            try:
                document = json.loads(content)
            except ValueError:
                raise PermanentError(PLATFORM, f"fetch {current}: not JSON") from None
            if not isinstance(document, dict):
                raise PermanentError(PLATFORM, f"fetch {current}: not a JSON object")
            return document
        raise PermanentError(PLATFORM, f"fetch {url}: too many redirects")

    def _get(self, url: str, headers: dict[str, str]) -> tuple[bytes, str | None]:
        """The body of a GET (at most ``_MAX_DOCUMENT`` bytes, streamed so that a huge answer
        is cut short), or the Location of a redirect."""
        with self.client.stream("GET", url, headers=headers) as response:
            if response.is_redirect and "location" in response.headers:
                return b"", response.headers["location"]
            self._raise_for(response, f"fetch {url}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > _MAX_DOCUMENT:
                    raise PermanentError(PLATFORM, f"fetch {url}: document too large")
                chunks.append(chunk)
            return b"".join(chunks), None

    def resolve_key(self, key_id: str, signer: Signer | None = None) -> RemoteActor:
        """The actor that owns ``key_id``: its public key and inboxes.

        The keyId names a key inside an actor document (``…/users/a#main-key``) or a key
        document with an ``owner``; either way the key must be listed by its owner.
        """
        document = self.fetch(key_id.split("#", 1)[0], signer)
        if "publicKeyPem" in document and "owner" in document:
            owner = first_id(document.get("owner"))
            if not owner:
                raise PermanentError(PLATFORM, "publicKey.owner: missing")
            document = self.fetch(owner, signer)
        actor_id = first_id(document)
        keys = document.get("publicKey")
        for key in keys if isinstance(keys, list) else [keys]:
            if isinstance(key, dict) and key.get("id") == key_id:
                pem = key.get("publicKeyPem")
                if not isinstance(pem, str) or first_id(key.get("owner")) not in ("", actor_id):
                    break
                endpoints = document.get("endpoints")
                shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
                inbox = document.get("inbox")
                return RemoteActor(
                    id=actor_id,
                    key_id=key_id,
                    public_pem=pem,
                    inbox=inbox if isinstance(inbox, str) else "",
                    shared_inbox=shared if isinstance(shared, str) else "",
                    fetched_at=time.time(),
                )
        raise PermanentError(PLATFORM, f"keyId: {key_id!r} is not a key of actor {actor_id!r}")

    # --- delivering -----------------------------------------------------------------------
    def post(self, inbox: str, body: bytes, signer: Signer) -> int:
        """POST a signed activity to an inbox; returns the status code of a 2xx answer."""
        self.check_url(inbox, "inbox")
        headers = sign_request(
            "POST",
            inbox,
            body,
            key_id=signer.key_id,
            private_key=signer.private_key,
            now=datetime.now(UTC),
        )
        try:
            # Streamed and never read: what an inbox answers beyond its status is not needed.
            with self.client.stream(
                "POST", inbox, content=body, headers={k.title(): v for k, v in headers.items()}
            ) as response:
                self._raise_for(response, f"POST {inbox}")
                return response.status_code
        except httpx.HTTPError as exc:
            raise TransientError(PLATFORM, f"POST {inbox}: {type(exc).__name__}") from None

    @staticmethod
    def _raise_for(response: httpx.Response, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = f"{what}: HTTP {status}"
        if status == 429:
            wait = retry_after_seconds(response.headers.get("retry-after"), time.time())
            raise RateLimited(PLATFORM, reason, retry_after=60.0 if wait is None else wait)
        if status >= 500 or status in (408, 425):
            raise TransientError(PLATFORM, reason, status=status)
        raise PermanentError(PLATFORM, reason, status=status)
