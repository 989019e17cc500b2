"""Everything a render round reads, in one script call.

A render needs each feed's newest ``max_items`` articles, each one's stored version and
state, the translations of their stories (ids, versions and states), the size of each lead
image already fetched, and each feed's recent tombstones. Asked one by one that is a couple
of hundred commands per feed; here one Lua script reads them for every feed of a round on
the server, each article and story once however many of the round's feeds list it (a
language's ``all`` feed and its category and author feeds share most of their articles),
and answers in one reply. Article bodies are not part of it: a process parses each revision
once (:meth:`Store.articles_at`), so a round reads only the bodies of revisions it has not
seen.

Every read is bounded by ``max_items`` per feed and the stories of those articles, never by
the number of stored articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syndication.store import Store

__all__ = ["FeedInputs", "FeedReader", "Listed"]

# KEYS: each feed's index and tombstones, in pairs; then the dirty feeds' sorted set.
# ARGV[6...]: the feed ids (for their dirty marks).
# ARGV: limit, tombstones since (older ones are trimmed), then the key prefixes of article
#       metas, stories and fetched images.
# Reply: texts of tab-separated lines (ids never hold tabs, spaces or newlines; one text
# parses far faster than thousands of reply elements):
#   feeds       per feed, its newest ids
#   tombstones  per feed, 'id removed-at' pairs
#   listed      per article listed in any feed (so live): id, version, story, image size
#               (-1: a meta of an older release that records no story or image; the reader
#               looks them up itself)
#   others      per other article (translations, tombstones): id, version, state
#   stories     per story: story, members...
#   marks       per feed, its dirty mark ('' when clean), read in the same atomic step, so a
#               change applied after it is known to be missing from this render
_INPUTS = r"""
local limit, since = tonumber(ARGV[1]), ARGV[2]
local meta_p, story_p, media_p = ARGV[3], ARGV[4], ARGV[5]
local feeds, tombstones, listed, others, stories = {}, {}, {}, {}, {}
local seen, order, tombed, marks = {}, {}, {}, {}
for i = 1, #KEYS - 1, 2 do
  marks[#marks + 1] = redis.call('ZSCORE', KEYS[#KEYS], ARGV[5 + (i + 1) / 2]) or ''
  local ids = redis.call('ZREVRANGE', KEYS[i], 0, limit - 1)
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', '(' .. since)
  local tombs = redis.call('ZREVRANGE', KEYS[i + 1], 0, -1, 'WITHSCORES')
  feeds[#feeds + 1] = table.concat(ids, '\t')
  local pairs_ = {}
  for j = 1, #tombs, 2 do
    pairs_[#pairs_ + 1] = tombs[j] .. ' ' .. tombs[j + 1]
    tombed[#tombed + 1] = tombs[j]
  end
  tombstones[#tombstones + 1] = table.concat(pairs_, '\t')
  for _, id in ipairs(ids) do
    if not seen[id] then seen[id] = true order[#order + 1] = id end
  end
end
local story_seen, story_order = {}, {}
for _, id in ipairs(order) do
  local m = redis.call('HMGET', meta_p .. id, 'version', 'story', 'image')
  local size = -1
  if m[3] then
    size = 0
    if m[3] ~= '' then size = redis.call('HSTRLEN', media_p .. m[3], 'data') end
  end
  local story = m[2] or ''
  listed[#listed + 1] = table.concat({id, m[1] or '', story, size}, '\t')
  if story ~= '' and not story_seen[story] then
    story_seen[story] = true
    story_order[#story_order + 1] = story
  end
end
local function other(id)
  if seen[id] then return end
  seen[id] = true
  local o = redis.call('HMGET', meta_p .. id, 'version', 'state')
  others[#others + 1] = table.concat({id, o[1] or '', o[2] or ''}, '\t')
end
for _, story in ipairs(story_order) do
  local members = redis.call('SMEMBERS', story_p .. story)
  stories[#stories + 1] = story .. '\t' .. table.concat(members, '\t')
  for _, mid in ipairs(members) do other(mid) end
end
for _, id in ipairs(tombed) do other(id) end
return {table.concat(feeds, '\n'), table.concat(tombstones, '\n'), table.concat(listed, '\n'),
        table.concat(others, '\n'), table.concat(stories, '\n'), table.concat(marks, '\n')}
"""


@dataclass(frozen=True)
class Listed:
    """One of a feed's newest articles as its meta describes it."""

    article_id: str
    version: str
    # '' when the meta predates the story field (the reader finds it from the article).
    story: str
    # Bytes of the fetched lead image: 0 when none was fetched, None when not recorded.
    image_size: int | None


@dataclass(frozen=True)
class FeedInputs:
    """What one render of a feed reads (the dictionaries are shared by a round's feeds)."""

    listed: tuple[Listed, ...]
    # Story id -> the ids of its stored translations (the original included).
    stories: dict[str, tuple[str, ...]]
    # Article id -> (version, live) of the translations and tombstones not listed.
    others: dict[str, tuple[str, bool]]
    # (article id, removed at, version) of the feed's tombstones, newest first.
    tombstones: tuple[tuple[str, float, str], ...]
    # The feed's dirty mark when it was read (None: it was clean).
    dirty_mark: float | None = None


def _lines(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.split("\n")] if text else []


class FeedReader:
    """Reads render inputs from one store (the script is registered once)."""

    def __init__(self, store: Store) -> None:
        self.keys = store.keys
        self._script = store.r.register_script(_INPUTS)

    def read(
        self, feed_ids: Sequence[str], limit: int, tombstones_since: float
    ) -> list[FeedInputs]:
        """Each feed's newest ``limit`` articles and what rendering them needs, in one
        script call; tombstones older than ``tombstones_since`` are trimmed on the way."""
        if not feed_ids:
            return []
        keys = self.keys
        reply = self._script(
            keys=[
                *(k for f in feed_ids for k in (keys.feed_index(f), keys.feed_tombstones(f))),
                keys.dirty_feeds,
            ],
            args=[
                limit,
                repr(tombstones_since),
                keys.article_meta(""),
                keys.translations(""),
                keys.media(""),
                *feed_ids,
            ],
        )
        feeds_text, tombs_text, listed_text, others_text, stories_text, marks_text = (
            text.decode() for text in reply
        )
        metas = {
            aid: Listed(aid, version, story, None if size == "-1" else int(size))
            for aid, version, story, size in _lines(listed_text)
        }
        others = {aid: (version, state == "live") for aid, version, state in _lines(others_text)}
        stories = {story: tuple(ids) for story, *ids in _lines(stories_text)}
        versions = {aid: meta.version for aid, meta in metas.items()}
        versions.update((aid, version) for aid, (version, _) in others.items())
        # split("\n") of the joined per-feed texts: one entry per feed, empty ones included.
        out = []
        for ids, tombs, mark in zip(
            feeds_text.split("\n"), tombs_text.split("\n"), marks_text.split("\n"), strict=True
        ):
            listed = tuple(metas[aid] for aid in ids.split("\t")) if ids else ()
            pairs = [pair.split(" ") for pair in tombs.split("\t")] if tombs else []
            tombstones = tuple((aid, float(at), versions[aid]) for aid, at in pairs)
            dirty_mark = float(mark) if mark else None
            out.append(FeedInputs(listed, stories, others, tombstones, dirty_mark))
        return out
