-- Store vectors of messages after `after` if the session's vectors still reach there.
-- KEYS: meta, log, rx:v, rx:ve, rx:min. ARGV[1]: after, ARGV[2]: epoch seed, ARGV[3]: encoded
-- session id, then (seq, blob) pairs. A record: seq, number, minute, blob length (4 bytes each),
-- then the blob.
local no = tonumber(redis.call('HGET', KEYS[1], 'rx') or '0')
if no == 0 then return 0 end
local after = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'rxe') or '0') ~= after then return 0 end
local len = redis.call('LLEN', KEYS[2])
local last = after
for i = 4, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq ~= last + 1 or seq > len then return 0 end
  last = seq
end
redis.call('SET', KEYS[4], ARGV[2], 'NX')
for i = 4, #ARGV, 2 do
  local seq, blob = tonumber(ARGV[i]), ARGV[i + 1]
  local minute = tonumber(redis.call('HGET', KEYS[5], struct.pack('<I4', seq) .. ARGV[3]) or '0')
  redis.call('APPEND', KEYS[3], struct.pack('<I4I4I4I4', seq, no, minute, #blob) .. blob)
end
redis.call('HSET', KEYS[1], 'rxe', last)
return 1
