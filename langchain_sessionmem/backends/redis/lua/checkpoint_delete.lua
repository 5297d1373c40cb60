-- ARGV: 'gone' to delete only a thread whose meta key expired, else ''. Deletes every key of the
-- thread; returns {'ok', existed, run ids*}, or {'alive'} when 'gone' finds it live.
--#include checkpoint_prelude
local existed = redis.call('EXISTS', K.m)
if ARGV[1] == 'gone' and existed == 1 then return {'alive'} end
local out, seen = {'ok', existed}, {}
for _, e in ipairs(redis.call('ZRANGE', K.r, 0, -1)) do
  seen[string.sub(e, 1, string.find(e, '\0', 1, true) - 1)] = true
end
for _, run in ipairs(redis.call('SMEMBERS', K.runs)) do seen[run] = true end
for run in pairs(seen) do out[#out + 1] = run end
redis.call('DEL', unpack(KEYS))
return out
