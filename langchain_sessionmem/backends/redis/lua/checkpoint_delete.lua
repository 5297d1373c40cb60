-- ARGV: mode. Deletes every key of the thread; returns its run ids.
--#include checkpoint_prelude
local owner = redis.call('HGET', K.m, 'owner')
if not owner then return {'ok'} end
if ARGV[1] ~= '*' and owner ~= ARGV[1] then return {'owner'} end
local out = {'ok'}
for _, e in ipairs(redis.call('ZRANGE', K.r, 0, -1)) do
  out[#out + 1] = string.sub(e, 1, string.find(e, '\0', 1, true) - 1)
end
redis.call('DEL', unpack(KEYS))
return out
