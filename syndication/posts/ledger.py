"""The post ledger in Redis: each post's life, the due set, and atomic claims.

``planned → due → sending → sent | failed | cancelled | uncertain`` (plus ``deleted`` after a
sent post is removed on unpublish). Every change appends to the post's history. A post waits
in the due sorted set (score = due time) until the dispatcher releases it; a sender claims it
with a Lua compare-and-set (only one worker can move it to ``sending``) and holds a lease.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from redis.typing import EncodableT, FieldT

from syndication.errors import StoreError
from syndication.store import Store, decode_map, members, scores, text_of


class PostStatus(StrEnum):
    """Where a post is in its life."""

    PLANNED = "planned"
    DUE = "due"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"
    DELETED = "deleted"


OPEN = (PostStatus.PLANNED, PostStatus.DUE)

# Both scripts keep KEYS[last] (the counts hash: "platform|channel|status" -> n) in step.
_COUNT = """
local function count(post, old, new)
  local p = redis.call('HMGET', post, 'platform', 'channel')
  local base = (p[1] or '') .. '|' .. (p[2] or '') .. '|'
  redis.call('HINCRBY', KEYS[#KEYS], base .. old, -1)
  redis.call('HINCRBY', KEYS[#KEYS], base .. new, 1)
end
"""

# KEYS: post hash, due zset, leases zset, counts. ARGV: owner, now, lease_until, post id.
_CLAIM = (
    _COUNT
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'planned' and status ~= 'due' then return status or 'missing' end
if redis.call('HGET', KEYS[1], 'approved') == '0' then return 'awaiting-approval' end
count(KEYS[1], status, 'sending')
redis.call('HSET', KEYS[1], 'status', 'sending', 'owner', ARGV[1], 'lease_until', ARGV[3],
           'updated_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 'claimed'
"""
)

# KEYS: post hash, counts. ARGV: expected status, new status, now, then field/value pairs.
_TRANSITION = (
    _COUNT
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= ARGV[1] then return status or 'missing' end
count(KEYS[1], status, ARGV[2])
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 'ok'
"""
)


@dataclass(frozen=True)
class Post:
    """One post of one article (or story) on one channel."""

    id: str
    channel: str
    platform: str
    article_id: str
    story_id: str
    status: PostStatus
    text: str
    link: str
    language: str
    idempotency_key: str
    due_at: float
    created_at: float
    updated_at: float
    title: str = ""
    description: str = ""
    image_url: str = ""
    image_alt: str = ""
    attempts: int = 0
    last_error: str = ""
    remote_id: str = ""
    remote_url: str = ""
    sent_at: float = 0.0
    approved: bool = True
    article_version: float = 0.0
    delete_requested: bool = False
    note: str = ""
    history: tuple[dict[str, object], ...] = field(default_factory=tuple)

    def to_hash(self) -> dict[str, str]:
        """The Redis hash of this post."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if key == "history":
                continue
            if isinstance(value, bool):
                out[key] = "1" if value else "0"
            else:
                out[key] = str(value)
        return out

    @classmethod
    def from_hash(cls, data: Mapping[bytes | str, bytes | str]) -> Post:
        """Read a post back from its Redis hash."""
        d = decode_map(data)

        def number(name: str) -> float:
            return float(d.get(name) or 0)

        return cls(
            id=d.get("id", ""),
            channel=d.get("channel", ""),
            platform=d.get("platform", ""),
            article_id=d.get("article_id", ""),
            story_id=d.get("story_id", ""),
            text=d.get("text", ""),
            link=d.get("link", ""),
            language=d.get("language", ""),
            idempotency_key=d.get("idempotency_key", ""),
            title=d.get("title", ""),
            description=d.get("description", ""),
            image_url=d.get("image_url", ""),
            image_alt=d.get("image_alt", ""),
            last_error=d.get("last_error", ""),
            remote_id=d.get("remote_id", ""),
            remote_url=d.get("remote_url", ""),
            note=d.get("note", ""),
            status=PostStatus(d.get("status", "planned")),
            attempts=int(d.get("attempts") or 0),
            approved=d.get("approved", "1") == "1",
            delete_requested=d.get("delete_requested", "0") == "1",
            history=tuple(json.loads(d.get("history") or "[]")),
            due_at=number("due_at"),
            created_at=number("created_at"),
            updated_at=number("updated_at"),
            sent_at=number("sent_at"),
            article_version=number("article_version"),
        )


def post_id_for(channel: str, article_id: str) -> str:
    """The deterministic id of an article's post on a channel."""
    return f"{channel}--{article_id}"


class Ledger:
    """Posts in Redis, under the store's prefix."""

    def __init__(self, store: Store) -> None:
        self.r = store.r
        self.keys = store.keys
        self._claim = self.r.register_script(_CLAIM)
        self._transition = self.r.register_script(_TRANSITION)

    # --- reading -------------------------------------------------------------------------
    def get(self, post_id: str) -> Post | None:
        """One post, or None."""
        data = self.r.hgetall(self.keys.post(post_id))
        return Post.from_hash(data) if data else None

    def require(self, post_id: str) -> Post:
        """One post; :class:`StoreError` when there is none."""
        post = self.get(post_id)
        if post is None:
            raise StoreError(f"no post {post_id!r}")
        return post

    def many(self, post_ids: Sequence[str]) -> list[Post]:
        """Posts in one round trip (missing ones skipped)."""
        pipe = self.r.pipeline(transaction=False)
        for pid in post_ids:
            pipe.hgetall(self.keys.post(pid))
        return [Post.from_hash(d) for d in pipe.execute() if d]

    def all_ids(self, limit: int = 1000, offset: int = 0) -> list[str]:
        """Post ids, newest first."""
        return members(self.r.zrevrange(self.keys.posts, offset, offset + limit - 1))

    def for_article(self, article_id: str) -> list[Post]:
        """Every post planned for an article."""
        ids = sorted(text_of(m) for m in self.r.smembers(self.keys.article_posts(article_id)))
        return self.many(ids)

    def delivery_owner(self, story_id: str, channel: str) -> str | None:
        """Which post carries a story to a channel, if any."""
        value = self.r.get(self.keys.delivery(story_id, channel))
        return text_of(value) or None

    def channel_times(self, channel: str, since: float) -> list[float]:
        """Due times of posts planned or sent on a channel since ``since``."""
        return scores(
            self.r.zrangebyscore(self.keys.channel_planned(channel), since, "+inf", withscores=True)
        )

    def due_ids(self, now: float, limit: int = 200) -> list[str]:
        """Posts whose time has come."""
        return members(self.r.zrangebyscore(self.keys.due, "-inf", now, start=0, num=limit))

    def expired_leases(self, now: float, limit: int = 100) -> list[str]:
        """Posts left in ``sending`` past their lease (their sender died)."""
        return members(self.r.zrangebyscore(self.keys.leases, "-inf", now, start=0, num=limit))

    def counts(self) -> dict[tuple[str, str, str], int]:
        """Posts by (platform, channel, status), from counters the scripts keep (O(channels))."""
        out: dict[tuple[str, str, str], int] = {}
        for field_, value in self.r.hgetall(self.keys.post_counts).items():
            platform, channel, status = text_of(field_).split("|", 2)
            if int(value):
                out[(platform, channel, status)] = int(value)
        return out

    # --- writing -------------------------------------------------------------------------
    def create(self, post: Post, *, enqueue: bool) -> bool:
        """Record a new post if its delivery key is free; False when another post has it.

        ``enqueue`` puts it in the due set at once (False while it awaits approval).
        """
        k = self.keys
        if not self.r.set(k.delivery(post.story_id, post.channel), post.id, nx=True):
            owner = self.delivery_owner(post.story_id, post.channel)
            if owner != post.id:
                return False
        entry = {"at": post.created_at, "status": post.status.value, "note": "planned"}
        pipe = self.r.pipeline()
        mapping: dict[FieldT, EncodableT] = {f: v for f, v in post.to_hash().items()}
        mapping["history"] = json.dumps([entry])
        pipe.hset(k.post(post.id), mapping=mapping)
        pipe.zadd(k.posts, {post.id: post.created_at})
        pipe.hincrby(k.post_counts, f"{post.platform}|{post.channel}|{post.status.value}", 1)
        pipe.sadd(k.article_posts(post.article_id), post.id)
        pipe.zadd(k.channel_planned(post.channel), {post.id: post.due_at})
        if enqueue:
            pipe.zadd(k.due, {post.id: post.due_at})
        pipe.execute()
        return True

    def _append(self, post_id: str, status: str, now: float, note: str) -> None:
        key = self.keys.post(post_id)
        raw = self.r.hget(key, "history")
        history = json.loads(raw) if raw else []
        history.append({"at": now, "status": status, "note": note[:500]})
        self.r.hset(key, "history", json.dumps(history[-50:], ensure_ascii=False))

    def update(self, post_id: str, now: float, note: str, /, **fields: object) -> None:
        """Set fields of a post and note why in its history.

        The first three are positional-only so that ``note`` (a field of :class:`Post`, e.g.
        ``"needs operator"``) can be set through ``fields``.
        """
        mapping: dict[FieldT, EncodableT] = {
            k: ("1" if v is True else "0" if v is False else str(v)) for k, v in fields.items()
        }
        mapping["updated_at"] = str(now)
        self.r.hset(self.keys.post(post_id), mapping=mapping)
        self._append(post_id, str(fields.get("status", "")), now, note)

    def transition(
        self,
        post_id: str,
        expected: PostStatus,
        new: PostStatus,
        now: float,
        note: str,
        **fields: object,
    ) -> bool:
        """Move a post from ``expected`` to ``new`` atomically; False if it was elsewhere."""
        args: list[str] = [expected.value, new.value, str(now)]
        for k, v in fields.items():
            args += [k, "1" if v is True else "0" if v is False else str(v)]
        ok: bool = (
            self._transition(keys=[self.keys.post(post_id), self.keys.post_counts], args=args)
            == b"ok"
        )
        if ok:
            self._append(post_id, new.value, now, note)
            if new != PostStatus.SENDING:
                self.r.zrem(self.keys.leases, post_id)
        return ok

    def claim(self, post_id: str, owner: str, now: float, lease: float) -> str:
        """Move a planned/due post to ``sending``; returns ``claimed`` or the status it was in."""
        result = self._claim(
            keys=[self.keys.post(post_id), self.keys.due, self.keys.leases, self.keys.post_counts],
            args=[owner, now, now + lease, post_id],
        )
        status = result.decode() if isinstance(result, bytes) else str(result)
        if status == "claimed":
            self._append(post_id, "sending", now, f"claimed by {owner}")
        return status

    def schedule(
        self, post_id: str, due_at: float, now: float, note: str, /, **fields: object
    ) -> None:
        """Put a post (back) in the due set at ``due_at``."""
        self.update(post_id, now, note, status=PostStatus.PLANNED.value, due_at=due_at, **fields)
        pipe = self.r.pipeline()
        pipe.zadd(self.keys.due, {post_id: due_at})
        pipe.zadd(self.keys.channel_planned(self.require(post_id).channel), {post_id: due_at})
        pipe.zrem(self.keys.leases, post_id)
        pipe.execute()

    def expect_reconcile(self, post_id: str, at: float) -> None:
        """Note that an uncertain post must be reconciled by ``at`` (or it is tried again)."""
        self.r.zadd(self.keys.reconciling, {post_id: at})

    def reconcile_due(self, now: float, limit: int = 100) -> list[str]:
        """Uncertain posts whose reconciliation did not happen in time (lost message, crash)."""
        return members(self.r.zrangebyscore(self.keys.reconciling, "-inf", now, start=0, num=limit))

    def reconciled(self, post_id: str) -> None:
        """A reconciliation finished (whatever it decided)."""
        self.r.zrem(self.keys.reconciling, post_id)

    def defer(self, post_id: str, until: float) -> bool:
        """Move a post still in the due set to ``until`` (only if it is there)."""
        return bool(self.r.zadd(self.keys.due, {post_id: until}, xx=True))

    def cancel(self, post_id: str, now: float, note: str) -> bool:
        """Cancel a post that was not sent yet."""
        for status in OPEN:
            if self.transition(post_id, status, PostStatus.CANCELLED, now, note):
                pipe = self.r.pipeline()
                pipe.zrem(self.keys.due, post_id)
                pipe.zrem(self.keys.channel_planned(self.require(post_id).channel), post_id)
                pipe.execute()
                return True
        return False

    # --- channels ------------------------------------------------------------------------
    def pause(self, channel: str, paused: bool) -> None:
        """Pause or resume a channel (its posts wait; nothing is lost)."""
        if paused:
            self.r.set(self.keys.channel_paused(channel), "1")
        else:
            self.r.delete(self.keys.channel_paused(channel))

    def paused(self, channels: Iterable[str]) -> set[str]:
        """Which of ``channels`` are paused."""
        names = list(channels)
        if not names:
            return set()
        values = self.r.mget([self.keys.channel_paused(c) for c in names])
        return {c for c, v in zip(names, values, strict=True) if v}

    def save_rate(
        self, channel: str, limit: int | None, remaining: int | None, reset_at: float | None
    ) -> None:
        """Remember the rate-limit headers last seen on a channel."""
        mapping: dict[FieldT, EncodableT] = {
            k: str(v)
            for k, v in (("limit", limit), ("remaining", remaining), ("reset_at", reset_at))
            if v is not None
        }
        if mapping:
            self.r.hset(self.keys.channel_rate(channel), mapping=mapping)

    def cached_image(self, url: str) -> tuple[bytes, str, int, int] | None:
        """A lead image fetched earlier: (bytes, content type, width, height)."""
        key = self.keys.media(hashlib.sha256(url.encode()).hexdigest()[:32])
        data, ctype, width, height = self.r.hmget(key, "data", "type", "width", "height")
        if not isinstance(data, bytes) or not ctype:
            return None
        return data, text_of(ctype), int(width or 0), int(height or 0)

    def cache_image(self, url: str, data: bytes, ctype: str, width: int, height: int) -> None:
        """Keep a fetched lead image for two days, so each image is fetched once."""
        key = self.keys.media(hashlib.sha256(url.encode()).hexdigest()[:32])
        pipe = self.r.pipeline()
        pipe.hset(key, mapping={"data": data, "type": ctype, "width": width, "height": height})
        pipe.expire(key, 2 * 86400)
        pipe.execute()

    def text_limits(self, channel: str) -> tuple[int, int] | None:
        """A Mastodon instance's (max_characters, characters_reserved_per_url), if cached."""
        chars, per_url = self.r.hmget(self.keys.platform_info(channel), "max_characters", "per_url")
        return (int(chars), int(per_url)) if chars and per_url else None

    def save_text_limits(self, channel: str, limits: tuple[int, int], ttl: int = 86400) -> None:
        """Cache an instance's text limits for a day (instances rarely change them)."""
        key = self.keys.platform_info(channel)
        pipe = self.r.pipeline()
        pipe.hset(key, mapping={"max_characters": limits[0], "per_url": limits[1]})
        pipe.expire(key, ttl)
        pipe.execute()

    def rate(self, channel: str) -> tuple[int | None, float | None]:
        """(remaining, reset_at) last seen on a channel."""
        remaining, reset_at = self.r.hmget(self.keys.channel_rate(channel), "remaining", "reset_at")
        return (int(remaining) if remaining else None, float(reset_at) if reset_at else None)


def now_ts() -> float:
    """The current Unix time (the one clock read of the shell)."""
    return time.time()


__all__ = ["OPEN", "Ledger", "Post", "PostStatus", "now_ts", "post_id_for", "replace"]
