"""Receiving activities: verify the HTTP Signature, then handle Follow, Undo and Delete.

:meth:`Inbox.receive` takes a request already read (method, path and query, headers, body)
and returns the answer; :mod:`syndication.federation.web` is the HTTP shell around it.

1. The signature is checked without a key first (it must cover the request target, host,
   date and digest; the Date must be within the window; the Digest must match the body),
   then with the sender's key, fetched by its ``keyId`` and cached (refetched once when a
   cached key does not verify: the sender may have a new one).
2. The activity's ``actor`` must be the owner of that key.
3. ``Follow`` of one of our actors records the follower and its shared inbox and answers
   with an ``Accept``, recorded as a durable delivery to the follower's inbox; ``Undo`` of a
   Follow forgets it; ``Delete`` of the sender's own actor forgets it everywhere. Anything
   else is accepted (202) and ignored.

Unsigned or badly signed requests get 401. A ``Delete`` from an actor whose key can no
longer be fetched (404/410: the account is gone) is checked by fetching the actor: if it is
gone, its follows are forgotten, as Mastodon does; nothing is trusted from the request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog

from syndication.config.federation import FederationConfig
from syndication.errors import PermanentError, PlatformError
from syndication.federation import documents
from syndication.federation.accounts import Accounts, Follower, RemoteActor
from syndication.federation.actors import Directory
from syndication.federation.ledger import DeliveryLedger, NewActivity, delivery_id
from syndication.federation.remote import Remote, Signer, first_id
from syndication.federation.signatures import (
    SignatureError,
    SignatureParams,
    check_request,
    load_public_key,
    verify_signature,
)

__all__ = ["Inbox", "InboxAnswer"]

log = structlog.get_logger(__name__)

# A cached key that does not verify is fetched again, at most this often.
KEY_REFETCH_AFTER = 60.0

# Called with the ids of deliveries recorded by the inbox (the Accepts), to nudge a sender.
Nudge = Callable[[list[str]], None]


@dataclass(frozen=True)
class InboxAnswer:
    """The HTTP answer to one inbox request."""

    status: int
    message: str
    # Deliveries the request recorded (an Accept), for the caller to nudge a sender.
    recorded: tuple[str, ...] = ()


class Inbox:
    """Verifies and handles what other servers POST to our inboxes."""

    def __init__(
        self,
        directory: Directory,
        accounts: Accounts,
        ledger: DeliveryLedger,
        remote: Remote,
        config: FederationConfig,
    ) -> None:
        self.directory = directory
        self.accounts = accounts
        self.ledger = ledger
        self.remote = remote
        self.config = config

    def receive(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        username: str | None,
        now: float,
    ) -> InboxAnswer:
        """Handle one POST to ``/users/{username}/inbox`` (or the shared ``/inbox`` when
        ``username`` is None). ``headers`` have lower-case names."""
        if username is not None and self.directory.get(username) is None:
            return InboxAnswer(404, f"inbox: no actor {username!r}")
        moment = datetime.fromtimestamp(now, UTC)
        try:
            params = check_request(
                method, headers, body, now=moment, window=self.config.signature_window
            )
        except SignatureError as exc:
            return InboxAnswer(401, str(exc))
        try:
            activity = json.loads(body)
        except ValueError:
            return InboxAnswer(400, "body: not JSON")
        if not isinstance(activity, dict):
            return InboxAnswer(400, "body: not a JSON object")
        signer = self._signer(username)
        try:
            remote = self._verified_sender(method, target, headers, params, signer, now)
        except SignatureError as exc:
            return self._unverifiable(activity, str(exc), signer)
        sender = first_id(activity.get("actor"))
        if sender != remote.id:
            return InboxAnswer(401, "actor: is not the owner of the signing key")
        # A server that sends us signed requests is up, whatever its past failures.
        self.ledger.server_ok(_host(remote.shared_inbox or remote.inbox or sender), now)
        return self._handle(activity, remote, username, now)

    def _signer(self, username: str | None) -> Signer:
        # Key fetches are signed (servers in authorized-fetch mode require it) by the actor
        # whose inbox was addressed, or the first actor for the shared inbox.
        name = username or next(iter(self.directory.actors))
        return Signer(self.directory.key_id(name), self.accounts.signing_key(name))

    def _verified_sender(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        params: SignatureParams,
        signer: Signer,
        now: float,
    ) -> RemoteActor:
        """The sender, once its signature verifies with the key its keyId names."""
        cached = self.accounts.cached_actor(params.key_id)
        if cached is not None:
            try:
                verify_signature(
                    params, method, target, headers, load_public_key(cached.public_pem)
                )
                return cached
            except SignatureError:
                # The sender may have a new key; fetch it again, but not more than once a
                # minute, so bad signatures cannot make us fetch on every request.
                if now - cached.fetched_at < KEY_REFETCH_AFTER:
                    raise
                self.accounts.forget_actor(params.key_id)
        remote = self._fetch_key(params.key_id, signer)
        verify_signature(params, method, target, headers, load_public_key(remote.public_pem))
        return remote

    def _fetch_key(self, key_id: str, signer: Signer) -> RemoteActor:
        try:
            remote = self.remote.resolve_key(key_id, signer)
        except PermanentError as exc:
            raise SignatureError(f"Signature.keyId: cannot use the key: {exc}") from None
        except PlatformError as exc:
            raise SignatureError(f"Signature.keyId: cannot fetch the key now: {exc}") from None
        self.accounts.cache_actor(remote)
        return remote

    def _unverifiable(self, activity: dict[str, Any], error: str, signer: Signer) -> InboxAnswer:
        """A signature we cannot check: refuse it, unless it is the Delete of an account
        that is gone (its key went with it), which we confirm by fetching the account."""
        actor = first_id(activity.get("actor"))
        if activity.get("type") == "Delete" and actor and first_id(activity.get("object")) == actor:
            try:
                self.remote.fetch(actor, signer)
            except PermanentError as exc:
                if exc.status in (404, 410):
                    removed = self.accounts.remove_everywhere(actor, self.directory.actors)
                    log.info("federation.follower_gone", follower=actor, actors=removed)
                    return InboxAnswer(202, "actor gone: forgotten")
            except PlatformError:
                pass
        log.info("federation.inbox_refused", reason=error[:200])
        return InboxAnswer(401, error)

    # --- activities -----------------------------------------------------------------------
    def _handle(
        self, activity: dict[str, Any], remote: RemoteActor, username: str | None, now: float
    ) -> InboxAnswer:
        kind = activity.get("type")
        if kind == "Follow":
            return self._follow(activity, remote, username, now)
        if kind == "Undo":
            inner = activity.get("object")
            if isinstance(inner, dict) and inner.get("type") == "Follow":
                target = self.directory.by_url(first_id(inner.get("object")))
                if target is not None and first_id(inner.get("actor")) in ("", remote.id):
                    self.accounts.remove_follower(target.username, remote.id)
                    log.info("federation.unfollowed", actor=target.username, follower=remote.id)
                    return InboxAnswer(202, "unfollowed")
            return InboxAnswer(202, "ignored")
        if kind == "Delete" and first_id(activity.get("object")) == remote.id:
            removed = self.accounts.remove_everywhere(remote.id, self.directory.actors)
            log.info("federation.follower_deleted", follower=remote.id, actors=removed)
            return InboxAnswer(202, "deleted")
        return InboxAnswer(202, "ignored")

    def _follow(
        self, activity: dict[str, Any], remote: RemoteActor, username: str | None, now: float
    ) -> InboxAnswer:
        target = self.directory.by_url(first_id(activity.get("object")))
        if target is None or (username is not None and username != target.username):
            return InboxAnswer(202, "ignored: not a Follow of one of our actors")
        if not remote.inbox:
            return InboxAnswer(400, "actor.inbox: the follower has no inbox")
        follower = Follower(
            id=remote.id,
            inbox=remote.inbox,
            shared_inbox=remote.shared_inbox,
            follow_id=first_id(activity),
            since=now,
        )
        new = self.accounts.add_follower(target.username, follower)
        accept = documents.accept(
            self.directory.actor_url(target.username),
            {"id": first_id(activity), "actor": remote.id},
        )
        self.ledger.record(
            NewActivity(accept["id"], "Accept", target.username, json.dumps(accept)),
            [remote.inbox],
            now,
        )
        log.info("federation.followed", actor=target.username, follower=remote.id, new=bool(new))
        return InboxAnswer(202, "accepted", (delivery_id(accept["id"], remote.inbox),))


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()
