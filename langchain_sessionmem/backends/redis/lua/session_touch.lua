-- Refreshes a session's metadata, its user's index and the sliding TTL of all its keys.
-- KEYS: log, ids, meta, state, index. ARGV[1..3]: now_ms, ttl_ms (0 = none), encoded session id.
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('HSETNX', KEYS[3], 'created', now)
if ttl > 0 then
  redis.call('HSET', KEYS[3], 'updated', now, 'expires', now + ttl)
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
else
  redis.call('HSET', KEYS[3], 'updated', now)
  redis.call('HDEL', KEYS[3], 'expires')
end
redis.call('ZADD', KEYS[5], now, ARGV[3])
