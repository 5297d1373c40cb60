local K = {m=KEYS[1], i=KEYS[2], c=KEYS[3], d=KEYS[4], b=KEYS[5], w=KEYS[6], wz=KEYS[7], l=KEYS[8], r=KEYS[9]}
local function claim(mode, at, tid)
  local owner = redis.call('HGET', K.m, 'owner')
  if owner then
    if mode ~= '*' and owner ~= mode then return false end
  else
    redis.call('HSET', K.m, 'owner', mode == '*' and '' or mode, 'created', at, 'tid', tid)
  end
  redis.call('HSET', K.m, 'updated', at)
  return true
end
local function expire(ttl)
  if tonumber(ttl) > 0 then
    for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
  end
end
local function drop(member)  -- one checkpoint ("ns\0cid") and its writes
  redis.call('HDEL', K.c, member)
  redis.call('HDEL', K.d, member)
  redis.call('ZREM', K.i, member)
  local wlo, whi = '[' .. member .. '\0', '(' .. member .. '\1'
  for _, f in ipairs(redis.call('ZRANGEBYLEX', K.wz, wlo, whi)) do redis.call('HDEL', K.w, f) end
  redis.call('ZREMRANGEBYLEX', K.wz, wlo, whi)
end
