-- ARGV[4..]: pairs of (message id, bytes). Returns {appended, length}. The ids hash maps each
-- message id to its seq, and "\0<seq>" back to the id (so pop forgets exactly the popped ids;
-- message ids never hold control characters).
local n = redis.call('LLEN', KEYS[1])
local added = 0
for i = 4, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], n + 1) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    n = n + 1
    redis.call('HSET', KEYS[2], '\0' .. n, ARGV[i])
    added = added + 1
  end
end
--#include session_touch
--#include release_arguments
return {added, n}
