-- brace: a bulkhead's permits across the fleet (see brace/store/_redis_bulkhead.py).
--
-- KEYS[1]  zset: permits held, lease id -> expiry (microseconds of Redis TIME)
-- KEYS[2]  zset: the queue, waiter id -> arrival
-- KEYS[3]  zset: the queue's deadlines, waiter id -> when it stops waiting
-- ARGV[1]  JSON: op ("acquire", "release", "cancel", "renew"), id, ids, max, max_queue,
--          lease_us, wait_us, wake (the prefix of a waiter's wake-up list), ttl (ms)
-- A permit freed while callers wait goes to the oldest waiter at once: its lease is
-- added for it and its wake-up list gets an element, which its BLPOP takes.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local a = cjson.decode(ARGV[1])
local lkey, qkey, ekey = KEYS[1], KEYS[2], KEYS[3]

local function hand_out()
  redis.call('ZREMRANGEBYSCORE', lkey, '-inf', now)  -- holders that died, or stopped renewing
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', ekey, '-inf', now)) do
    redis.call('ZREM', qkey, id)
    redis.call('ZREM', ekey, id)
  end
  while redis.call('ZCARD', lkey) < a.max do
    local head = redis.call('ZRANGE', qkey, 0, 0)[1]
    if not head then break end
    redis.call('ZREM', qkey, head)
    redis.call('ZREM', ekey, head)
    redis.call('ZADD', lkey, now + a.lease_us, head)
    redis.call('RPUSH', a.wake .. head, '1')
    redis.call('PEXPIRE', a.wake .. head, a.ttl)
  end
end

local status = 0
if a.op == 'acquire' then
  hand_out()
  local held, queued = redis.call('ZCARD', lkey), redis.call('ZCARD', qkey)
  if held < a.max and queued == 0 then
    redis.call('ZADD', lkey, now + a.lease_us, a.id)
    status = 1
  elseif a.wait_us > 0 and queued < a.max_queue then
    redis.call('ZADD', qkey, now, a.id)
    redis.call('ZADD', ekey, now + a.wait_us, a.id)
    status = 2
  end
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, a.ttl) end
  return {status, held, queued}
elseif a.op == 'release' then
  redis.call('ZREM', lkey, a.id)
elseif a.op == 'cancel' then
  -- A waiter gives up. Granted meanwhile? Then the permit moves on to the next waiter.
  redis.call('ZREM', qkey, a.id)
  redis.call('ZREM', ekey, a.id)
  status = redis.call('ZREM', lkey, a.id)
  redis.call('DEL', a.wake .. a.id)
elseif a.op == 'renew' then
  for _, id in ipairs(a.ids) do redis.call('ZADD', lkey, 'XX', now + a.lease_us, id) end
  if #a.ids > 0 then
    for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, a.ttl) end
  end
end
hand_out()
return {status, redis.call('ZCARD', lkey), redis.call('ZCARD', qkey)}
