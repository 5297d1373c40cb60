-- The append with the recall index in the same atomic write (the append.lua loop, then the
-- postings). KEYS: log, ids, meta, state, index, rx:sess, rx:terms, rx:ts:<session>, rx:min,
-- then one postings key per distinct term. ARGV[1..3]: touch args; ARGV[4]: m; then m pairs
-- (message id, bytes); then per message its document (see recall_write). Returns
-- {added, length, length before, number, watermark before}: when not every message was new,
-- or the session is not indexed up to its end (a pop, a backfill pending), nothing is indexed.
local n0 = redis.call('LLEN', KEYS[1])
local m = tonumber(ARGV[4])
local n, added = n0, 0
for i = 5, 4 + 2 * m, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], n + 1) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    n = n + 1
    redis.call('HSET', KEYS[2], '\0' .. n, ARGV[i])
    added = added + 1
  end
end
--#include session_touch
local meta, sess = 3, 6
--#include recall_number
local indexed = tonumber(redis.call('HGET', KEYS[3], 'rxi') or '0')
if added ~= m or indexed ~= n0 then return {added, n, n0, no, indexed} end
local first, pos = n0 + 1, 5 + 2 * m
local meta_at, terms_at, ts_at, min_at, p_at = 3, 7, 8, 9, 9
--#include recall_write
--#include release_arguments
return {added, n, n0, no, n0}
