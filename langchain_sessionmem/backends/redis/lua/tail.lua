-- KEYS[1]: log. ARGV[1]: k (negative = all). Returns {length, items} so items get their seq.
local n = redis.call('LLEN', KEYS[1])
local k = tonumber(ARGV[1])
if k == 0 then return {n, {}} end
local start = 0
if k > 0 then start = math.max(n - k, 0) end
return {n, redis.call('LRANGE', KEYS[1], start, -1)}
