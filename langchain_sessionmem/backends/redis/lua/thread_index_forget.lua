-- Removes threads from their owner's indexes (one slot: the owner's tag).
-- KEYS: the owner's thread index, then run sets. ARGV: (thread id, score seen or '', nruns,
-- KEYS positions of its run sets*)*. A thread re-registered since its score was seen (a new
-- write re-created it) stays. Returns how many index entries were removed.
local removed, p = 0, 1
while p <= #ARGV do
  local tid, seen, n = ARGV[p], ARGV[p + 1], tonumber(ARGV[p + 2])
  local score = redis.call('ZSCORE', KEYS[1], tid)
  if seen == '' or (score and tonumber(score) == tonumber(seen)) then
    removed = removed + redis.call('ZREM', KEYS[1], tid)
    for k = 1, n do redis.call('SREM', KEYS[tonumber(ARGV[p + 2 + k])], tid) end
  end
  p = p + 3 + n
end
return removed
