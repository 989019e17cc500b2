"""The ledger's Lua scripts: every write to a post is one of these, so a post's status, the
counts per ``platform|channel|status``, the due set, the lease set, the history and the work
the change owes move together or not at all."""

from __future__ import annotations

from syndication.store_scripts import OWE_LUA

__all__ = ["CLAIM", "CREATE", "HISTORY", "TRANSITION", "UPDATE"]

# History entries kept per post (the oldest are dropped).
HISTORY = 50

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

# KEYS: post, history, counts, delivery, posts, article_posts, channel_planned, due.
# ARGV: post id, created_at, due_at, enqueue ("1"/"0"), history entry, field/value pairs.
CREATE = (
    _COMMON
    + """
local owner = redis.call('GET', KEYS[4])
if owner and owner ~= ARGV[1] then return owner end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
redis.call('SET', KEYS[4], ARGV[1])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
count(false, redis.call('HGET', KEYS[1], 'status'))
remember(ARGV[5])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[3], ARGV[1])
if ARGV[4] == '1' then redis.call('ZADD', KEYS[8], ARGV[3], ARGV[1]) end
return 'created'
"""
)

# KEYS: post, history, counts, due, leases, channel_planned, sync zset, sync generations.
# ARGV: post id, expected statuses (comma-separated, '*' for any), new status, now, history
#       entry, due_at ('' unless the post goes back to the due set), field/value pairs.
TRANSITION = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if ARGV[2] ~= '*' and not string.find(',' .. ARGV[2] .. ',', ',' .. status .. ',', 1, true) then
  return status
end
local new = ARGV[3]
if new ~= status then count(status, new) end
redis.call('HSET', KEYS[1], 'status', new, 'updated_at', ARGV[4])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
remember(ARGV[5])
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
if needs_sync() then owe(KEYS[7], KEYS[8], ARGV[1], ARGV[4]) end
return 'ok'
"""
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

# KEYS: post, history, counts, due, leases. ARGV: post id, owner, now, lease_until, entry.
CLAIM = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'planned' then return status or 'missing' end
if redis.call('HGET', KEYS[1], 'approved') == '0' then return 'awaiting-approval' end
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
return 'claimed'
"""
)
