-- ARGV: run ids*. Deletes the checkpoints (and their writes) of those runs in this thread and
-- forgets the runs; returns how many checkpoints went.
--#include checkpoint_prelude
if redis.call('EXISTS', K.m) == 0 then return 0 end
local n = 0
for k = 1, #ARGV do
  local lo, hi = '[' .. ARGV[k] .. '\0', '(' .. ARGV[k] .. '\1'
  for _, e in ipairs(redis.call('ZRANGEBYLEX', K.r, lo, hi)) do
    drop(string.sub(e, #ARGV[k] + 2))
    n = n + 1
  end
  redis.call('ZREMRANGEBYLEX', K.r, lo, hi)
  redis.call('SREM', K.runs, ARGV[k])
end
return n
