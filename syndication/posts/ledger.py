"""The post ledger in Redis: each post's life, the due set, and atomic claims.

``planned → sending → sent | failed | cancelled | uncertain`` (plus ``deleted`` after a sent
post is removed on unpublish). Every write is one Lua script, so a status, the counts kept per
``platform|channel|status``, the due set, the lease set, the history entry and any work the
change owes (an edit or a delete: the ``sync`` work list) move together or not at all.

A post waits in the due sorted set (score = due time) until the dispatcher releases it; a
sender claims it with a compare-and-set (only one worker can move it to ``sending``) and holds
a lease. What the platform shows is described by ``sent_version`` (the article revision whose
text went out or was last edited in); what it should show by ``article_version`` and
``delete_requested``. When the two differ on a sent post, the post is owed a sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.typing import EncodableT, FieldT

from syndication.connection import exchange
from syndication.errors import StoreError
from syndication.posts.post import (
    OPEN,
    SETTLING,
    Claim,
    Post,
    PostStatus,
    entry,
    post_id_for,
    text_value,
)
from syndication.posts.scripts import (
    CLAIM,
    CREATE,
    TRANSITION,
    UPDATE,
    Call,
    run_scripts,
)
from syndication.replies import hash_of
from syndication.store import Store, members, pairs, text_of

__all__ = [
    "MOVED",
    "OPEN",
    "SETTLING",
    "Claim",
    "Ledger",
    "Post",
    "PostStatus",
    "Rate",
    "post_id_for",
]

# What the transition script answers when it moved the post (``ok:sync``: and it owes a sync).
MOVED = ("ok", "ok:sync")
# Rate-limit headers a send saw: (limit, remaining, reset_at), each None when not given.
Rate = tuple[int | None, int | None, float | None]


class Ledger:
    """Posts in Redis, under the store's prefix."""

    def __init__(self, store: Store) -> None:
        self.r = store.r
        self.keys = store.keys
        self._create = self.r.register_script(CREATE)
        self._claim = self.r.register_script(CLAIM)
        self._transition = self.r.register_script(TRANSITION)
        self._update = self.r.register_script(UPDATE)

    # --- reading -------------------------------------------------------------------------
    def get(self, post_id: str) -> Post | None:
        """One post, or None."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self.keys.post(post_id))
        pipe.lrange(self.keys.post_history(post_id), 0, -1)
        data, history = pipe.execute()
        return Post.from_hash(data, history) if data else None

    def require(self, post_id: str) -> Post:
        """One post; :class:`StoreError` when there is none."""
        post = self.get(post_id)
        if post is None:
            raise StoreError(f"no post {post_id!r}")
        return post

    def many(self, post_ids: Sequence[str], *, history: bool = False) -> list[Post]:
        """Posts in one round trip (missing ones skipped); ``history`` reads theirs too."""
        pipe = self.r.pipeline(transaction=False)
        for pid in post_ids:
            pipe.hgetall(self.keys.post(pid))
            if history:
                pipe.lrange(self.keys.post_history(pid), 0, -1)
        replies = pipe.execute()
        if not history:
            return [Post.from_hash(d) for d in replies if d]
        pairs = zip(replies[::2], replies[1::2], strict=True)
        return [Post.from_hash(d, h) for d, h in pairs if d]

    def lookup(
        self, post_ids: Sequence[str], deliveries: Sequence[tuple[str, str]]
    ) -> tuple[list[Post | None], list[str | None]]:
        """Posts (``None`` where there is none, history not read) and the owners of
        ``(story_id, channel)`` delivery keys, in one round trip (every plan asks)."""
        k = self.keys
        replies = exchange(
            self.r,
            reads=[
                *(("HGETALL", k.post(pid)) for pid in post_ids),
                *(("GET", k.delivery(story_id, channel)) for story_id, channel in deliveries),
            ],
        )
        posts = [Post.from_hash(hash_of(d)) if d else None for d in replies[: len(post_ids)]]
        owners = [text_of(v) or None for v in replies[len(post_ids) :]]
        return posts, owners

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

    def due_ids(self, now: float, limit: int = 200, offset: int = 0) -> list[str]:
        """Posts whose time has come, earliest first (skipping the first ``offset``)."""
        return members(self.r.zrangebyscore(self.keys.due, "-inf", now, start=offset, num=limit))

    def queued_at(self, post_id: str) -> float | None:
        """When a post is due in the due set, or ``None`` when it is not waiting there."""
        score = self.r.zscore(self.keys.due, post_id)
        return None if score is None else float(score)

    def due_soon(self, after: float, until: float, limit: int = 200) -> list[tuple[str, float]]:
        """Posts due in ``(after, until]`` with their due times, earliest first."""
        reply = self.r.zrangebyscore(
            self.keys.due, f"({after!r}", until, start=0, num=limit, withscores=True
        )
        return pairs(reply)

    def channels_of(self, post_ids: Sequence[str]) -> list[str]:
        """The channel of each post (``""`` for a missing one), in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for pid in post_ids:
            pipe.hget(self.keys.post(pid), "channel")
        return [text_of(c) for c in pipe.execute()]

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
    def create(self, post: Post, *, enqueue: bool, also: Call | None = None) -> bool:
        """Record a new post if its delivery key is free; False when another post has it.

        ``enqueue`` puts it in the due set at once (False while it awaits approval). The
        delivery key, the post, its history, the counts and the indexes are written in one
        script, so a crash never leaves half a post. ``also`` is another script call sent in
        the same round trip, after it (the planner's calendar records what it learnt).
        """
        calls = [self.creating(post, enqueue=enqueue), *([also] if also else [])]
        return self.created(run_scripts(self.r, *calls)[0])

    def creating(self, post: Post, *, enqueue: bool, lock_token: str = "") -> Call:
        """:meth:`create` as a script call to send with others; with ``lock_token``, the
        script also releases the channel lock that token holds, once the post is written
        (its reply is then ``[what it did, 1 if the lock was still held]``)."""
        k = self.keys
        fields: list[str] = []
        for name, value in post.to_hash().items():
            fields += [name, value]
        keys = [
            k.post(post.id),
            k.post_history(post.id),
            k.post_counts,
            k.delivery(post.story_id, post.channel),
            k.posts,
            k.article_posts(post.article_id),
            k.channel_planned(post.channel),
            k.due,
            *([k.channel_lock(post.channel)] if lock_token else []),
        ]
        args = [
            post.id,
            repr(post.created_at),
            repr(post.due_at),
            "1" if enqueue else "0",
            entry(post.created_at, post.status.value, "planned"),
            lock_token,
            *fields,
        ]
        return self._create, keys, args

    @staticmethod
    def created(reply: Any) -> bool:
        """Whether the create script's ``reply`` means the post is in the ledger (written now,
        or by an earlier attempt of the same plan)."""
        return text_of(reply) in ("created", "exists")

    def update(self, post_id: str, now: float, note: str, /, **fields: object) -> bool:
        """Set fields of a post (never its status) and note why in its history.

        If the change leaves a sent post different from what the platform shows (a new text
        version, a delete request), a sync is owed, in the same step. The first three are
        positional-only so that ``note`` (a field of :class:`Post`) can be set through ``fields``.
        """
        if "status" in fields:
            raise ValueError("status: change it with transition()")
        args: list[str] = [post_id, repr(now), entry(now, "", note)]
        for name, value in fields.items():
            args += [name, text_value(value)]
        k = self.keys
        result = self._update(
            keys=[
                k.post(post_id),
                k.post_history(post_id),
                k.post_counts,
                k.owed("sync"),
                k.owed_generations("sync"),
            ],
            args=args,
        )
        return text_of(result) == "ok"

    def transition(
        self,
        post_id: str,
        expected: PostStatus | Iterable[PostStatus] | None,
        new: PostStatus,
        now: float,
        note: str,
        *,
        due_at: float | None = None,
        **fields: object,
    ) -> bool:
        """Move a post from ``expected`` (one status, several, or ``None`` for any) to ``new``
        atomically; False if it was elsewhere.

        ``due_at`` puts it (back) in the due set. Leaving ``sending`` ends the lease; leaving
        ``planned`` takes it out of the due set; a move to ``sent`` that leaves the platform
        behind the wanted state records the sync it owes.
        """
        return self.move(post_id, expected, new, now, note, due_at=due_at, fields=fields) in MOVED

    def move(
        self,
        post_id: str,
        expected: PostStatus | Iterable[PostStatus] | None,
        new: PostStatus,
        now: float,
        note: str,
        *,
        due_at: float | None = None,
        on_channel: str | None = None,
        rate: Rate | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> str:
        """:meth:`transition`, saying what the script did: ``ok``, ``ok:sync`` (a sent post
        now owes a sync) or the status that refused the move.

        ``on_channel`` (the post's channel, when the caller knows it) saves a read; ``rate``
        records the rate-limit headers a send saw, in the same step as its outcome.
        """
        call = self._move_call(
            post_id, expected, new, now, note, due_at, on_channel, rate, fields or {}
        )
        return text_of(run_scripts(self.r, call)[0])

    def move_then_claim(
        self,
        post_id: str,
        expected: PostStatus | Iterable[PostStatus] | None,
        new: PostStatus,
        now: float,
        note: str,
        *,
        claim: Claim,
        on_channel: str | None = None,
        rate: Rate | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> tuple[str, tuple[str, Post | None]]:
        """:meth:`move` one post and :meth:`take` the next, in one round trip (each script
        still atomic on its own, the move first): how a sender working through a batch
        records one outcome and claims the next post."""
        moved, taken = run_scripts(
            self.r,
            self._move_call(
                post_id, expected, new, now, note, None, on_channel, rate, fields or {}
            ),
            self._take_call(claim),
        )
        return text_of(moved), self._taken(taken)

    def _move_call(
        self,
        post_id: str,
        expected: PostStatus | Iterable[PostStatus] | None,
        new: PostStatus,
        now: float,
        note: str,
        due_at: float | None,
        on_channel: str | None,
        rate: Rate | None,
        fields: Mapping[str, object],
    ) -> Call:
        if expected is None:
            wanted = "*"
        elif isinstance(expected, PostStatus):
            wanted = expected.value
        else:
            wanted = ",".join(s.value for s in expected)
        limit, remaining, reset_at = rate or (None, None, None)
        args: list[str] = [
            post_id,
            wanted,
            new.value,
            repr(now),
            entry(now, new.value, note),
            "" if due_at is None else repr(due_at),
            *("" if v is None else str(v) for v in (limit, remaining, reset_at)),
        ]
        for name, value in fields.items():
            args += [name, text_value(value)]
        post = self.keys.post(post_id)
        channel = on_channel or text_of(self.r.hget(post, "channel"))
        k = self.keys
        keys = [
            post,
            k.post_history(post_id),
            k.post_counts,
            k.due,
            k.leases,
            k.channel_planned(channel),
            k.owed("sync"),
            k.owed_generations("sync"),
            k.channel_freed(channel),
            k.channel_taken_meta(channel),
            k.channel_rate(channel),
        ]
        return self._transition, keys, args

    def take(self, post_id: str, owner: str, now: float, lease: float) -> tuple[str, Post | None]:
        """Move a planned post to ``sending`` and read it, in one step: ``("claimed", post)``,
        or the status it was in and ``None``."""
        return self.claim_post(Claim(post_id, owner, now, lease))

    def claim_post(self, claim: Claim) -> tuple[str, Post | None]:
        """:meth:`take`, with everything a claim may say (such as the latest due time)."""
        return self._taken(run_scripts(self.r, self._take_call(claim))[0])

    def _take_call(self, claim: Claim) -> Call:
        k, pid, now = self.keys, claim.post_id, claim.now
        keys = [k.post(pid), k.post_history(pid), k.post_counts, k.due, k.leases]
        args = [
            pid,
            claim.owner,
            repr(now),
            repr(now + claim.lease),
            entry(now, "sending", f"claimed by {claim.owner}"),
            "" if claim.due_by is None else repr(claim.due_by),
        ]
        return self._claim, keys, args

    @staticmethod
    def _taken(reply: Any) -> tuple[str, Post | None]:
        status = text_of(reply[0])
        if status != "claimed":
            return status, None
        flat = reply[1]
        return status, Post.from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))

    def claim(self, post_id: str, owner: str, now: float, lease: float) -> str:
        """Move a planned post to ``sending``; returns ``claimed`` or the status it was in."""
        return self.take(post_id, owner, now, lease)[0]

    def schedule(
        self, post_id: str, due_at: float, now: float, note: str, /, **fields: object
    ) -> bool:
        """Put a planned post (back) in the due set at ``due_at``."""
        return self.transition(
            post_id, PostStatus.PLANNED, PostStatus.PLANNED, now, note, due_at=due_at, **fields
        )

    def cancel(self, post_id: str, now: float, note: str) -> bool:
        """Cancel a post that was not sent yet."""
        return self.transition(post_id, OPEN, PostStatus.CANCELLED, now, note)

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
        return self.defer_many([post_id], until) == 1

    def defer_many(self, post_ids: Sequence[str], until: float) -> int:
        """Move the posts still in the due set to ``until``, in one command."""
        return self.defer_each(dict.fromkeys(post_ids, until))

    def defer_each(self, until: Mapping[str, float]) -> int:
        """Move each post still in the due set to its own time, in one command."""
        if not until:
            return 0
        # XX: a post claimed meanwhile (out of the due set) is not put back. CH: count them.
        return int(self.r.zadd(self.keys.due, dict(until), xx=True, ch=True) or 0)

    def drop_lease(self, post_id: str) -> None:
        """Forget the lease of a post that is no longer being sent."""
        self.r.zrem(self.keys.leases, post_id)

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

    def rate(self, channel: str) -> tuple[int | None, float | None]:
        """(remaining, reset_at) last seen on a channel."""
        remaining, reset_at = self.r.hmget(self.keys.channel_rate(channel), "remaining", "reset_at")
        return (int(remaining) if remaining else None, float(reset_at) if reset_at else None)

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
