"""The delivery ledger's Lua scripts: an activity, its deliveries, the due and lease sets,
the counts per status and the chain of each inbox move together or not at all (see
:mod:`syndication.federation.ledger`)."""

from __future__ import annotations

__all__ = ["CLAIM", "FAILED", "RECORD", "SETTLE"]

_COUNT = """
local function count(old, new)
  if old then redis.call('HINCRBY', KEYS[CK], old, -1) end
  redis.call('HINCRBY', KEYS[CK], new, 1)
end
"""

# A settled delivery makes the next one of its chain due at once (it may have been put off
# while this one was in flight); returns 'ok' or 'ok:<next id>' for the caller to nudge.
_NEXT = """
local function release_next(now)
  local nxt = redis.call('HGET', KEYS[1], 'next')
  if nxt and nxt ~= '' then
    local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1])
    if redis.call('HGET', prefix .. nxt, 'status') == 'pending' then
      redis.call('ZADD', KEYS[2], now, nxt)
      return 'ok:' .. nxt
    end
  end
  return 'ok'
end
"""

# KEYS: announced, activity, due, deliveries, counts, chain, article deliveries.
# ARGV: actor, expected seq ('' for an activity that is not an announcement), announcement
#       JSON, activity id, type, article id, body, now, delivery key prefix, activity key,
#       then (delivery id, inbox, host) for every inbox.
RECORD = (
    _COUNT.replace("CK", "5")
    + """
local actor, expected, kind, article, now, prefix = ARGV[1], ARGV[2], ARGV[5], ARGV[6], ARGV[8],
  ARGV[9]
if expected ~= '' then
  local current = redis.call('HGET', KEYS[1], actor)
  local seq = '0'
  if current then seq = tostring(cjson.decode(current)['seq']) end
  if seq ~= expected then return {'conflict', seq} end
  redis.call('HSET', KEYS[1], actor, ARGV[3])
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'id', ARGV[4], 'type', kind, 'actor', actor, 'article', article,
             'body', ARGV[7], 'created_at', now)
end
local function supersede(id, why)
  redis.call('HSET', prefix .. id, 'status', 'superseded', 'note', why, 'updated_at', now)
  redis.call('ZREM', KEYS[3], id)
  count('pending', 'superseded')
end
local created = 0
for i = 11, #ARGV, 3 do
  local did, inbox, host = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('EXISTS', prefix .. did) == 0 then
    local status, note, prev = 'pending', '', ''
    if article ~= '' then prev = redis.call('HGET', KEYS[6], inbox) or '' end
    local p = prev
    -- Walk back over what this inbox has not been sent yet: a Delete makes pending Updates
    -- (and a pending Create, and then itself) pointless; an Update makes older Updates so.
    while p ~= '' and (kind == 'Delete' or kind == 'Update') do
      local f = redis.call('HMGET', prefix .. p, 'status', 'type', 'prev')
      if f[1] ~= 'pending' or (kind == 'Update' and f[2] ~= 'Update') then break end
      supersede(p, 'superseded by a later ' .. kind .. ' before it was sent')
      if f[2] == 'Create' then
        status, note = 'superseded', 'the Create was never sent, so there is nothing to delete'
        break
      end
      p = f[3] or ''
    end
    if prev ~= '' then redis.call('HSET', prefix .. prev, 'next', did) end
    redis.call('HSET', prefix .. did, 'id', did, 'activity', ARGV[10], 'activity_id', ARGV[4],
               'type', kind, 'actor', actor, 'article', article, 'inbox', inbox, 'host', host,
               'status', status, 'attempts', 0, 'created_at', now, 'due_at', now,
               'updated_at', now, 'prev', prev, 'note', note)
    if article ~= '' then
      redis.call('HSET', KEYS[6], inbox, did)
      redis.call('SADD', KEYS[7], did)
    end
    redis.call('ZADD', KEYS[4], now, did)
    count(false, status)
    if status == 'pending' then redis.call('ZADD', KEYS[3], now, did) end
    created = created + 1
  end
end
return {'ok', tostring(created)}
"""
)

# KEYS: delivery, due, leases, counts, server. ARGV: id, owner, now, lease_until, delivery
# key prefix, seconds to wait when the delivery before it is unsettled.
CLAIM = (
    _COUNT.replace("CK", "4")
    + _NEXT
    + """
local f = redis.call('HMGET', KEYS[1], 'status', 'prev')
if not f[1] then return 'missing' end
if f[1] ~= 'pending' then return f[1] end
local now = tonumber(ARGV[3])
if f[2] and f[2] ~= '' then
  local before = redis.call('HGET', ARGV[5] .. f[2], 'status')
  if before == 'pending' or before == 'sending' then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[1])
    return 'waiting'
  end
end
local dead = tonumber(redis.call('HGET', KEYS[5], 'dead_until') or '0')
if dead > now then
  redis.call('HSET', KEYS[1], 'status', 'skipped', 'updated_at', ARGV[3],
             'note', 'server marked dead after repeated failures; skipped')
  redis.call('ZREM', KEYS[2], ARGV[1])
  count('pending', 'skipped')
  release_next(ARGV[3])
  return 'skipped'
end
redis.call('HSET', KEYS[1], 'status', 'sending', 'owner', ARGV[2], 'lease_until', ARGV[4],
           'updated_at', ARGV[3])
if (redis.call('HGET', KEYS[1], 'first_attempt_at') or '') == '' then
  redis.call('HSET', KEYS[1], 'first_attempt_at', ARGV[3])
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
count('pending', 'sending')
return 'claimed'
"""
)

# KEYS: delivery, due, leases, counts. ARGV: id, expected statuses (comma-separated), new
# status, now, due_at ('' to leave the due set), owner ('' for anyone), field/value pairs.
SETTLE = (
    _COUNT.replace("CK", "4")
    + _NEXT
    + """
local f = redis.call('HMGET', KEYS[1], 'status', 'owner')
local status = f[1]
if not status then return 'missing' end
if not string.find(',' .. ARGV[2] .. ',', ',' .. status .. ',', 1, true) then return status end
if ARGV[6] ~= '' and f[2] ~= ARGV[6] then return 'not-owner' end
local new = ARGV[3]
if new ~= status then count(status, new) end
redis.call('HSET', KEYS[1], 'status', new, 'updated_at', ARGV[4])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if new ~= 'sending' then redis.call('ZREM', KEYS[3], ARGV[1]) end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'due_at', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if new ~= 'pending' and new ~= 'sending' then return release_next(ARGV[4]) end
return 'ok'
"""
)

# KEYS: server. ARGV: now, failures that make it dead, seconds the streak must last, seconds
# it stays dead, error. Returns the time it is dead until (0: alive).
FAILED = """
local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local now = tonumber(ARGV[1])
local since = tonumber(redis.call('HGET', KEYS[1], 'since') or '')
if not since then since = now redis.call('HSET', KEYS[1], 'since', ARGV[1]) end
redis.call('HSET', KEYS[1], 'last_error', ARGV[5], 'last_failure', ARGV[1])
if n >= tonumber(ARGV[2]) and now - since >= tonumber(ARGV[3]) then
  local until_ = now + tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], 'dead_until', tostring(until_))
  return tostring(until_)
end
return '0'
"""
