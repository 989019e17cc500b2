"""Accounts in Redis: our actors' key pairs, who follows them, and remote actors' keys.

- Each actor's RSA key pair is generated the first time it is needed and stored under the
  project's prefix; a Lua script keeps the first pair written, so two processes racing to
  create it agree on one. The private key never leaves this module except to sign, and is
  kept out of every ``repr``.
- Followers are a hash per actor: follower actor id -> its inbox, shared inbox and Follow.
  Deliveries go once per shared inbox (:meth:`Accounts.targets`).
- Remote actors' public keys (and inboxes) are cached by ``keyId`` for a while, so a busy
  server's every request does not cost a fetch.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from syndication.federation.signatures import generate_key_pair, load_private_key
from syndication.store import Store, decode_map, text_of

__all__ = ["Accounts", "Follower", "KeyPair", "RemoteActor"]

# KEYS: the actor's key hash. ARGV: private PEM, public PEM. The first pair written wins.
_KEEP_FIRST = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'private', ARGV[1], 'public', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'private', 'public')
"""


@dataclass(frozen=True)
class KeyPair:
    """One actor's key pair (PEM). The private half never appears in a repr."""

    username: str
    public_pem: str
    private_pem: str = field(repr=False)


@dataclass(frozen=True)
class Follower:
    """A remote actor following one of ours, and where to deliver to it."""

    id: str
    inbox: str
    shared_inbox: str = ""
    follow_id: str = ""
    since: float = 0.0

    @property
    def target(self) -> str:
        """Where activities go: the server's shared inbox when it has one."""
        return self.shared_inbox or self.inbox


@dataclass(frozen=True)
class RemoteActor:
    """What a remote actor document told us: its key and its inboxes."""

    id: str
    key_id: str
    public_pem: str
    inbox: str = ""
    shared_inbox: str = ""
    fetched_at: float = 0.0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Accounts:
    """Key pairs, followers and the remote key cache, under one store's prefix."""

    def __init__(self, store: Store, *, key_bits: int = 2048, key_cache_seconds: int = 86400):
        self.r = store.r
        self.keys = store.keys
        self.key_bits = key_bits
        self.key_cache_seconds = key_cache_seconds
        self._keep_first = self.r.register_script(_KEEP_FIRST)
        self._loaded: dict[str, tuple[KeyPair, rsa.RSAPrivateKey]] = {}
        self._lock = threading.Lock()

    # --- our key pairs --------------------------------------------------------------------
    def keypair(self, username: str) -> KeyPair:
        """The actor's key pair, generated and stored the first time it is asked for."""
        return self._load(username)[0]

    def signing_key(self, username: str) -> rsa.RSAPrivateKey:
        """The actor's private key, ready to sign."""
        return self._load(username)[1]

    def _load(self, username: str) -> tuple[KeyPair, rsa.RSAPrivateKey]:
        with self._lock:
            cached = self._loaded.get(username)
            if cached is not None:
                return cached
            key = self.keys.fed_actor_key(username)
            private, public = (text_of(v) for v in self.r.hmget(key, "private", "public"))
            if not private or not public:
                new_private, new_public = generate_key_pair(self.key_bits)
                reply = self._keep_first(keys=[key], args=[new_private, new_public])
                private, public = text_of(reply[0]), text_of(reply[1])
            pair = KeyPair(username, public, private)
            loaded = (pair, load_private_key(private))
            self._loaded[username] = loaded
            return loaded

    # --- followers ------------------------------------------------------------------------
    def add_follower(self, username: str, follower: Follower) -> bool:
        """Record (or refresh) a follower; True when it was not following before."""
        body = json.dumps(asdict(follower), ensure_ascii=False)
        return bool(self.r.hset(self.keys.fed_followers(username), follower.id, body))

    def remove_follower(self, username: str, follower_id: str) -> bool:
        """Forget a follower of one actor (an Undo of its Follow)."""
        return bool(self.r.hdel(self.keys.fed_followers(username), follower_id))

    def remove_everywhere(self, follower_id: str, usernames: Iterable[str]) -> list[str]:
        """Forget a remote actor that was deleted, from every actor it followed."""
        names = list(usernames)
        pipe = self.r.pipeline()
        for name in names:
            pipe.hdel(self.keys.fed_followers(name), follower_id)
        return [n for n, removed in zip(names, pipe.execute(), strict=True) if removed]

    def followers(self, username: str) -> list[Follower]:
        """Every follower of an actor, in id order."""
        data = decode_map(self.r.hgetall(self.keys.fed_followers(username)))
        return [Follower(**json.loads(data[k])) for k in sorted(data)]

    def follower_count(self, username: str) -> int:
        """How many follow an actor."""
        return int(self.r.hlen(self.keys.fed_followers(username)))

    def targets(self, username: str) -> list[str]:
        """The inboxes an activity of this actor goes to: one per shared inbox."""
        return sorted({f.target for f in self.followers(username)})

    # --- remote keys ----------------------------------------------------------------------
    def cached_actor(self, key_id: str) -> RemoteActor | None:
        """The remote actor a keyId belongs to, if fetched recently."""
        raw = self.r.get(self.keys.fed_remote_key(_digest(key_id)))
        return None if raw is None else RemoteActor(**json.loads(raw))

    def cache_actor(self, remote: RemoteActor) -> None:
        """Remember a remote actor's key (and inboxes) for ``key_cache_seconds``."""
        self.r.set(
            self.keys.fed_remote_key(_digest(remote.key_id)),
            json.dumps(asdict(remote)),
            ex=self.key_cache_seconds,
        )

    def forget_actor(self, key_id: str) -> None:
        """Drop a cached key (it no longer verifies: the actor may have a new one)."""
        self.r.delete(self.keys.fed_remote_key(_digest(key_id)))
