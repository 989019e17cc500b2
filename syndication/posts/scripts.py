"""The ledger's Lua scripts: every write to a post is one of these, so a post's status, the
counts per ``platform|channel|status``, the due set, the lease set, the history and the work
the change owes move together or not at all."""

from __future__ import annotations

from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from syndication.store_scripts import OWE_LUA

__all__ = [
    "CLAIM",
    "CREATE",
    "FREED_MAX",
    "HISTORY",
    "LEARN",
    "PREPARE",
    "RELEASE",
    "TRANSITION",
    "UPDATE",
    "WINDOW",
    "Call",
    "run_scripts",
]

# History entries kept per post (the oldest are dropped).
HISTORY = 50
# Freed instants kept per channel until its next plan; past this many its taken stretches are
# dropped whole instead (forgetting is always safe).
FREED_MAX = 1000

# Shared by every script. KEYS[1] post hash, KEYS[2] history list, KEYS[3] counts hash.
_COMMON = (
    OWE_LUA
    + """
local function count(old, new)
  local p = redis.call('HMGET', KEYS[1], 'platform', 'channel')
  local base = (p[1] or '') .. '|' .. (p[2] or '') .. '|'
  if old then redis.call('HINCRBY', KEYS[3], base .. old, -1) end
  redis.call('HINCRBY', KEYS[3], base .. new, 1)
end
local function remember(entry)
  redis.call('RPUSH', KEYS[2], entry)
  redis.call('LTRIM', KEYS[2], -HISTORY, -1)
end
-- A sent post owes a sync when the platform does not show what it should.
local function needs_sync()
  local f = redis.call('HMGET', KEYS[1], 'status', 'delete_requested', 'article_version',
                       'sent_version')
  if f[1] ~= 'sent' then return false end
  return f[2] == '1' or tonumber(f[3] or '0') > tonumber(f[4] or '0')
end
""".replace("HISTORY", str(HISTORY))
)

# The channel lock (KEYS[n]) is released only by the token that took it; 1 when it was.
_RELEASE_LUA = """
local function release(n, token)
  if redis.call('GET', KEYS[n]) ~= token then return 0 end
  redis.call('DEL', KEYS[n])
  return 1
end
"""

# KEYS: post, history, counts, delivery, posts, article_posts, channel_planned, due, and with
#       a lock token: the channel lock.
# ARGV: post id, created_at, due_at, enqueue ("1"/"0"), history entry, the token of the
#       channel lock the planner holds ('' for none), field/value pairs.
# Returns 'created', 'exists' or the post that owns the delivery key; with a lock token,
# {that, 1 if the lock was still held and is now released, else 0}: the lock is released in
# the same step as the post is written, never before it (a script the server lost would run
# again later, after a release sent beside it).
CREATE = (
    _COMMON
    + _RELEASE_LUA
    + """
local function create()
  local owner = redis.call('GET', KEYS[4])
  if owner and owner ~= ARGV[1] then return owner end
  if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
  redis.call('SET', KEYS[4], ARGV[1])
  redis.call('HSET', KEYS[1], unpack(ARGV, 7))
  count(false, redis.call('HGET', KEYS[1], 'status'))
  remember(ARGV[5])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
  redis.call('SADD', KEYS[6], ARGV[1])
  redis.call('ZADD', KEYS[7], ARGV[3], ARGV[1])
  if ARGV[4] == '1' then redis.call('ZADD', KEYS[8], ARGV[3], ARGV[1]) end
  return 'created'
end
local result = create()
if ARGV[6] == '' then return result end
return {result, release(9, ARGV[6])}
"""
)

# KEYS: channel lock. ARGV: the token that took it. Returns 1 when it was released.
RELEASE = (
    _RELEASE_LUA
    + """
return release(1, ARGV[1])
"""
)

# KEYS: post, history, counts, due, leases, channel_planned, sync zset, sync generations,
#       channel_freed, channel_taken_meta, channel_rate.
# ARGV: post id, expected statuses (comma-separated, '*' for any), new status, now, history
#       entry, due_at ('' unless the post goes back to the due set), the rate-limit headers
#       seen by the send that ends here (limit, remaining, reset_at; '' where unknown),
#       field/value pairs.
# A post moved or cancelled frees its old instant: it is noted for the channel's next plan,
# which forgets the taken stretches around it (see syndication.posts.calendar).
# Returns 'ok', or 'ok:sync' when the move left a sent post owing a sync.
TRANSITION = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if ARGV[2] ~= '*' and not string.find(',' .. ARGV[2] .. ',', ',' .. status .. ',', 1, true) then
  return status
end
local held = redis.call('ZSCORE', KEYS[6], ARGV[1])
local new = ARGV[3]
if new ~= status then count(status, new) end
redis.call('HSET', KEYS[1], 'status', new, 'updated_at', ARGV[4])
for i = 10, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
remember(ARGV[5])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[11], 'limit', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[11], 'remaining', ARGV[8]) end
if ARGV[9] ~= '' then redis.call('HSET', KEYS[11], 'reset_at', ARGV[9]) end
if new ~= 'sending' then redis.call('ZREM', KEYS[5], ARGV[1]) end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'due_at', ARGV[6])
  if redis.call('HGET', KEYS[1], 'approved') ~= '0' then
    redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
  end
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
elseif new ~= 'planned' then
  redis.call('ZREM', KEYS[4], ARGV[1])
end
if new == 'cancelled' then redis.call('ZREM', KEYS[6], ARGV[1]) end
if held and redis.call('ZSCORE', KEYS[6], ARGV[1]) ~= held then
  redis.call('RPUSH', KEYS[9], held)
  redis.call('LTRIM', KEYS[9], 0, FREED_MAX)
  redis.call('HINCRBY', KEYS[10], 'generation', 1)
end
if needs_sync() then
  owe(KEYS[7], KEYS[8], ARGV[1], ARGV[4])
  return 'ok:sync'
end
return 'ok'
""".replace("FREED_MAX", str(FREED_MAX))
)

# KEYS: post, history, counts, sync zset, sync generations.
# ARGV: post id, now, history entry, field/value pairs.
UPDATE = (
    _COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
remember(ARGV[3])
if needs_sync() then owe(KEYS[4], KEYS[5], ARGV[1], ARGV[2]) end
return 'ok'
"""
)

# KEYS: post, history, counts, due, leases.
# ARGV: post id, owner, now, lease_until, entry, the latest due time claimable ('' for any).
# Returns {'claimed', the post's hash as it now is} or {the status that refused the claim};
# 'not-due' when the post was moved later than a message released for it meant.
CLAIM = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'planned' then return {status or 'missing'} end
if redis.call('HGET', KEYS[1], 'approved') == '0' then return {'awaiting-approval'} end
if ARGV[6] ~= '' and tonumber(redis.call('HGET', KEYS[1], 'due_at') or '0') > tonumber(ARGV[6])
then
  return {'not-due'}
end
count(status, 'sending')
redis.call('HSET', KEYS[1], 'status', 'sending', 'owner', ARGV[2], 'lease_until', ARGV[4],
           'updated_at', ARGV[3],
           'sending_version', redis.call('HGET', KEYS[1], 'article_version') or '0')
if tonumber(redis.call('HGET', KEYS[1], 'first_attempt_at') or '0') == 0 then
  redis.call('HSET', KEYS[1], 'first_attempt_at', ARGV[3], 'first_sending_version',
             redis.call('HGET', KEYS[1], 'article_version') or '0')
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
remember(ARGV[5])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
return {'claimed', redis.call('HGETALL', KEYS[1])}
"""
)

# The calendar's scripts (syndication.posts.calendar). A stretch is a member (its start) of the
# taken sorted set scored by its end, Unix seconds; stretches never overlap. Numbers computed
# here are written with 17 significant digits (Lua's default keeps 14, too few for
# microseconds).
_STRETCHES = """
local function fmt(x) return string.format('%.17g', x) end
"""

# KEYS: channel_taken, channel_taken_meta, channel_freed, channel_rate, and with a lock token:
#       the channel lock.
# ARGV: rules fingerprint, radius (seconds), drop stretches that ended before this (seconds),
#       the search's first candidate ('' for none: seconds), the lock token ('' for none), how
#       long the lock is held (milliseconds).
# Before a plan: take the channel lock when asked (or answer {0} at once when another holds
# it; a call sent again after a lost answer finds its own token and goes on); under other
# rules, or after too many freed instants, forget every stretch; else cut each freed
# instant's radius out of them. Returns {1, the generation to learn under, the rate-limit
# headers last seen (remaining, reset_at; false when unknown), and the first taken stretch
# ending after the first candidate (start, end; false when none)}: the search's first
# question, answered in the same step.
PREPARE = (
    _STRETCHES
    + """
if ARGV[5] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[5]
   and not redis.call('SET', KEYS[5], ARGV[5], 'NX', 'PX', ARGV[6]) then
  return {0}
end
local freed = redis.call('LLEN', KEYS[3])
if redis.call('HGET', KEYS[2], 'fingerprint') ~= ARGV[1] or freed > FREED_MAX then
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('HSET', KEYS[2], 'fingerprint', ARGV[1])
  redis.call('HINCRBY', KEYS[2], 'generation', 1)
elseif freed > 0 then
  local radius = tonumber(ARGV[2])
  for _, at in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local lo, hi = tonumber(at) - radius, tonumber(at) + radius
    while true do
      local hit = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(lo), '+inf', 'WITHSCORES',
                             'LIMIT', 0, 1)
      if #hit == 0 or tonumber(hit[1]) >= hi then break end
      redis.call('ZREM', KEYS[1], hit[1])
      if tonumber(hit[1]) < lo then redis.call('ZADD', KEYS[1], fmt(lo), hit[1]) end
      if tonumber(hit[2]) > hi then
        redis.call('ZADD', KEYS[1], hit[2], fmt(hi))
        break
      end
    end
  end
  redis.call('DEL', KEYS[3])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local rate = redis.call('HMGET', KEYS[4], 'remaining', 'reset_at')
local first = {}
if ARGV[4] ~= '' then
  first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[4], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
end
return {1, redis.call('HGET', KEYS[2], 'generation') or '0', rate[1], rate[2], first[1] or false,
        first[2] or false}
""".replace("FREED_MAX", str(FREED_MAX))
)

# KEYS: channel_planned.
# ARGV: lo, t, hi (seconds), lo <= t < hi.
# A quota window's counts around t in one call: the posts in [lo, hi), those of them after t,
# and the earliest one's time (false when none).
WINDOW = """
local high = '(' .. ARGV[3]
local total = redis.call('ZCOUNT', KEYS[1], ARGV[1], high)
if total == 0 then return {0, 0, false} end
local after = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], high)
local first = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], high, 'WITHSCORES', 'LIMIT', 0, 1)
return {total, after, first[2] or false}
"""

# KEYS: channel_taken, channel_taken_meta.
# ARGV: rules fingerprint, generation, then start/end pairs (seconds).
# After a search: merge the stretches it proved taken, unless an instant was freed (or the
# rules changed) since the search began: what it proved may no longer hold.
LEARN = """
if redis.call('HGET', KEYS[2], 'fingerprint') ~= ARGV[1] then return 0 end
if (redis.call('HGET', KEYS[2], 'generation') or '0') ~= ARGV[2] then return 0 end
for i = 3, #ARGV, 2 do
  local a, b = ARGV[i], ARGV[i + 1]
  local an, bn = tonumber(a), tonumber(b)
  while true do
    -- The first stretch ending at or after a overlaps or touches [a, b] if it starts by b.
    local hit = redis.call('ZRANGEBYSCORE', KEYS[1], a, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #hit == 0 or tonumber(hit[1]) > bn then break end
    redis.call('ZREM', KEYS[1], hit[1])
    if tonumber(hit[1]) < an then a, an = hit[1], tonumber(hit[1]) end
    if tonumber(hit[2]) > bn then b, bn = hit[2], tonumber(hit[2]) end
  end
  redis.call('ZADD', KEYS[1], b, a)
end
return 1
"""

# A registered script with its keys and arguments, to run alone or with others.
Call = tuple[Script, list[str], list[str]]


def run_scripts(r: redis.Redis, *calls: Call) -> list[Any]:
    """Run scripts in one round trip, in order, each atomic on its own (EVALSHA; a script the
    server lost since it was registered is loaded and that call run again: it did not run)."""
    if len(calls) == 1:
        script, keys, args = calls[0]
        return [script(keys=keys, args=args)]
    pipe = r.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    replies: list[Any] = pipe.execute(raise_on_error=False)
    for i, ((script, keys, args), reply) in enumerate(zip(calls, replies, strict=True)):
        if isinstance(reply, NoScriptError):
            replies[i] = script(keys=keys, args=args)
        elif isinstance(reply, Exception):
            raise reply
    return replies
