-- ARGV: mode, run ids*. Deletes the checkpoints (and their writes) of those runs in this thread.
--#include checkpoint_prelude
local owner = redis.call('HGET', K.m, 'owner')
if not owner or (ARGV[1] ~= '*' and owner ~= ARGV[1]) then return 0 end
local n = 0
for k = 2, #ARGV do
  local lo, hi = '[' .. ARGV[k] .. '\0', '(' .. ARGV[k] .. '\1'
  for _, e in ipairs(redis.call('ZRANGEBYLEX', K.r, lo, hi)) do
    drop(string.sub(e, #ARGV[k] + 2))
    n = n + 1
  end
  redis.call('ZREMRANGEBYLEX', K.r, lo, hi)
end
return n
