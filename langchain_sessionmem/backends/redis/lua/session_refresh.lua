-- Slides the expiry of a live session on a read (refresh_on_read), without marking it updated.
-- KEYS: log, ids, meta, state, index. ARGV[1..2]: now_ms, ttl_ms (0 = no refresh).
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
if ttl > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'expires', now + ttl)
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
