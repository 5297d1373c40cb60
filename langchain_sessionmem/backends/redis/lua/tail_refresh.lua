-- KEYS: log, ids, meta, state, index. ARGV[1..3]: now_ms, ttl_ms, k (negative = all).
-- The tail of a session that also slides its expiry (refresh_on_read). Returns {length, items}.
--#include session_refresh
local n = redis.call('LLEN', KEYS[1])
local k = tonumber(ARGV[3])
local start = 0
if k >= 0 then start = math.max(n - k, 0) end
if k == 0 then return {n, {}} end
return {n, redis.call('LRANGE', KEYS[1], start, -1)}
