-- Drop index records: of session numbers that died (deleted, expired), or past a pop.
-- KEYS: rx:sess, rx:terms, rx:min, rx:v, rx:ve, meta (after a pop; else rx:sess again), then
-- postings keys. ARGV[1]: '1' after a pop (then one pair follows and the session's counters
-- and watermarks follow the records), else '0'; then (number, keep, encoded session id)
-- triples: records of that number with seq > keep go.
local drop, sids = {}, {}
for i = 2, #ARGV, 3 do
  drop[tonumber(ARGV[i])] = tonumber(ARGV[i + 1])
  sids[tonumber(ARGV[i])] = ARGV[i + 2]
end
local top, seen, gone_docs, gone_len = {}, {}, 0, 0
for i = 7, #KEYS do
  local blob = redis.call('GET', KEYS[i])
  if blob then
    local kept, changed = {}, false
    for p = 1, #blob - 15, 16 do
      local seq = struct.unpack('<I4', blob, p)
      local no = struct.unpack('<I4', blob, p + 4)
      local keep = drop[no]
      if keep ~= nil and seq > keep then
        changed = true
        if (top[no] or 0) < seq then top[no] = seq end
        local doc = no * 4294967296 + seq
        if not seen[doc] then
          seen[doc] = true
          gone_docs = gone_docs + 1
          gone_len = gone_len + struct.unpack('<H', blob, p + 10)
        end
      else
        kept[#kept + 1] = string.sub(blob, p, p + 15)
      end
    end
    if changed then
      if #kept > 0 then
        redis.call('SET', KEYS[i], table.concat(kept))
      else
        redis.call('DEL', KEYS[i])
        redis.call('SREM', KEYS[2], KEYS[i])
      end
    end
  end
end
for no, last in pairs(top) do
  for seq = drop[no] + 1, last do
    redis.call('HDEL', KEYS[3], struct.pack('<I4', seq) .. sids[no])
  end
end
local v = redis.call('GET', KEYS[4])
if v then
  local kept, changed, p = {}, false, 1
  while p + 15 <= #v do
    local seq = struct.unpack('<I4', v, p)
    local no = struct.unpack('<I4', v, p + 4)
    local size = struct.unpack('<I4', v, p + 12)
    local keep = drop[no]
    if keep ~= nil and seq > keep then changed = true else kept[#kept + 1] = string.sub(v, p, p + 15 + size) end
    p = p + 16 + size
  end
  if changed then
    redis.call('SET', KEYS[4], table.concat(kept))
    if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('INCR', KEYS[5]) end
  end
end
if ARGV[1] == '1' then
  local no, keep = tonumber(ARGV[2]), tonumber(ARGV[3])
  if tonumber(redis.call('HGET', KEYS[6], 'rx') or '0') == no then
    redis.call('HINCRBY', KEYS[6], 'rxn', -gone_docs)
    redis.call('HINCRBY', KEYS[6], 'rxl', -gone_len)
    for _, mark in ipairs({'rxi', 'rxe'}) do
      if tonumber(redis.call('HGET', KEYS[6], mark) or '0') > keep then redis.call('HSET', KEYS[6], mark, keep) end
    end
  end
else
  for no, _ in pairs(drop) do redis.call('HDEL', KEYS[1], 'n:' .. no) end
end
return gone_docs
