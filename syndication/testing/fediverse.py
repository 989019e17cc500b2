"""A local stand-in for a fediverse server: users who follow our actors and receive their
activities, for the tests and ``make demo``.

Endpoints: ``GET /users/{name}`` (a Person with its public key, inbox and shared inbox),
``POST /users/{name}/inbox`` and ``POST /inbox``. Like a real server it

* verifies the HTTP Signature of every delivery (fetching the sender's key by its keyId)
  and answers 401 when it does not verify;
* processes one activity id once: a second delivery of the same id is recorded in
  :meth:`FediverseSandbox.raw` but not in :meth:`FediverseSandbox.received` (Mastodon and
  Fedify deduplicate activities the same way);
* follows an actor the way Mastodon does (:meth:`FediverseSandbox.follow`): WebFinger,
  fetch the actor, POST a signed ``Follow`` to its inbox, and wait for the ``Accept``.

It verifies with this project's own signature code, which is fine for the demo; the tests
that prove interoperability use an independent implementation (Fedify) instead. Faults
(429, 5xx, dropped connections) are injected with the :class:`SandboxServer` methods.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syndication.federation.signatures import (
    SignatureError,
    check_request,
    generate_key_pair,
    load_private_key,
    load_public_key,
    sign_request,
    verify_signature,
)
from syndication.testing.base import SandboxServer, request_record

__all__ = ["FediverseSandbox", "Received"]

ACTIVITY_JSON = "application/activity+json"
# keyId -> PEM of the sender's public key.
KeyResolver = Callable[[str], str]


@dataclass(frozen=True)
class Received:
    """One activity that reached an inbox of the sandbox."""

    inbox: str
    activity: dict[str, Any]
    verified: bool
    key_id: str
    # False for a second delivery of an activity id already processed.
    first: bool

    @property
    def type(self) -> str:
        """The activity's type (``Create``, ``Accept``, ...)."""
        return str(self.activity.get("type", ""))

    @property
    def id(self) -> str:
        """The activity's id."""
        return str(self.activity.get("id", ""))


class FediverseSandbox(SandboxServer):
    """A small fediverse server whose users follow our actors."""

    platform = "fediverse"

    def __init__(
        self,
        users: Sequence[str] = ("reader",),
        *,
        resolve_key: KeyResolver | None = None,
        verify_tls: bool | str = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.users = tuple(users)
        self._keys = {name: generate_key_pair(2048) for name in self.users}
        self._resolve = resolve_key
        self._verify_tls = verify_tls
        self._cache: dict[str, str] = {}
        self._received: list[Received] = []
        self._seen: set[str] = set()
        self._gone: set[str] = set()
        self._state = threading.Lock()

    # --- addresses ------------------------------------------------------------------------
    def actor_url(self, name: str = "reader") -> str:
        """The id of one of the sandbox's users."""
        return f"{self.base_url}/users/{name}"

    def inbox_url(self, name: str = "reader") -> str:
        """A user's own inbox."""
        return self.actor_url(name) + "/inbox"

    @property
    def shared_inbox_url(self) -> str:
        """The server's shared inbox."""
        return self.base_url + "/inbox"

    # --- what arrived ---------------------------------------------------------------------
    def received(self, kind: str | None = None) -> list[Received]:
        """Activities processed (verified, each id once), oldest first."""
        with self._state:
            return [
                r
                for r in self._received
                if r.verified and r.first and (kind is None or r.type == kind)
            ]

    def raw(self, kind: str | None = None) -> list[Received]:
        """Every delivery that arrived, duplicates and unverified ones included."""
        with self._state:
            return [r for r in self._received if kind is None or r.type == kind]

    def timeline(self) -> list[str]:
        """One line per activity processed, for the demo: ``Create by …/users/vi: …/x``."""
        lines = []
        for r in self.received():
            obj = r.activity.get("object")
            ref = obj.get("id") if isinstance(obj, dict) else obj
            lines.append(f"{r.type} by {r.activity.get('actor')}: {ref} (signature verified)")
        return lines

    def is_accepted(self, actor_url: str, name: str = "reader") -> bool:
        """Whether ``actor_url`` accepted the Follow of user ``name``."""
        return any(
            r.activity.get("actor") == actor_url
            and isinstance(r.activity.get("object"), dict)
            and r.activity["object"].get("actor") == self.actor_url(name)
            for r in self.received("Accept")
        )

    # --- acting ---------------------------------------------------------------------------
    def delete_user(self, name: str) -> None:
        """Delete a user's account: its actor document answers 410 Gone from now on (its
        key can still sign, as a server does when it announces the deletion)."""
        with self._state:
            self._gone.add(name)

    def signed_post(
        self, url: str, activity: dict[str, Any], name: str = "reader"
    ) -> httpx.Response:
        """POST an activity to ``url`` signed by user ``name`` (as a remote server does)."""
        body = json.dumps(activity).encode()
        headers = sign_request(
            "POST",
            url,
            body,
            key_id=self.actor_url(name) + "#main-key",
            private_key=load_private_key(self._keys[name][0]),
            now=datetime.now(UTC),
        )
        with httpx.Client(verify=self._verify_tls, timeout=10) as client:
            return client.post(url, content=body, headers=headers)

    def lookup(self, handle: str) -> dict[str, Any]:
        """WebFinger ``@name@host`` (over https, as servers do, unless the host is given as
        an http URL), then fetch the actor document."""
        base: str | None = None
        if handle.startswith(("http://", "https://")):
            parts = urlsplit(handle)
            base, handle = f"{parts.scheme}://{parts.netloc}", parts.path.strip("/")
        user, _, host = handle.lstrip("@").rpartition("@")
        base = base or f"https://{host}"
        with httpx.Client(verify=self._verify_tls, timeout=10) as client:
            jrd = client.get(
                f"{base}/.well-known/webfinger", params={"resource": f"acct:{user}@{host}"}
            )
            jrd.raise_for_status()
            href = next(
                link["href"]
                for link in jrd.json()["links"]
                if link.get("rel") == "self" and link.get("type") == ACTIVITY_JSON
            )
            actor = client.get(href, headers={"Accept": ACTIVITY_JSON})
            actor.raise_for_status()
            document: dict[str, Any] = actor.json()
            return document

    def follow(self, handle: str, name: str = "reader") -> tuple[str, httpx.Response]:
        """Follow ``@user@host`` (or ``http://host/@user@host`` for plain http): returns the
        Follow's id and our inbox's answer. The Accept arrives later in :meth:`received`."""
        actor = self.lookup(handle)
        follow_id = f"{self.actor_url(name)}/follows/{uuid.uuid4().hex}"
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": follow_id,
            "type": "Follow",
            "actor": self.actor_url(name),
            "object": actor["id"],
        }
        return follow_id, self.signed_post(actor["inbox"], follow, name)

    def unfollow(
        self, actor: dict[str, Any], follow_id: str, name: str = "reader"
    ) -> httpx.Response:
        """Undo a Follow (``actor`` is the followed actor's document)."""
        undo = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{follow_id}/undo",
            "type": "Undo",
            "actor": self.actor_url(name),
            "object": {
                "id": follow_id,
                "type": "Follow",
                "actor": self.actor_url(name),
                "object": actor["id"],
            },
        }
        return self.signed_post(actor["inbox"], undo, name)

    # --- the server -----------------------------------------------------------------------
    def routes(self) -> Sequence[BaseRoute]:
        """The Person documents and the inboxes."""
        return [
            Route("/users/{name}", self._actor, methods=["GET"]),
            Route("/users/{name}/inbox", self._inbox, methods=["POST"]),
            Route("/inbox", self._inbox, methods=["POST"]),
        ]

    async def _actor(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self._keys:
            return JSONResponse({"error": "not found"}, status_code=404)
        if name in self._gone:
            return JSONResponse({"id": self.actor_url(name), "type": "Tombstone"}, status_code=410)
        url = self.actor_url(name)
        return JSONResponse(
            {
                "@context": [
                    "https://www.w3.org/ns/activitystreams",
                    "https://w3id.org/security/v1",
                ],
                "id": url,
                "type": "Person",
                "preferredUsername": name,
                "inbox": url + "/inbox",
                "outbox": url + "/outbox",
                "endpoints": {"sharedInbox": self.shared_inbox_url},
                "publicKey": {
                    "id": url + "#main-key",
                    "owner": url,
                    "publicKeyPem": self._keys[name][1],
                },
            },
            media_type=ACTIVITY_JSON,
        )

    async def _inbox(self, request: Request) -> Response:
        record = request_record(request)
        try:
            activity = json.loads(record.body)
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        target = record.path
        key_id, verified = await anyio.to_thread.run_sync(
            self._verify, record.headers, record.body, target
        )
        activity_id = str(activity.get("id", "")) if isinstance(activity, dict) else ""
        with self._state:
            first = verified and activity_id not in self._seen
            if first:
                self._seen.add(activity_id)
            self._received.append(Received(target, activity, verified, key_id, first))
        if not verified:
            return JSONResponse({"error": "signature"}, status_code=401)
        return Response(status_code=202)

    def _verify(self, headers: dict[str, str] | Any, body: bytes, target: str) -> tuple[str, bool]:
        try:
            params = check_request("POST", headers, body, now=datetime.now(UTC), window=3600)
        except SignatureError:
            return "", False
        try:
            pem = self._key(params.key_id)
            verify_signature(params, "POST", target, headers, load_public_key(pem))
        except (SignatureError, httpx.HTTPError, KeyError, ValueError, StopIteration):
            return params.key_id, False
        return params.key_id, True

    def _key(self, key_id: str) -> str:
        if key_id in self._cache:
            return self._cache[key_id]
        if self._resolve is not None:
            pem = self._resolve(key_id)
        else:
            with httpx.Client(verify=self._verify_tls, timeout=10) as client:
                response = client.get(key_id.split("#")[0], headers={"Accept": ACTIVITY_JSON})
                response.raise_for_status()
                key = response.json()["publicKey"]
                if key["id"] != key_id:
                    raise KeyError(key_id)
                pem = key["publicKeyPem"]
        self._cache[key_id] = pem
        return pem
