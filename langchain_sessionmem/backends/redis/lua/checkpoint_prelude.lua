-- KEYS: the 9 expiring keys of one thread (one hash tag: thread_key(owner, thread_id)), then its
-- run-id set, which does not expire (cleanup finds the runs of an expired thread through it).
local K = {m=KEYS[1], i=KEYS[2], c=KEYS[3], d=KEYS[4], b=KEYS[5], w=KEYS[6], wz=KEYS[7], l=KEYS[8],
  r=KEYS[9], runs=KEYS[10]}
local function claim(at, tid)  -- stamps the thread; 1 when this write created it
  local created = 0
  if redis.call('HSETNX', K.m, 'created', at) == 1 then
    redis.call('HSET', K.m, 'tid', tid)
    created = 1
  end
  redis.call('HSET', K.m, 'updated', at)
  return created
end
local function expire(ttl)
  if tonumber(ttl) > 0 then
    for k = 1, 9 do redis.call('PEXPIRE', KEYS[k], ttl) end
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
