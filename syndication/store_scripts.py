"""The store's Lua scripts: applying an event, and finishing a render.

Kept apart from :mod:`syndication.store` so the repository reads as Python. Each script is
one atomic step on the server; callers pass every key they touch (see ``KEYS``/``ARGV``).
"""

from __future__ import annotations

__all__ = [
    "APPLY",
    "APPLY_CHUNK",
    "APPLY_MANY",
    "DIRTY_MARK_UNIT",
    "FINISH",
    "OWE_LUA",
    "ROUND_ASKED_MS",
]

# Lua: record ``item`` in a stage's work list (``zkey`` sorted set, ``gkey`` generation hash;
# see syndication.worklist) at time ``now``. An item already listed (leased, or waiting for a
# retry) keeps its time; its generation moves on, so its taker knows to do it again.
OWE_LUA = """
local function owe(zkey, gkey, item, now)
  if not redis.call('ZSCORE', zkey, item) then redis.call('ZADD', zkey, now, item) end
  redis.call('HINCRBY', gkey, item, 1)
end
"""

# KEYS: seen, article, meta, article_feeds, all_articles, story, dirty, status, render times,
#       then the sorted set and generation hash of every stage the applied event owes work to.
# ARGV: event_id, kind ("upsert"|"unpublish"), version, published, now, memory_seconds,
#       article_json, article_id, feed_key_prefix, tombstone_key_prefix, story id, lead image
#       digest ('' for none), new feed ids...
# The meta hash keeps the story id and image digest beside the version, so that a feed render
# reads every input it needs in one script (feeds.inputs) without parsing articles first.
# Dirty marks (scores of the dirty-feeds set) count microseconds: a change at ``t`` seconds
# marks its feeds ``int(t * DIRTY_MARK_UNIT)`` (or the feed's previous mark + 1, if that is
# not earlier). Marks written in seconds by earlier releases still compare and clear.
DIRTY_MARK_UNIT = 1_000_000

# How long a "round asked" flag (Keys.round_asked) stands at most: a round normally claims its
# language within a fraction of a second; one lost on its way holds new asks back this long
# (the periodic sweep renders what stays dirty meanwhile).
ROUND_ASKED_MS = 5000

# Remove a dirty mark only if nothing changed the feed since the render read it.
FINISH = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
if not score then return 1 end
return 0
"""

# The apply step as a Lua function of (keys, args) for one event (see APPLY for both).
_APPLY_FN = (
    OWE_LUA
    + f"local ROUND_ASKED_MS = {ROUND_ASKED_MS}\n"
    + """
-- The dirty marks this script call moves (MARKS[dirty set][feed] = mark), written together
-- by write_marks() when the call ends, whether it ends well or not: nothing reads them between
-- two events of one call, so one ZADD per call replaces a ZSCORE and a ZADD per event and feed.
-- ASKED: the round-asked flags this call has set or found set.
local MARKS, ASKED = {}, {}
local function write_marks()
  for dirty, marks in pairs(MARKS) do
    local args = {}
    for f, m in pairs(marks) do
      args[#args + 1] = m
      args[#args + 1] = f
      if #args >= 1000 then
        redis.call('ZADD', dirty, unpack(args))
        args = {}
      end
    end
    if #args > 0 then redis.call('ZADD', dirty, unpack(args)) end
  end
  MARKS = {}
end
-- fn() with the marks written after it, also when it raised (then the error goes on).
local function marking(fn)
  local ok, reply = pcall(fn)
  write_marks()
  if not ok then error(reply, 0) end
  return reply
end
local function apply(K, A)
  local seen, article, meta, afeeds, all, story, dirty, status =
    K[1], K[2], K[3], K[4], K[5], K[6], K[7], K[8]
  local event_id, kind, version, published, now, memory =
    A[1], A[2], tonumber(A[3]), A[4], A[5], A[6]
  local article_json, article_id, feed_prefix, tomb_prefix = A[7], A[8], A[9], A[10]
  if not redis.call('SET', seen, now, 'NX', 'EX', memory) then return {'duplicate'} end
  local function record(state)
    redis.call('HSET', status, 'state', state, 'article', article_id, 'at', now)
    redis.call('EXPIRE', status, memory)
  end
  local current = redis.call('HMGET', meta, 'version', 'state')
  local old_version = tonumber(current[1] or '-1e18')
  if version < old_version then record('stale') return {'stale'} end
  -- A new article is in no feed and has no tombstones. A known one may have a tombstone in a
  -- feed it (re)joins, or anywhere when it was unpublished; not in a feed it stays in.
  local old, was_in = {}, {}
  if current[1] then old = redis.call('SMEMBERS', afeeds) end
  for _, f in ipairs(old) do was_in[f] = true end
  local tombs_left = current[1] and current[2] == 'unpublished'
  -- Every affected feed, as '1:<last render>:<feed>' when this event made it dirty (a render
  -- must be queued, not before the feed's render interval from its last render) or '0::<feed>'
  -- when a render is already pending for it.
  local dirtied = {'applied'}
  -- A dirty mark is the time of the feed's latest change in whole microseconds (see
  -- DIRTY_MARK_UNIT), moved strictly on by every change, so that a render in progress can
  -- tell it missed one. Whole numbers keep the small dirty set cheap to update: Redis keeps
  -- a fraction as text in a small sorted set and parses it again at every comparison.
  local mark = string.format('%d', math.floor(tonumber(now) * 1000000))
  -- A feed made dirty needs a render round of its language: the first event to find none
  -- asked answers '!<language>' (its caller asks the round); while the flag stands, the
  -- round already asked will read this change (its claim deletes the flag before it reads
  -- the dirty feeds). The flag expires, so a round lost on its way holds nobody back long.
  local function ask(f)
    local language = string.match(f, '^[^/]+') or f
    local flag = K[9] .. ':asked:' .. language
    if ASKED[flag] == nil then
      ASKED[flag] = true
      if redis.call('SET', flag, '1', 'NX', 'PX', ROUND_ASKED_MS) then
        table.insert(dirtied, '!' .. language)
      end
    end
  end
  local marks = MARKS[dirty]
  if not marks then
    marks = {}
    MARKS[dirty] = marks
  end
  local function touch(f)
    local held = marks[f]
    if held then  -- marked earlier in this call: its render is owed already
      if tonumber(mark) > tonumber(held) then marks[f] = mark end
      table.insert(dirtied, '0::' .. f)
      return
    end
    local old = redis.call('ZSCORE', dirty, f)
    if not old then
      marks[f] = mark
      table.insert(dirtied, '1:' .. (redis.call('HGET', K[9], f) or '0') .. ':' .. f)
      ask(f)
    else
      local moved = mark
      if tonumber(old) >= tonumber(mark) then moved = string.format('%d', old + 1) end
      marks[f] = moved
      table.insert(dirtied, '0::' .. f)
    end
  end
  if kind == 'unpublish' then
    for _, f in ipairs(old) do
      redis.call('ZREM', feed_prefix .. f, article_id)
      redis.call('ZADD', tomb_prefix .. f, now, article_id)
      touch(f)
    end
    redis.call('DEL', afeeds)
    redis.call('ZREM', all, article_id)
    redis.call('HSET', meta, 'version', A[3], 'state', 'unpublished', 'event', event_id,
               'at', now)
  else
    local new = {}
    for i = 13, #A do
      local f = A[i]
      new[f] = true
      redis.call('ZADD', feed_prefix .. f, published, article_id)
      if current[1] and (tombs_left or not was_in[f]) then
        redis.call('ZREM', tomb_prefix .. f, article_id)
      end
      touch(f)
    end
    for _, f in ipairs(old) do
      if not new[f] then redis.call('ZREM', feed_prefix .. f, article_id) touch(f) end
    end
    if #old > 0 then redis.call('DEL', afeeds) end
    if #A >= 13 then redis.call('SADD', afeeds, unpack(A, 13)) end
    redis.call('SET', article, article_json)
    redis.call('ZADD', all, published, article_id)
    if story ~= '' then redis.call('SADD', story, article_id) end
    redis.call('HSET', meta, 'version', A[3], 'state', 'live', 'event', event_id, 'at', now,
               'published', published, 'story', A[11], 'image', A[12])
  end
  redis.call('HINCRBY', meta, 'applied', 1)
  record('applied')
  -- The work this change owes later stages, recorded in the same step (see worklist.py).
  for i = 10, #K, 2 do owe(K[i], K[i + 1], article_id, now) end
  return dirtied
end
"""
)

APPLY = _APPLY_FN + "return marking(function() return apply(KEYS, ARGV) end)\n"

# Events applied by one APPLY_MANY call in a batch: long enough to save the client's work per
# event, short enough that Redis, which runs a script without interleaving, answers other
# clients within a few milliseconds.
APPLY_CHUNK = 100

# Many events in one call: ARGV = for each event, its key count, its arg count, its keys, its
# args. Each event is applied exactly as alone, one after another; the reply is each one's.
# One call instead of one per event saves most of the client's work per event (a pipeline
# of scripts packs and parses every command apart).
APPLY_MANY = (
    _APPLY_FN
    + """
return marking(function()
  local replies, i = {}, 1
  while i <= #ARGV do
    local nk, na = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
    local keys = {unpack(ARGV, i + 2, i + 1 + nk)}
    local args = {unpack(ARGV, i + 2 + nk, i + 1 + nk + na)}
    replies[#replies + 1] = apply(keys, args)
    i = i + 2 + nk + na
  end
  return replies
end)
"""
)
