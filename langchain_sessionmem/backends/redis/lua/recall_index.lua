-- Backfill: index messages after `after` if the session is still indexed up to there.
-- KEYS: meta, log, rx:sess, rx:terms, rx:ts:<session>, rx:min, postings keys. ARGV[1]: after,
-- ARGV[2]: m, ARGV[3]: encoded session id, then per message its document (recall_write).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local meta, sess = 1, 3
--#include recall_number
local after, m = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(redis.call('HGET', KEYS[1], 'rxi') or '0') ~= after then return 0 end
if after + m > redis.call('LLEN', KEYS[2]) then return 0 end
if m == 0 then return 1 end
local first, pos = after + 1, 4
local meta_at, terms_at, ts_at, min_at, p_at = 1, 4, 5, 6, 6
--#include recall_write
return 1
