-- ARGV[3]: k (negative = all). Returns {length, items} so items get their seq.
--#include session_refresh
local n = redis.call('LLEN', KEYS[1])
local k = tonumber(ARGV[3])
local start = 0
if k >= 0 then start = math.max(n - k, 0) end
if k == 0 then return {n, {}} end
return {n, redis.call('LRANGE', KEYS[1], start, -1)}
