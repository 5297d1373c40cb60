-- ARGV[4..]: pairs of (message id, bytes). Returns {appended, length}.
local n = redis.call('LLEN', KEYS[1])
local added = 0
for i = 4, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], n + 1) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    n = n + 1
    added = added + 1
  end
end
--#include session_touch
return {added, n}
