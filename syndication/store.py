"""Every Redis command of the core: articles, feed indexes, events, dead letters.

Writes that must be atomic (apply an event: dedupe by id, "newer version wins", move the
article between feed indexes, mark feeds dirty) run as one Lua script, so they compose with
pipelining: the batched inbox path sends hundreds of applies in one round trip.
Keys come from :class:`~syndication.keys.Keys` only.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from syndication.applying import ApplyResult, ApplyStream, apply_result
from syndication.article_cache import ArticleCache
from syndication.connection import ScriptStream, run_script
from syndication.deadletters import (
    DEAD_LETTER_RAW_BYTES,
    ERROR_CHARS,
    ERRORS_KEPT,
    SOURCE_CHARS,
    DeadLetter,
    dead_letter_from_hash,
)
from syndication.decoding import printable, raw_text
from syndication.errors import FieldError, StoreError
from syndication.events import Article, ArticleUnpublished, ParsedEvent, is_event_id
from syndication.keys import Keys
from syndication.replies import decode_map, members, pairs, scores, text_of
from syndication.store_scripts import APPLY, APPLY_CHUNK, APPLY_MANY, DIRTY_MARK_UNIT, FINISH

__all__ = [
    "ApplyResult",
    "ArticleState",
    "DeadLetter",
    "Store",
    "decode_map",
    "members",
    "pairs",
    "scores",
    "text_of",
]


@dataclass(frozen=True)
class ArticleState:
    """What the store knows of an article besides its JSON."""

    article_id: str
    state: str
    version: float
    last_event: str
    feeds: frozenset[str] = field(default_factory=frozenset)
    # How many events were applied to this article (each event id counts once).
    applied: int = 0
    # When the last applied event changed it.
    changed_at: float = 0.0


class Store:
    """The project's Redis state. One per process; cheap to create."""

    def __init__(self, client: redis.Redis, keys: Keys, *, event_memory_seconds: int = 2592000):
        self.r = client
        self.keys = keys
        self._parsed = ArticleCache()
        self.memory = event_memory_seconds
        self._apply = client.register_script(APPLY)
        self._apply_many = client.register_script(APPLY_MANY)
        self._finish = client.register_script(FINISH)

    # --- events ------------------------------------------------------------------------
    def _apply_args(
        self, parsed: ParsedEvent, feed_ids: Iterable[str], now: float, owe: Sequence[str]
    ) -> tuple[list[str], list[str | float]]:
        ev = parsed.event
        k = self.keys
        aid = ev.article.id
        published: float | str
        if isinstance(ev, ArticleUnpublished):
            kind, version, published, body, story, feeds = (
                "unpublish",
                ev.occurred_at.timestamp(),
                "0",
                "",
                "",
                [],
            )
            story_id = image = ""
        else:
            art = ev.article
            kind, version, published = (
                "upsert",
                art.version.timestamp(),
                art.published_at.timestamp(),
            )
            body = art.model_dump_json(exclude_none=True)
            story_id = art.story_id
            story = k.translations(story_id)
            image = k.media_digest(art.image.url) if art.image is not None else ""
            feeds = sorted(set(feed_ids))
        keys = [
            k.event_seen(ev.id),
            k.article(aid),
            k.article_meta(aid),
            k.article_feeds(aid),
            k.articles,
            story,
            k.dirty_feeds,
            k.event_status(ev.id),
            k.render_times,
        ]
        for stage in owe:
            keys += [k.owed(stage), k.owed_generations(stage)]
        args: list[str | float] = [
            ev.id,
            kind,
            repr(version),
            repr(published),
            repr(now),
            self.memory,
            body,
            aid,
            k.feed_index(""),
            k.feed_tombstones(""),
            story_id,
            image,
            *feeds,
        ]
        return keys, args

    def apply_event(
        self,
        parsed: ParsedEvent,
        feed_ids: Iterable[str],
        *,
        now: float | None = None,
        owe: Sequence[str] = (),
    ) -> ApplyResult:
        """Apply one valid event atomically; the same event id twice changes nothing.

        ``feed_ids`` are the feeds the new revision belongs in (ignored for an unpublish).
        An event whose version is older than the stored one is recorded but not applied.
        ``owe`` names the stages (``plan``, ...) an applied change owes work to: the article
        id is recorded in their work lists in the same atomic step.
        """
        stamp = time.time() if now is None else now
        keys, args = self._apply_args(parsed, feed_ids, stamp, owe)
        return apply_result(parsed, run_script(self.r, self._apply, keys, args))

    def apply_stream(self, *, now: float | None = None, owe: Sequence[str] = ()) -> ApplyStream:
        """Chunks of valid events applied in order as the caller sends them (Redis applies
        one while the caller validates the next), answered together; each as alone."""
        stamp = time.time() if now is None else now
        return ApplyStream(
            ScriptStream(self.r, self._apply_many),
            lambda parsed, feeds: self._apply_args(parsed, feeds, stamp, owe),
        )

    def apply_events(
        self,
        batch: Sequence[tuple[ParsedEvent, Iterable[str]]],
        *,
        now: float | None = None,
        owe: Sequence[str] = (),
    ) -> list[ApplyResult]:
        """Apply many events, in order, in one round trip (each exactly as alone)."""
        with self.apply_stream(now=now, owe=owe) as stream:
            for start in range(0, len(batch), APPLY_CHUNK):
                stream.send(batch[start : start + APPLY_CHUNK])
            return stream.results()

    def event_state(self, event_id: str) -> str | None:
        """``applied``, ``stale``, ``rejected`` or ``None`` when the event is not known yet."""
        return text_of(self.r.hget(self.keys.event_status(event_id), "state")) or None

    def event_states(self, event_ids: Sequence[str]) -> list[str | None]:
        """:meth:`event_state` for many ids in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for eid in event_ids:
            pipe.hget(self.keys.event_status(eid), "state")
        return [text_of(v) or None for v in pipe.execute()]

    # --- articles ----------------------------------------------------------------------
    def current_articles(self, article_ids: Sequence[str]) -> list[tuple[Article | None, bool]]:
        """Each article's stored revision and whether it is live, read cheaply: one round trip
        for the versions, and the revisions this process has not parsed yet in a second."""
        if not article_ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for aid in article_ids:
            pipe.hmget(self.keys.article_meta(aid), "version", "state")
        metas = pipe.execute()
        found = self.articles_at(
            [(aid, version) for aid, (version, _) in zip(article_ids, metas, strict=True)]
        )
        return [
            (found.get(aid), text_of(state) == "live")
            for aid, (_, state) in zip(article_ids, metas, strict=True)
        ]

    def articles_at(self, versions: Sequence[tuple[str, bytes | str | None]]) -> dict[str, Article]:
        """The revisions stored at the given (id, version) pairs, by id: those this process
        has parsed before from its cache, the others in one round trip. A pair without a
        version, or whose article is gone, is left out."""
        found: dict[str, Article] = {}
        missing = []
        for aid, stored in versions:
            version = text_of(stored)
            cached = self._parsed.at_version(aid, version) if version else None
            if cached is not None:
                found[aid] = cached
            elif version:
                missing.append((aid, version))
        if missing:
            raws = self.r.mget([self.keys.article(a) for a, _ in missing])
            for (aid, version), raw in zip(missing, raws, strict=True):
                if raw is not None:
                    found[aid] = self._parsed.keep(aid, version, raw)
        return found

    def get_article(self, article_id: str) -> Article | None:
        """The stored revision of an article (live or unpublished), or ``None``."""
        raw = self.r.get(self.keys.article(article_id))
        return None if raw is None else self._parsed.parse(raw)

    def get_articles(self, article_ids: Sequence[str]) -> list[Article | None]:
        """Many articles in one round trip, in the order asked."""
        if not article_ids:
            return []
        raws = self.r.mget([self.keys.article(a) for a in article_ids])
        return [None if raw is None else self._parsed.parse(raw) for raw in raws]

    def article_state(self, article_id: str) -> ArticleState | None:
        """Version, state and feed memberships of an article, or ``None`` if never seen."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self.keys.article_meta(article_id))
        pipe.smembers(self.keys.article_feeds(article_id))
        meta, feeds = pipe.execute()
        if not meta:
            return None
        return ArticleState(
            article_id,
            text_of(meta.get(b"state")),
            float(meta.get(b"version", 0)),
            text_of(meta.get(b"event")),
            frozenset(text_of(f) for f in feeds),
            int(meta.get(b"applied", 0)),
            float(meta.get(b"at", 0)),
        )

    def translations(self, story_id: str) -> list[str]:
        """Ids of every stored translation of a story (the original included)."""
        return sorted(text_of(m) for m in self.r.smembers(self.keys.translations(story_id)))

    def feed_article_ids(self, feed_id: str, limit: int) -> list[str]:
        """The newest ``limit`` article ids of a feed, newest first (reads only those)."""
        return members(self.r.zrevrange(self.keys.feed_index(feed_id), 0, limit - 1))

    def listed_in(self, article_id: str, feed_ids: Sequence[str]) -> dict[str, bool]:
        """Whether each feed's index lists the article now."""
        pipe = self.r.pipeline(transaction=False)
        for feed_id in feed_ids:
            pipe.zscore(self.keys.feed_index(feed_id), article_id)
        return {f: s is not None for f, s in zip(feed_ids, pipe.execute(), strict=True)}

    def feed_size(self, feed_id: str) -> int:
        """How many live articles a feed holds."""
        return int(self.r.zcard(self.keys.feed_index(feed_id)))

    def feed_tombstones(self, feed_id: str, since: float) -> list[tuple[str, float]]:
        """Articles removed from a feed since ``since``, newest first; older ones are trimmed."""
        key = self.keys.feed_tombstones(feed_id)
        pipe = self.r.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", f"({since}")
        pipe.zrevrange(key, 0, -1, withscores=True)
        return [(text_of(m), float(s)) for m, s in pipe.execute()[1]]

    def count_articles(self) -> int:
        """How many live articles are stored."""
        return int(self.r.zcard(self.keys.articles))

    def list_article_ids(self, *, offset: int = 0, limit: int = 50) -> list[str]:
        """Live article ids, newest first."""
        return members(self.r.zrevrange(self.keys.articles, offset, offset + limit - 1))

    def known_feeds(self) -> list[str]:
        """Every feed id that has an index or tombstones (SCAN, for operators)."""
        prefix = self.keys.feed_index("")
        return sorted(
            {text_of(k)[len(prefix) :] for k in self.r.scan_iter(match=prefix + "*", count=1000)}
        )

    # --- rendering bookkeeping -----------------------------------------------------------
    def dirty_feeds(self, older_than: float | None = None) -> list[str]:
        """Feeds waiting to be rendered (dirty before ``older_than`` when given)."""
        high = "+inf" if older_than is None else int(older_than * DIRTY_MARK_UNIT)
        return members(self.r.zrangebyscore(self.keys.dirty_feeds, "-inf", high))

    def claim_dirty(self, feed_id: str) -> bool:
        """Drop a feed's dirty mark unconditionally (tests and operators)."""
        return bool(self.r.zrem(self.keys.dirty_feeds, feed_id))

    def finish_dirty(self, marks: Mapping[str, float]) -> list[str]:
        """After renders that started at the dirty marks ``marks`` (feed -> mark): clear each
        mark unless its feed changed meanwhile; return the feeds that need another render."""
        pipe = self.r.pipeline(transaction=False)
        for feed_id, seen in marks.items():
            self._finish(keys=[self.keys.dirty_feeds], args=[feed_id, repr(seen)], client=pipe)
        return [f for f, done in zip(marks, pipe.execute(), strict=True) if not done]

    def mark_dirty(self, feed_ids: Iterable[str], *, now: float | None = None) -> list[str]:
        """Mark feeds dirty; return those that were not dirty already."""
        ids = list(feed_ids)
        stamp = time.time() if now is None else now
        pipe = self.r.pipeline(transaction=False)
        for f in ids:
            pipe.zadd(self.keys.dirty_feeds, {f: int(stamp * DIRTY_MARK_UNIT)}, nx=True)
        return [f for f, added in zip(ids, pipe.execute(), strict=True) if added]

    # --- dead letters --------------------------------------------------------------------
    def add_dead_letter(
        self,
        raw: object,
        errors: Sequence[FieldError | str],
        *,
        source: str,
        event_id: str | None = None,
        now: float | None = None,
        raw_limit: int = DEAD_LETTER_RAW_BYTES,
    ) -> str:
        """Keep a rejected payload with its errors, source and time; return its id.

        Any payload can be kept: ``raw`` (text, bytes or a decoded value) is stored as UTF-8
        text, escaped where it was not valid and cut at ``raw_limit`` bytes, with a note
        saying so. ``event_id`` marks the event as rejected only when it follows the id
        rule: a claimed id is never put in a key unchecked.
        """
        stamp = time.time() if now is None else now
        dl_id = f"dl-{int(stamp * 1000):013d}-{uuid.uuid4().hex[:8]}"
        kept = raw_text(raw, raw_limit)
        messages = [printable(str(e))[:ERROR_CHARS] for e in errors[:ERRORS_KEPT]]
        mapping: dict[str, str | float] = {
            "raw": kept.text,
            "errors": json.dumps(messages, ensure_ascii=False),
            "source": printable(source)[:SOURCE_CHARS],
            "at": stamp,
            "replays": 0,
        }
        if kept.note:
            mapping["note"] = kept.note
        event_id = event_id if is_event_id(event_id) else None
        if event_id:
            mapping["event_id"] = event_id
        pipe = self.r.pipeline()
        pipe.hset(self.keys.dead_letter(dl_id), mapping=mapping)  # type: ignore[arg-type]
        pipe.zadd(self.keys.dead_letters, {dl_id: stamp})
        if event_id:
            pipe.hset(
                self.keys.event_status(event_id),
                mapping={"state": "rejected", "at": stamp, "dead_letter": dl_id},
            )
            pipe.expire(self.keys.event_status(event_id), self.memory)
        pipe.execute()
        return dl_id

    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, oldest first."""
        ids = members(self.r.zrange(self.keys.dead_letters, offset, offset + limit - 1))
        pipe = self.r.pipeline(transaction=False)
        for dl_id in ids:
            pipe.hgetall(self.keys.dead_letter(dl_id))
        return [dead_letter_from_hash(i, h) for i, h in zip(ids, pipe.execute(), strict=True) if h]

    def count_dead_letters(self) -> int:
        """How many dead letters are kept."""
        return int(self.r.zcard(self.keys.dead_letters))

    def dead_letter(self, dl_id: str) -> DeadLetter:
        """One dead letter; :class:`StoreError` if there is no such id."""
        data = self.r.hgetall(self.keys.dead_letter(dl_id))
        if not data:
            raise StoreError(f"no dead letter {dl_id!r}")
        return dead_letter_from_hash(dl_id, data)

    def drop_dead_letter(self, dl_id: str) -> bool:
        """Delete a dead letter; False if there was none."""
        pipe = self.r.pipeline()
        pipe.delete(self.keys.dead_letter(dl_id))
        pipe.zrem(self.keys.dead_letters, dl_id)
        return bool(pipe.execute()[0])

    def count_replay(self, dl_id: str) -> None:
        """Note that a dead letter was sent again."""
        self.r.hincrby(self.keys.dead_letter(dl_id), "replays", 1)

    # --- inbox stream ------------------------------------------------------------------------
    def inbox_add(self, event_json: str) -> str:
        """Append an event to the inbox stream (what any CMS does with one XADD)."""
        return text_of(self.r.xadd(self.keys.inbox, {"event": event_json}))

    def ensure_inbox_group(self) -> None:
        """Create the consumer group (and the stream) once; harmless when both exist."""
        try:
            self.r.xgroup_create(self.keys.inbox, self.keys.inbox_group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def inbox_read(
        self, consumer: str, *, count: int, block_ms: int | None = None, min_idle_ms: int = 60_000
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        """Entries for ``consumer``: first those another consumer left unacked longer than
        ``min_idle_ms`` (it crashed), then new ones. At-least-once: call :meth:`inbox_ack`."""
        group = self.keys.inbox_group
        claimed = self.r.xautoclaim(
            self.keys.inbox, group, consumer, min_idle_ms, "0-0", count=count
        )
        entries: list[Any] = [e for e in claimed[1] if e[1] is not None]
        if len(entries) < count:
            got = self.r.xreadgroup(
                group, consumer, {self.keys.inbox: ">"}, count=count - len(entries), block=block_ms
            )
            # RESP2 replies are a list of [stream, entries] pairs (None when nothing came).
            if got is not None and not isinstance(got, list):
                raise StoreError(f"unexpected XREADGROUP reply {got!r}")
            for _stream, items in got or []:
                entries.extend(items)
        return [(text_of(eid), fields) for eid, fields in entries]

    def inbox_ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge and delete processed inbox entries."""
        if entry_ids:
            pipe = self.r.pipeline()
            pipe.xack(self.keys.inbox, self.keys.inbox_group, *entry_ids)
            pipe.xdel(self.keys.inbox, *entry_ids)
            pipe.execute()

    def inbox_pending(self) -> int:
        """Entries read but not yet acknowledged."""
        try:
            info = self.r.xpending(self.keys.inbox, self.keys.inbox_group)
        except redis.ResponseError:
            return 0
        return int(info["pending"])

    def inbox_length(self) -> int:
        """Entries in the inbox stream (waiting or pending)."""
        return int(self.r.xlen(self.keys.inbox))

    # --- housekeeping ------------------------------------------------------------------------
    def delete_all(self) -> int:
        """Delete every key under this store's prefix (tests and ``syndication reset``)."""
        n = 0
        batch: list[bytes] = []
        for key in self.r.scan_iter(match=self.keys.pattern(), count=1000):
            batch.append(key)
            if len(batch) >= 500:
                n += int(self.r.delete(*batch))
                batch.clear()
        if batch:
            n += int(self.r.delete(*batch))
        return n
