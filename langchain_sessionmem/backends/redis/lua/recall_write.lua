-- Fragment: write the postings of messages seq = first .. first + m - 1 of session number `no`.
-- Needs locals first, m, no, pos (the ARGV index of the first message's document), and KEYS:
-- [meta_at] meta, [terms_at] user's postings keys, [ts_at] session's postings keys,
-- [min_at] times, postings keys after [p_at]. Per message ARGV holds minute, length, k, then k
-- pairs (postings key offset from p_at, tf). Advances the session's counters and watermark.
local docs, total = 0, 0
for j = 0, m - 1 do
  local seq = first + j
  local minute, dl, k = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2])
  pos = pos + 3
  for t = 1, k do
    local slot, tf = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])
    pos = pos + 2
    redis.call('APPEND', KEYS[p_at + slot], struct.pack('<I4I4HHI4', seq, no, tf, dl, minute))
  end
  redis.call('HSET', KEYS[min_at], struct.pack('<I4', seq) .. ARGV[3], minute)
  docs = docs + 1
  total = total + dl
end
for i = p_at + 1, #KEYS do
  redis.call('SADD', KEYS[terms_at], KEYS[i])
  redis.call('SADD', KEYS[ts_at], KEYS[i])
end
redis.call('HINCRBY', KEYS[meta_at], 'rxn', docs)
redis.call('HINCRBY', KEYS[meta_at], 'rxl', total)
redis.call('HSET', KEYS[meta_at], 'rxi', first + m - 1)
