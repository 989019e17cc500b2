"""The delivery ledger: every activity we publish, and one record per activity and inbox.

``pending → sending → sent | failed | superseded | skipped``. Every write is one Lua script,
so an actor's announcement of an article, the activity, its deliveries, the due set and the
counts per status move together or not at all (a crash never leaves an activity without its
deliveries, or deliveries without their activity).

- **Once per inbox**: a delivery's id is a digest of (activity id, inbox), so recording the
  same activity again adds nothing, and a sender claims a delivery with a compare-and-set
  (``pending → sending``, with a lease) before it sends: two workers never send one record.
- **In order, latest state wins**: the deliveries of one actor's activities about one
  article to one inbox form a chain (``prev``). A delivery is not claimed while the one
  before it is unsettled, so an inbox sees Create, then Update, then Delete. Recording a
  Delete supersedes the Updates still pending before it (they are never sent), and when the
  Create itself was never sent, the Delete is not needed either; a newer Update supersedes
  older pending Updates. An Update recorded after a Delete is impossible: the federator
  only announces a new object (a new id) after a Delete.
- **Dead servers**: failures in a row per server are counted; past the threshold the server
  is marked dead for a while, and a claim settles its deliveries as ``skipped``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from urllib.parse import urlsplit

from syndication.federation import scripts
from syndication.store import Store, decode_map, members, text_of

__all__ = [
    "Announcement",
    "Delivery",
    "DeliveryLedger",
    "DeliveryStatus",
    "NewActivity",
    "Settled",
    "activity_key",
    "delivery_id",
]


class DeliveryStatus(StrEnum):
    """Where one activity to one inbox is."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"


SETTLED = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SUPERSEDED,
    DeliveryStatus.SKIPPED,
)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def activity_key(activity_id: str) -> str:
    """The key under which an activity is kept (a digest of its id)."""
    return _digest(activity_id)


def delivery_id(activity_id: str, inbox: str) -> str:
    """The one delivery record of an activity to an inbox."""
    return _digest(activity_id + "\n" + inbox)


@dataclass(frozen=True)
class Settled:
    """The outcome of :meth:`DeliveryLedger.settle`: whether the delivery moved, and the
    next delivery of its chain that this released (empty if none)."""

    moved: bool
    released: str = ""

    def __bool__(self) -> bool:
        return self.moved


@dataclass(frozen=True)
class Announcement:
    """What one actor last announced of one article."""

    state: str  # "live" or "deleted"
    version: float
    seq: int
    incarnation: int = 0
    object_type: str = "Note"

    def to_json(self) -> str:
        """The JSON kept in the announcements hash."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Announcement:
        """Read one back."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class NewActivity:
    """An activity to record, with the inboxes it goes to."""

    id: str
    type: str
    actor: str
    body: str
    article_id: str = ""


@dataclass(frozen=True)
class Delivery:
    """One activity to one inbox."""

    id: str
    activity: str
    activity_id: str
    type: str
    actor: str
    article: str
    inbox: str
    host: str
    status: DeliveryStatus
    attempts: int = 0
    created_at: float = 0.0
    due_at: float = 0.0
    updated_at: float = 0.0
    first_attempt_at: float = 0.0
    sent_at: float = 0.0
    lease_until: float = 0.0
    owner: str = ""
    prev: str = ""
    next: str = ""
    note: str = ""
    last_error: str = ""
    response_status: int = 0

    @classmethod
    def from_hash(cls, data: Mapping[bytes | str, bytes | str]) -> Delivery:
        """Read a delivery back from its Redis hash."""
        d = decode_map(data)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = d.get(f.name, "")
            if f.name == "status":
                values[f.name] = DeliveryStatus(raw or "pending")
            elif f.type in ("int",):
                values[f.name] = int(float(raw or 0))
            elif f.type in ("float",):
                values[f.name] = float(raw or 0)
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]


class DeliveryLedger:
    """Activities and deliveries in Redis, under one store's prefix."""

    def __init__(self, store: Store) -> None:
        self.r = store.r
        self.keys = store.keys
        self._record = self.r.register_script(scripts.RECORD)
        self._claim = self.r.register_script(scripts.CLAIM)
        self._settle = self.r.register_script(scripts.SETTLE)
        self._failed = self.r.register_script(scripts.FAILED)

    # --- recording ------------------------------------------------------------------------
    def announcements(self, article_id: str) -> dict[str, Announcement]:
        """What each actor last announced of an article."""
        data = decode_map(self.r.hgetall(self.keys.fed_announced(article_id)))
        return {actor: Announcement.from_json(text) for actor, text in data.items()}

    def announced_by(self, username: str, article_ids: Sequence[str]) -> dict[str, Announcement]:
        """What one actor last announced of each of ``article_ids`` (the outbox's page)."""
        pipe = self.r.pipeline(transaction=False)
        for article_id in article_ids:
            pipe.hget(self.keys.fed_announced(article_id), username)
        return {
            article_id: Announcement.from_json(text_of(raw))
            for article_id, raw in zip(article_ids, pipe.execute(), strict=True)
            if raw
        }

    def record(
        self,
        activity: NewActivity,
        inboxes: Iterable[str],
        now: float,
        *,
        expected_seq: int | None = None,
        announcement: Announcement | None = None,
    ) -> int | None:
        """Record an activity and one delivery per inbox, atomically; returns how many
        deliveries were new, or None when the announcement moved on since it was read
        (``expected_seq``: the seq read; another federator got there first)."""
        k = self.keys
        args: list[str] = [
            activity.actor,
            "" if expected_seq is None else str(expected_seq),
            announcement.to_json() if announcement else "",
            activity.id,
            activity.type,
            activity.article_id,
            activity.body,
            repr(now),
            k.fed_delivery(""),
            activity_key(activity.id),
        ]
        for inbox in sorted(set(inboxes)):
            args += [delivery_id(activity.id, inbox), inbox, urlsplit(inbox).netloc.lower()]
        reply = self._record(
            keys=[
                k.fed_announced(activity.article_id),
                k.fed_activity(activity_key(activity.id)),
                k.fed_due,
                k.fed_deliveries,
                k.fed_counts,
                k.fed_chain(activity.actor, activity.article_id),
                k.fed_article_deliveries(activity.article_id),
            ],
            args=args,
        )
        if text_of(reply[0]) == "conflict":
            return None
        return int(text_of(reply[1]))

    # --- sending --------------------------------------------------------------------------
    def claim(self, delivery: str, owner: str, now: float, lease: float, *, wait: float) -> str:
        """``pending → sending`` with a lease; returns ``claimed`` or why not (``waiting``:
        the delivery before it in its chain is unsettled; ``skipped``: dead server)."""
        k = self.keys
        host = text_of(self.r.hget(k.fed_delivery(delivery), "host"))
        return text_of(
            self._claim(
                keys=[k.fed_delivery(delivery), k.fed_due, k.fed_leases, k.fed_counts,
                      k.fed_server(host)],
                args=[delivery, owner, repr(now), repr(now + lease), k.fed_delivery(""), wait],
            )
        )  # fmt: skip

    def settle(
        self,
        delivery: str,
        expected: DeliveryStatus | Sequence[DeliveryStatus],
        new: DeliveryStatus,
        now: float,
        *,
        due_at: float | None = None,
        owner: str = "",
        **values: object,
    ) -> Settled:
        """Move a delivery from ``expected`` to ``new`` (only for ``owner`` when given);
        ``due_at`` puts it back in the due set. Settling it for good releases the next
        delivery of its chain, whose id is returned for a nudge."""
        wanted = [expected] if isinstance(expected, DeliveryStatus) else list(expected)
        args: list[str] = [
            delivery,
            ",".join(s.value for s in wanted),
            new.value,
            repr(now),
            "" if due_at is None else repr(due_at),
            owner,
        ]
        for name, value in values.items():
            args += [name, str(value)]
        k = self.keys
        reply = text_of(
            self._settle(
                keys=[k.fed_delivery(delivery), k.fed_due, k.fed_leases, k.fed_counts], args=args
            )
        )
        if reply != "ok" and not reply.startswith("ok:"):
            return Settled(False)
        return Settled(True, reply[3:])

    def activity_body(self, key: str) -> str:
        """The JSON of a recorded activity ('' if it is gone)."""
        return text_of(self.r.hget(self.keys.fed_activity(key), "body"))

    def server_failed(
        self, host: str, now: float, *, threshold: int, streak: float, dead_for: float, error: str
    ) -> float:
        """Count a failure of a server; returns when it is dead until (0: not dead)."""
        reply = self._failed(
            keys=[self.keys.fed_server(host)],
            args=[repr(now), threshold, repr(streak), repr(dead_for), error[:300]],
        )
        return float(text_of(reply))

    def server_ok(self, host: str, now: float) -> None:
        """A server answered well: its failure streak and any dead mark end."""
        key = self.keys.fed_server(host)
        pipe = self.r.pipeline()
        pipe.hset(key, mapping={"failures": 0, "dead_until": 0, "last_ok": repr(now)})
        pipe.hdel(key, "since")
        pipe.execute()

    def server(self, host: str) -> dict[str, str]:
        """A server's health record."""
        return decode_map(self.r.hgetall(self.keys.fed_server(host)))

    # --- reading --------------------------------------------------------------------------
    def get(self, delivery: str) -> Delivery | None:
        """One delivery, or None."""
        data = self.r.hgetall(self.keys.fed_delivery(delivery))
        return Delivery.from_hash(data) if data else None

    def many(self, ids: Sequence[str]) -> list[Delivery]:
        """Deliveries in one round trip (missing ones skipped)."""
        pipe = self.r.pipeline(transaction=False)
        for delivery in ids:
            pipe.hgetall(self.keys.fed_delivery(delivery))
        return [Delivery.from_hash(d) for d in pipe.execute() if d]

    def for_article(self, article_id: str) -> list[Delivery]:
        """Every delivery of the activities about one article, oldest first."""
        ids = members(self.r.smembers(self.keys.fed_article_deliveries(article_id)))
        return sorted(self.many(ids), key=lambda d: (d.created_at, d.type, d.inbox))

    def all_ids(self, limit: int = 1000) -> list[str]:
        """Delivery ids, newest first."""
        return members(self.r.zrevrange(self.keys.fed_deliveries, 0, limit - 1))

    def due_ids(self, now: float, limit: int = 200) -> list[str]:
        """Pending deliveries whose time has come."""
        return members(self.r.zrangebyscore(self.keys.fed_due, "-inf", now, start=0, num=limit))

    def expired_leases(self, now: float, limit: int = 100) -> list[str]:
        """Deliveries left ``sending`` past their lease (their sender died)."""
        return members(self.r.zrangebyscore(self.keys.fed_leases, "-inf", now, start=0, num=limit))

    def defer(self, delivery: str, until: float) -> bool:
        """Push a delivery still in the due set to ``until`` (only if it is there)."""
        return bool(self.r.zadd(self.keys.fed_due, {delivery: until}, xx=True))

    def drop_lease(self, delivery: str) -> None:
        """Forget the lease of a delivery that is no longer being sent."""
        self.r.zrem(self.keys.fed_leases, delivery)

    def counts(self) -> dict[str, int]:
        """Deliveries by status (kept by the scripts)."""
        data = decode_map(self.r.hgetall(self.keys.fed_counts))
        return {status: int(n) for status, n in data.items() if int(n)}
